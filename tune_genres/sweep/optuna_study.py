"""A TPE sweep's Optuna study, kept in the experiment as the journal `optuna.log`, live.

Optuna keeps a study as an append-only journal (optuna.storages.JournalStorage on a
JournalFileBackend): a line as each trial is drawn, each epoch's select_metric, each trial's end.
optuna-dashboard reads it while the sweep runs: `optuna-dashboard EXP/optuna.log`. Readers skip a
last line still being written, so the append-only journal is the one file of an experiment that is
written in place rather than whole.

- A local experiment (or a shared path): the journal is EXP/optuna.log itself.
- An experiment in an object store (s3://): a journal is appended to, an object can only be
  replaced. The journal lives in a working copy on the driver (a temporary folder; a --resume
  starts it from the experiment's optuna.log) and is copied into the experiment with every
  snapshot Tune takes of its experiment state (at least every TUNE_GLOBAL_CHECKPOINT_S seconds,
  whenever trials have checkpointed num_to_keep times, and at the end of the sweep): it travels
  in the same upload as the searcher's pickled state, so the two always agree.

Only tpe keeps a study: random stays Ray Tune's BasicVariantGenerator (its draws, fixed by the
seed, are no Optuna sampler's), and a grid is enumerated by Tune.

On --resume Tune unpickles the searcher from its last snapshot, which may be older than the
journal. The study is opened again from the journal (the pickled one names a file of the earlier
driver), each Tune trial finds its Optuna trial again (so none is drawn twice), a trial the journal
has already seen end is not told again, and a trial drawn after the snapshot, which Tune forgets,
is closed as FAIL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dataset_builder.atomic import write_atomic
from dataset_builder.errors import BadInput

from ..results.location import ExperimentLocation
from .pruning_search import PruningAwareOptunaSearch

STUDY_FILE = "optuna.log"


class StudyJournal:
    """Where an experiment's study is appended to: EXP/optuna.log, or its working copy on the driver."""

    def __init__(self, experiment: ExperimentLocation):
        self.experiment = experiment
        self._working: Path | None = None
        self._storage = None

    def __getstate__(self) -> dict:
        # Tune pickles the searcher with this in it: the experiment says where; a working copy is one driver's.
        return {"experiment": self.experiment, "_working": None, "_storage": None}

    @property
    def file(self) -> Path:
        """The local file Optuna appends to."""
        if self.experiment.is_local:
            return self.experiment.local_path / STUDY_FILE
        if self._working is None:
            self._working = Path(tempfile.mkdtemp(prefix="tune-genres-study-")) / STUDY_FILE
            if self.experiment.is_file(STUDY_FILE):  # a resumed sweep goes on with its journal
                self.experiment.download(STUDY_FILE, self._working)
        return self._working

    def storage(self):
        """The study's Optuna storage (one per driver: two would each replay the file on its own)."""
        if self._storage is None:
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            self._storage = JournalStorage(JournalFileBackend(str(self.file)))
        return self._storage

    def copy_into(self, staging: str | os.PathLike) -> None:
        """An object store's journal into Tune's staging folder, which Tune uploads into the experiment."""
        if not self.experiment.is_local and self._working is not None and self._working.is_file():
            write_atomic(Path(staging) / STUDY_FILE, lambda path: shutil.copyfile(self._working, path))


def check_journal(experiment: ExperimentLocation) -> None:
    """A resumed TPE sweep needs its journal: the searcher's saved state names its trials there."""
    if not experiment.is_file(STUDY_FILE):
        raise BadInput(f"--resume: {experiment.join(STUDY_FILE)} is missing, and the TPE study goes on in it; restore "
                       "it from a copy of the experiment, or start a new experiment with --name")


def start_afresh(experiment: ExperimentLocation) -> None:
    """A new sweep in a folder that a driver left without Tune state: its journal goes with it."""
    experiment.delete(STUDY_FILE)


class JournaledOptunaSearch(PruningAwareOptunaSearch):
    """The TPE searcher whose study is the experiment's journal; `warm_trials` (FrozenTrials of
    earlier experiments, sweep/warm_start.py) enter a new study once, before its first draw."""

    def __init__(self, *args, journal: StudyJournal | None = None, warm_trials: list = (), **kwargs):
        self.journal, self.warm_trials = journal, list(warm_trials)
        if journal is not None:  # the study is named after its experiment (optuna-dashboard shows it)
            kwargs.setdefault("study_name", journal.experiment.name)
        super().__init__(*args, **kwargs)

    def _setup_study(self, mode):
        if self.journal is not None:
            self._storage = self.journal.storage()
        super()._setup_study(mode)
        # A resumed study holds them already (and its own trials after them).
        if self.warm_trials and not self._ot_study.get_trials(deepcopy=False):
            self._ot_study.add_trials(self.warm_trials)

    def on_trial_result(self, trial_id: str, result: dict):
        if trial_id in self._completed_trials:
            return  # a trial Tune trains again after a resume: the study heard its end already
        super().on_trial_result(trial_id, result)

    def save(self, checkpoint_path: str):
        super().save(checkpoint_path)
        if self.journal is not None:
            self.journal.copy_into(os.path.dirname(checkpoint_path))

    def restore(self, checkpoint_path: str):
        journal, warm_trials = self.journal, self.warm_trials  # this driver's: the experiment may have moved
        super().restore(checkpoint_path)
        self.journal, self.warm_trials = journal, warm_trials
        if journal is not None:
            self._reopen_study()

    def _reopen_study(self) -> None:
        import optuna
        from optuna.trial import TrialState

        pickled = self._ot_study
        self._storage = self.journal.storage()
        self._ot_study = optuna.load_study(study_name=pickled.study_name, storage=self._storage,
                                           sampler=pickled.sampler, pruner=pickled.pruner)
        # Trial ids are the journal's own, the same for every driver that replays it.
        journaled = {t._trial_id: t for t in self._ot_study.get_trials(deepcopy=False)}
        for tune_id, trial in list(self._ot_trials.items()):
            if trial._trial_id not in journaled or journaled[trial._trial_id].state.is_finished():
                self._completed_trials.add(tune_id)  # Tune may train it again; the study heard its end
            else:
                self._ot_trials[tune_id] = optuna.trial.Trial(self._ot_study, trial._trial_id)
        known = {trial._trial_id for trial in self._ot_trials.values()}
        for trial_id, frozen in journaled.items():
            if frozen.state == TrialState.RUNNING and trial_id not in known:
                self._ot_study.tell(frozen.number, state=TrialState.FAIL)


def journaled_searcher(search_alg) -> JournaledOptunaSearch | None:
    """The JournaledOptunaSearch inside Tune's search algorithm (a ConcurrencyLimiter wraps it), if any."""
    while search_alg is not None and not isinstance(search_alg, JournaledOptunaSearch):
        search_alg = getattr(search_alg, "searcher", None)
    return search_alg
