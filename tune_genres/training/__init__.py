"""How one model is trained and scored, free of Ray: resident data, losses, metrics and baselines,
the epoch loop and prediction, precision, RNG state, the checkpoint format, and one whole trial."""
