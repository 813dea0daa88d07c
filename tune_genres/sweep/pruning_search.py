"""TPE that learns from ASHA's cuts as cuts: Ray Tune's OptunaSearch, telling Optuna the truth.

Ray Tune's OptunaSearch reports every trial to Optuna as COMPLETE (checked on Ray 2.60), a trial
ASHA stopped after its first epoch included, at the value of that epoch: TPE then takes a good
region that was cut early for a bad one. Optuna's own pruning keeps such a trial as PRUNED with
its per-epoch values (reported as it ran), and its TPE weighs it as such. Here a trial that ended
before its last epoch, without an error, goes to Optuna as PRUNED.
"""

from __future__ import annotations

from ray.tune.search.optuna import OptunaSearch

from ..training.selection import STOPPED_ON_PLATEAU


def stopped_early(result: dict | None) -> bool:
    """Whether a trial's last result is from before the epochs it was to train (the scheduler cut it).
    A trial its patience ended is not: its best value is as final as a finished trial's."""
    if not result or result.get(STOPPED_ON_PLATEAU):
        return False
    # Tune hands searchers its rows flattened ("config/epochs"); a row as reported nests it.
    planned = result.get("config/epochs", (result.get("config") or {}).get("epochs"))
    return planned is not None and result.get("epoch") is not None and result["epoch"] < planned


class PruningAwareOptunaSearch(OptunaSearch):
    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if result and not error and trial_id in self._ot_trials and trial_id not in self._completed_trials:
            self._report_last_epoch(trial_id, result)
        if error or trial_id in self._completed_trials or not stopped_early(result):
            return super().on_trial_complete(trial_id, result, error)
        from optuna.trial import TrialState

        # Its per-epoch values reached Optuna through on_trial_result as it ran.
        self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
        self._completed_trials.add(trial_id)

    def _report_last_epoch(self, trial_id: str, result: dict) -> None:
        """The epoch where a scheduler stops a trial (ASHA stops every trial at its last epoch too)
        reaches the searcher only through on_trial_complete, never on_trial_result (Tune 2.60): it
        goes in as the trial's last intermediate value here, unless it is in already."""
        step = result.get("training_iteration")
        reported = self._ot_trials[trial_id]._cached_frozen_trial.intermediate_values  # Optuna's own copy
        if result.get(self.metric) is not None and step is not None and step not in reported:
            self.on_trial_result(trial_id, result)
