"""Ray Tune: the sweep-file schema, the driver, the trainable, cluster and storage, the trial
environment, the TensorBoard and trial-status callbacks, trial names."""
