"""TensorBoard for a sweep: one run per trial, and the HParams experiment written once at the root.

Each trial's run holds its curves (train/*, val/*, test/*, best/*, time/*) and its HParams
session (its learning rate, ratio and other swept values). The experiment config (hparam
domains, metric list) is written ONCE, to the experiment folder itself: torch's add_hparams would
instead make an extra run per call, the known pitfall.

Event files go straight into the experiment folder when storage is a local or shared path, so
`tensorboard --logdir EXP_DIR` shows curves while the sweep runs; for remote storage (s3://...)
they go to the driver's staging folder, which Tune syncs up.
"""

from __future__ import annotations

from ray import tune
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from .storage import trial_folder, writes_in_place

# Metrics shown in the HParams table (after best/<select_metric>): the best epoch, the final
# epoch's validation metrics (the table shows each tag's last value), the test metrics of the
# best epoch's weights and the last epoch's test mAP.
TABLE_METRICS = (
    "best/epoch",
    "val/map",
    "val/roc_auc_macro",
    "val/f1_macro",
    "val/categorical_accuracy",
    "val/loss",
    "test/map",
    "test/roc_auc_macro",
    "test/f1_macro",
    "test/categorical_accuracy",
    "test/f1_macro_tuned",
    "last/test_map",
)
# Reported keys that are bookkeeping, not curves.
NOT_CURVES = {"epoch", "training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "pid",
              "time_since_restore", "iterations_since_restore", "done", "best_epoch"}


def tag_for(key: str) -> str:
    """Reported key -> TensorBoard tag: val_map -> val/map, best_val_map -> best/val_map,
    last_test_map -> last/test_map (the last epoch's weights; test/* are the best epoch's)."""
    for prefix in ("best", "last"):
        if key.startswith(prefix + "_"):
            return f"{prefix}/" + key[len(prefix) + 1:]
    for prefix in ("train", "val", "test"):
        if key.startswith(prefix + "_"):
            return f"{prefix}/{key[len(prefix) + 1:]}"
    return f"time/{key}" if key.endswith("_s") else key


def with_intervals(experiment, intervals: dict) -> None:
    """Give each drawn hyperparameter (a Distribution: low, high) an interval domain in the HParams
    experiment summary, in place: torch's hparams() knows only discrete domains, and without one the
    dashboard's parallel coordinates and scatter plots have no axis range for a continuous value."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    value = experiment.value[0]
    data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        if info.name in intervals:
            info.domain_interval.min_value = float(intervals[info.name].low)
            info.domain_interval.max_value = float(intervals[info.name].high)
    value.metadata.plugin_data.content = data.SerializeToString()


class TensorBoardCallback(tune.Callback):
    def __init__(self, domains: dict[str, list], hparam_keys: list[str], select_metric: str = "val_map",
                 intervals: dict | None = None):
        """domains: each listed key's values; intervals: each drawn key's Distribution (low, high)."""
        self.domains = domains
        self.intervals = intervals or {}
        self.hparam_keys = hparam_keys
        self.table_metrics = (tag_for(f"best_{select_metric}"), *TABLE_METRICS)
        self.writers: dict[str, SummaryWriter] = {}
        self.root_written = False

    def _write_root(self, trial) -> None:
        storage = trial.storage
        local = writes_in_place(storage.storage_filesystem)
        root = storage.experiment_fs_path if local else storage.experiment_driver_staging_path
        experiment, _, _ = hparams(
            {k: self.domains[k][0] if k in self.domains else float(self.intervals[k].low) for k in self.hparam_keys},
            {m: 0.0 for m in self.table_metrics},
            hparam_domain_discrete=self._discrete(),
        )
        with_intervals(experiment, self.intervals)
        with SummaryWriter(log_dir=str(root)) as writer:
            writer.file_writer.add_summary(experiment)
        self.root_written = True

    def _discrete(self) -> dict[str, list]:
        return {k: list(self.domains[k]) for k in self.hparam_keys if k in self.domains}

    def _writer(self, trial) -> SummaryWriter:
        writer = self.writers.get(trial.trial_id)
        if writer is None:
            if not self.root_written:
                self._write_root(trial)
            writer = SummaryWriter(log_dir=str(trial_folder(trial)))
            _, session_start, _ = hparams(
                {k: trial.config[k] for k in self.hparam_keys},
                {},
                hparam_domain_discrete=self._discrete(),
            )
            writer.file_writer.add_summary(session_start)
            self.writers[trial.trial_id] = writer
        return writer

    def on_trial_result(self, iteration, trials, trial, result, **info):
        writer = self._writer(trial)
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        for key, value in result.items():
            if key in NOT_CURVES or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            writer.add_scalar(tag_for(key), value, step)
        writer.add_scalar("best/epoch", result.get("best_epoch", 0), step)
        writer.flush()

    def _close(self, trial) -> None:
        writer = self.writers.pop(trial.trial_id, None)
        if writer is not None:
            writer.close()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._close(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._close(trial)

    def on_experiment_end(self, trials, **info):
        for trial in trials:
            self._close(trial)
