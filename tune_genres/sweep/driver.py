"""The driver: a validated sweep file + a built dataset -> a Ray Tune experiment, then its report.

Order of work: check everything (sweep file, dataset, ratios, models and their weights, the
experiment's name and folder), lock the experiment (one driver each: experiment_lock.py), on
--resume check that the dataset and sweep are the ones it started with, start or join Ray and
check that some node can hold a trial, put each needed ratio's arrays (a frozen body's features,
ImageNet weights) into the object store once, run the grid or search until it ends or Ctrl-C
stops it (interrupt.py), score the test split of trials the scheduler stopped early, write the
report (labelled partial after Ctrl-C), release the lock.
"""

from __future__ import annotations

import errno
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dataset_builder.errors import BadInput
from dataset_builder.store import Dataset, open_dataset

from ..results.location import ExperimentLocation, location
from ..results.provenance import run_environment
from ..results.records import BASELINES_FILE, EXPERIMENT_FILE
from ..results.report import write_report
from .cluster import check_storage
from .experiment import check_sweep_may_write, check_resume, experiment_record
from .experiment_lock import LOCK_FILE, experiment_lock
from .interrupt import graceful_interrupt
from .naming import TrialNamer, check_experiment_name
from .optuna_study import StudyJournal, check_journal, journaled_searcher, start_afresh
from .search import search_algorithm, searched_space, tune_num_samples
from .precision_choice import check_precision, cluster_gpu_types, decide_precision, record_precision
from .sweep_file import Sweep
from .trial_inputs import check_models, put_trial_inputs
from .warm_start import planned_warm_start

# Ray's automatic TensorBoard logger would add a second set of curves and one hparams run per
# trial; ours replaces it (see tensorboard.py). Set before ray.tune is imported.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
# The dataset arrays are handed to trials explicitly; do not ship the working directory.
os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
# Trials of seconds (heads on cached features) checkpoint faster than Tune snapshots its state,
# and Tune then warns several times a second for the whole sweep; the snapshots still happen.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
# Ctrl-C is ours (interrupt.py): it asks Tune for the same graceful stop and remembers it was asked.
os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"

SWEEP_COPY = "sweep.toml"
# Where experiments go without --storage: one absolute place, so that a --resume, a report or
# TensorBoard run from another folder finds the same experiment. TUNE_GENRES_STORAGE moves it.
STORAGE_VARIABLE = "TUNE_GENRES_STORAGE"
DEFAULT_STORAGE = "~/tune-genres/experiments"


def default_storage() -> str:
    return str(Path(os.environ.get(STORAGE_VARIABLE) or DEFAULT_STORAGE).expanduser().resolve())


@dataclass
class SweepOptions:
    dataset: Path
    address: str | None = None
    storage: str | None = None
    name: str | None = None
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    max_concurrent: int | None = None
    resume: bool = False
    wait_for_resources: bool = False  # a cluster that autoscales: trials may ask more than any node has now
    warm_start: list[str] = field(default_factory=list)  # --warm-start EXP, beside the sweep file's (warm_start.py)
    verbose: int = 1
    callbacks: list = field(default_factory=list)  # more Tune callbacks (benchmarks/sweep_overhead.py)


def check_dataset(sweep: Sweep, dataset: Dataset) -> None:
    missing = [r for r in sweep.ratios if r not in dataset.ratios]
    if missing:
        raise BadInput(
            f"{dataset.root}: no ratio {', '.join(map(str, missing))} in this dataset (it has "
            f"{', '.join(map(str, dataset.ratios))}); rebuild with --ratios or edit {sweep.path} {sweep.section}.ratio"
        )


def param_space(sweep: Sweep, precision: str | None = None) -> dict:
    """The trials' configs; `precision`, decided once for all of them, replaces the file's ("auto")."""
    space = searched_space(sweep)
    space.update(sweep.train)
    if precision is not None:
        space["precision"] = precision
    space["select_metric"] = sweep.run["select_metric"]
    space["sweep_fingerprint"] = sweep.fingerprint
    space["checkpoint_epochs"] = scheduler_milestones(sweep)
    if sweep.scheduler["patience"] is not None:  # the trial ends itself on a plateau (training/trial.py)
        space["patience"] = sweep.scheduler["patience"]
    return space


def scheduler_milestones(sweep: Sweep) -> list[int]:
    """The epochs where ASHA may stop a trial (grace_period x reduction_factor^k): a trial
    checkpoints there, so the weights of its best epoch survive the stop."""
    if sweep.scheduler["type"] != "asha":
        return []
    milestones, epoch = [], sweep.scheduler["grace_period"]
    while epoch < sweep.max_epochs:
        milestones.append(epoch)
        epoch *= sweep.scheduler["reduction_factor"]
    return milestones


def resources(sweep: Sweep, options: SweepOptions) -> dict[str, float]:
    cpus = options.cpus_per_trial if options.cpus_per_trial is not None else sweep.resources["cpus_per_trial"]
    gpus = options.gpus_per_trial if options.gpus_per_trial is not None else sweep.resources["gpus_per_trial"]
    if cpus <= 0:
        raise BadInput(f"--cpus-per-trial {cpus:g}: expected more than 0")
    if gpus < 0:
        raise BadInput(f"--gpus-per-trial {gpus:g}: expected 0 or more")
    if gpus > 1:
        where = "--gpus-per-trial" if options.gpus_per_trial is not None else f"{sweep.path}: resources.gpus_per_trial ="
        # A trial trains on cuda:0 of what Ray grants it; a second GPU would be held and idle.
        raise BadInput(f"{where} {gpus:g}: a trial of this model uses one GPU; ask for 1, or for a fraction "
                       "such as 0.25 to pack several trials onto each GPU")
    return {"cpu": cpus, "gpu": gpus}


def write_baselines(dataset: Dataset, experiment: ExperimentLocation) -> dict:
    """The label-prior and majority scores on val and test, once per dataset, for the report."""
    from ..training.metrics import baselines

    labels = dataset.labels
    train = labels[dataset.split("train")]
    result = {
        "dataset": str(dataset.root.resolve()),
        "genres": dataset.genres,
        **{split: baselines(train, labels[dataset.split(split)]) for split in ("val", "test")},
        "counts": dict(dataset.manifest["splits"]),
    }
    experiment.write_json(BASELINES_FILE, result)
    return result


@dataclass
class Plan:
    """A sweep checked and placed, before any work: what each step of run_sweep works from."""

    sweep: Sweep
    options: SweepOptions
    dataset: Dataset
    storage: ExperimentLocation
    experiment: ExperimentLocation
    record: dict  # experiment.json's content
    resources: dict[str, float]  # one trial's
    max_concurrent: int
    warm_trials: list = field(default_factory=list)  # earlier experiments' trials a tpe study begins with


@dataclass
class SweepOutcome:
    """What a sweep left: its folder or URI, its report, and whether Ctrl-C or SIGTERM stopped it
    before the end."""

    path: str
    report: dict
    interrupted: bool


def run_sweep(sweep: Sweep, options: SweepOptions) -> SweepOutcome:
    """Run (or resume) the sweep and write its report, holding the experiment's lock throughout."""
    plan = plan_sweep(sweep, options)
    with claimed(plan.experiment):
        resume = resume_or_start(plan)
        interrupted, inputs = train(plan, resume)
        report = finish(plan, interrupted, inputs)
    return SweepOutcome(str(plan.experiment), report, interrupted)


def plan_sweep(sweep: Sweep, options: SweepOptions) -> Plan:
    """Every check that needs no Ray: the dataset, models, resources, the experiment's name and place."""
    dataset = open_dataset(options.dataset)
    check_dataset(sweep, dataset)
    check_models(sweep, dataset)
    trial_resources = resources(sweep, options)
    check_precision(sweep.train["precision"], trial_resources["gpu"], f"{sweep.path}: train.precision")
    max_concurrent = (options.max_concurrent if options.max_concurrent is not None
                      else sweep.search["max_concurrent"] or sweep.resources["max_concurrent"])
    if max_concurrent < 0:
        raise BadInput(f"--max-concurrent {max_concurrent}: expected 0 (no limit) or more")
    storage = location(options.storage or default_storage())
    warm = planned_warm_start(sweep, options.warm_start, options.resume, dataset, storage)
    name = options.name or sweep.name
    check_experiment_name(name, "--name" if options.name else f"{sweep.path}: name =")
    experiment = storage.join(name)
    check_sweep_may_write(experiment)
    if options.resume and not experiment.exists():
        raise BadInput(f"--resume: {experiment} holds no experiment to resume")
    check_storage(storage)  # before Ray starts: a full or read-only disk fails in a second
    record = experiment_record(sweep, dataset, trial_resources, max_concurrent)
    if warm.sources:
        record["warm_start"] = warm.sources  # for the report
    return Plan(sweep, options, dataset, storage, experiment, record, trial_resources, max_concurrent, warm.trials)


@contextmanager
def claimed(experiment: ExperimentLocation):
    """The experiment, locked for this driver (a local folder is created if new); a new local
    folder that a failed check leaves holding nothing but the lock is removed again."""
    created = experiment.is_local and not experiment.exists()
    if experiment.is_local:
        experiment.local_path.mkdir(parents=True, exist_ok=True)
    try:
        with experiment_lock(experiment, notify=lambda line: print(line, file=sys.stderr)):
            yield
    except BaseException:
        folder = experiment.local_path if experiment.is_local else None
        if created and [p.name for p in folder.iterdir()] in ([], [LOCK_FILE]):
            (folder / LOCK_FILE).unlink(missing_ok=True)
            folder.rmdir()
        raise


def resume_or_start(plan: Plan) -> bool:
    """Whether Tune restores the experiment's saved state (checked under the lock, so that no
    other driver changes it meanwhile); refuses a start over an experiment, or a resume of none."""
    from ray import tune

    experiment, options = plan.experiment, plan.options
    filesystem, path = experiment.filesystem()
    saved_state = tune.Tuner.can_restore(path, storage_filesystem=filesystem)
    if options.resume and not saved_state:
        if not experiment.is_file(SWEEP_COPY):
            raise BadInput(f"--resume: {experiment} holds no experiment to resume")
        # The driver died before Tune saved its first state: nothing ran that a new start would lose.
        print(f"--resume: {experiment} holds no saved Tune state yet (its driver stopped before any); starting the sweep afresh")
        return False
    if options.resume:
        flags = {"--cpus-per-trial": ("resources.cpu", options.cpus_per_trial),
                 "--gpus-per-trial": ("resources.gpu", options.gpus_per_trial),
                 "--max-concurrent": ("max_concurrent", options.max_concurrent)}
        for note in check_resume(experiment, plan.record, flags):
            print(f"note: {note}")
    elif saved_state:
        raise BadInput(f"{experiment}: already holds an experiment; pass --resume to finish it or --name for a new one")
    # A folder without Tune state (a driver killed before Tune saved any) is taken over by a new run.
    return options.resume


def train(plan: Plan, resume: bool) -> tuple[bool, dict]:
    """Join Ray, record the experiment, run Tune until every trial ends or a stop is asked for;
    returns whether one was (Ctrl-C, SIGTERM), and the trials' inputs in the object store."""
    from ray import tune

    from .cluster import check_resources, check_shared_storage, connect

    sweep, experiment = plan.sweep, plan.experiment
    print(f"tune-genres: experiment {experiment}", file=sys.stderr)
    with graceful_interrupt() as stop:
        connect(plan.options.address)
        check_resources(plan.resources, plan.options.wait_for_resources)
        check_shared_storage(plan.storage)
        experiment.write_text(SWEEP_COPY, sweep.text or sweep.path.read_text())
        if not resume:
            experiment.write_json(EXPERIMENT_FILE, {**plan.record, "environment": run_environment()})
            start_afresh(experiment)
        write_baselines(plan.dataset, experiment)
        precision = None
        if not resume:  # a resumed experiment's trials keep the precision in their configs
            decision = decide_precision(sweep.train["precision"], plan.resources["gpu"], cluster_gpu_types)
            record_precision(experiment, decision)
            print(f"tune-genres: every trial trains in {decision.precision} ({decision.why})", file=sys.stderr)
            precision = decision.precision
        # Each ratio's arrays (and features, weights) go into the object store once; trials fetch what they train on.
        inputs = put_trial_inputs(sweep, plan.dataset)
        tuner = make_tuner(plan, inputs, resume, precision)
        if not stop.is_set():  # a Ctrl-C while Ray started: no trial has run, none is started
            stop.tune_running.set()
            try:
                tuner.fit()
            except tune.TuneError as e:
                raise storage_failure(e, str(plan.storage)) or e
    return stop.is_set(), inputs


def make_tuner(plan: Plan, inputs: dict, resume: bool, precision: str | None):
    """A new Tuner for the sweep, or the experiment's restored one (numbering new trials on)."""
    from ray import tune

    from .record_callback import TrialRecordCallback
    from .tensorboard import TensorBoardCallback
    from .trainable import train_trial

    sweep, options = plan.sweep, plan.options
    filesystem, storage_path = plan.storage.filesystem()
    trainable = tune.with_resources(tune.with_parameters(train_trial, inputs=inputs), plan.resources)

    swept = sweep.swept_keys()
    start = next_trial_index(plan.experiment) if resume else 0
    # Drawn values need the trial's index to stay unique and short; a grid's names are its values (a
    # repeated grid's, its seed too). An experiment that numbered its grid's repeats (before they had
    # seeds of their own) goes on numbering them.
    sampled = sweep.algorithm != "grid" or start > 0
    namer = TrialNamer(swept, sampled, start=start)
    callbacks = [TensorBoardCallback(sweep.trial_values(), sweep.shown_keys(), sweep.run["select_metric"],
                                     sweep.distributions),
                 TrialRecordCallback(plan.experiment, plan.dataset.fingerprint)] + default_loggers() + options.callbacks
    run_config = tune.RunConfig(
        name=plan.experiment.name,
        storage_path=storage_path,
        storage_filesystem=filesystem,
        failure_config=tune.FailureConfig(max_failures=sweep.run["max_failures"]),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=sweep.run["num_to_keep"]),
        callbacks=callbacks,
        verbose=options.verbose,
    )
    if resume:
        _, experiment_path = plan.experiment.filesystem()
        tuner = tune.Tuner.restore(experiment_path, trainable, resume_unfinished=True, resume_errored=True,
                                   storage_filesystem=filesystem)
        # Tune restores the run config it pickled; how much it prints is safe to change.
        if tuner._local_tuner is not None:  # None through a Ray client (ray://), where it stays as saved
            tuner._local_tuner._run_config.verbose = options.verbose
            # The namer pickled at the start would number new trials from 0 again: go on from the last.
            tuner._local_tuner._tune_config.trial_name_creator = namer
            tuner._local_tuner._tune_config.trial_dirname_creator = namer
            # The study goes on in this experiment's journal, wherever the experiment is now.
            searcher = journaled_searcher(tuner._local_tuner._tune_config.search_alg)
            if searcher is not None:
                check_journal(plan.experiment)
                searcher.journal = StudyJournal(plan.experiment)
        return tuner
    journal = StudyJournal(plan.experiment) if sweep.algorithm == "tpe" else None
    search_alg = search_algorithm(sweep, plan.max_concurrent, journal, plan.warm_trials)
    return tune.Tuner(
        trainable,
        param_space=param_space(sweep, precision),
        tune_config=tune.TuneConfig(
            scheduler=scheduler(sweep),
            search_alg=search_alg,
            num_samples=tune_num_samples(sweep),
            # the searcher limits itself (ConcurrencyLimiter, BasicVariantGenerator's max_concurrent)
            max_concurrent_trials=(plan.max_concurrent or None) if search_alg is None else None,
            # A trial reuses a finished one's worker process: no new process, no second import of
            # torch (benchmarks/README.md: a demo trial's start-up 4.1 s -> 1.8 s, Ray's share of
            # the demo sweep 20% -> 4-10%). With `compile = true` too: the trainable drops the
            # compiled code when a trial ends (precision.forget_compiled; benchmarks/README.md).
            reuse_actors=True,
            trial_name_creator=namer,
            trial_dirname_creator=namer,
        ),
        run_config=run_config,
    )


def finish(plan: Plan, interrupted: bool, inputs: dict) -> dict:
    """Score the trials ASHA stopped (not those an interruption stopped: they resume), then the report."""
    from .stopped_trials import score_stopped_trials  # torch: imported once a sweep has run

    if not interrupted:
        score_stopped_trials(plan.experiment, plan.dataset, inputs)
    return write_report(plan.experiment, partial=interrupted)


def next_trial_index(experiment: ExperimentLocation) -> int:
    """One past the highest index of the sampled trials' folders (`0007_lr=...`) in the experiment."""
    indices = [int(f.name[:4]) for f in experiment.folders("[0-9][0-9][0-9][0-9]_*")]
    return max(indices, default=-1) + 1


def storage_failure(error: BaseException, storage: str) -> BadInput | None:
    """A sweep stopped by storage that no longer takes writes (full, read-only) -> one clear line.

    Tune ends the whole experiment when writing its records fails; every file it or this
    driver writes to storage is replaced whole or not at all, so what was saved stands."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
            return BadInput(
                f"--storage {storage}: cannot write there any more ({os.strerror(error.errno)}); the sweep stopped, "
                "and what it had saved stands: free space or make it writable, then run the same command with --resume"
            )
        error = error.__cause__ or error.__context__
    return None


def scheduler(sweep: Sweep):
    if sweep.scheduler["type"] != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    from ..training.metrics import mode

    return ASHAScheduler(
        time_attr="epoch",
        metric=sweep.scheduler["metric"],
        mode=mode(sweep.scheduler["metric"]),
        max_t=sweep.max_epochs,
        grace_period=sweep.scheduler["grace_period"],
        reduction_factor=sweep.scheduler["reduction_factor"],
    )


def default_loggers() -> list:
    """Tune's CSV and JSON loggers (result.json feeds the report); its TensorBoard one is ours."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    return [JsonLoggerCallback(), CSVLoggerCallback()]
