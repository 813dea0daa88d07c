"""The search: a sweep's [space] as Ray Tune's param_space, and the search algorithm that draws from it.

    grid     every combination of the lists (Tune's grid_search); num_samples = R repeats each
             combination R times, repeat i with seed train.seed + i (the seed is one more grid axis)
    random   num_samples draws (lists are categorical choices), in a sequence fixed by seed
    tpe      Optuna's TPE (Ray Tune's OptunaSearch, seeded): each next point from the finished trials'
             best select_metric (a validation metric, never test), at most max_concurrent at once;
             a trial ASHA stopped goes to Optuna as PRUNED with its per-epoch values (pruning_search.py);
             its study is kept in the experiment as optuna.log (optuna_study.py), and may start from
             earlier experiments' trials ([search] warm_start, warm_start.py)

[search] repeats = K trains each configuration with K seeds: a grid's seed axis (as num_samples);
a search's draws through Ray Tune's Repeater, which hands the searcher their mean
(repeated_search.py; random search then draws with Optuna's RandomSampler).

Tune saves the search algorithm's state in the experiment with its own, so --resume continues the
search where it stopped.
"""

from __future__ import annotations

from .search_space import to_tune
from .sweep_file import Sweep


def searched_space(sweep: Sweep) -> dict:
    """The swept keys as Tune domains (fixed values as themselves)."""
    from ray import tune

    if sweep.algorithm == "grid":
        return {k: tune.grid_search(v) if len(v) > 1 else v[0] for k, v in sweep.trial_values().items()}
    space = {k: to_tune(v) if len(v) > 1 else v[0] for k, v in sweep.grid.items()}
    space.update({k: to_tune(d) for k, d in sweep.distributions.items()})
    return space


def tune_num_samples(sweep: Sweep) -> int:
    """Tune's num_samples: a search's trials (draws x repeats); a grid once, its repeats being its
    seed axis (Tune's own repeats would train every point again with the same seed)."""
    return 1 if sweep.algorithm == "grid" else sweep.trial_count


def searcher_metric(sweep: Sweep) -> tuple[str, str]:
    """What a searcher optimises: each trial's best select_metric so far (best_val_map), in its direction."""
    from ..training.metrics import mode

    select = sweep.run["select_metric"]
    return f"best_{select}", mode(select)


def search_algorithm(sweep: Sweep, max_concurrent: int, journal=None, warm_trials: list = ()):
    """Tune's search algorithm for the sweep (None for a grid: Tune's default enumerates it). tpe:
    its study in `journal` (optuna_study.StudyJournal; None: in memory), begun with `warm_trials`."""
    if sweep.algorithm == "grid":
        return None
    if sweep.algorithm == "random" and sweep.repeats == 1:
        from ray.tune.search import BasicVariantGenerator

        return BasicVariantGenerator(random_state=sweep.search["seed"], max_concurrent=max_concurrent)
    from ray.tune.search import ConcurrencyLimiter

    from .optuna_study import JournaledOptunaSearch
    from .repeated_search import random_sampler, with_repeats

    metric, mode = searcher_metric(sweep)
    study = {"journal": journal, "warm_trials": warm_trials}
    if sweep.algorithm == "random":  # with repeats: a Searcher, which Tune's Repeater can wrap
        searcher = JournaledOptunaSearch(metric=metric, mode=mode, sampler=random_sampler(sweep.search["seed"]), **study)
    else:
        searcher = JournaledOptunaSearch(metric=metric, mode=mode, seed=sweep.search["seed"], **study)
    # The limiter outside the repeater: it counts trials, each repeat one.
    searcher = with_repeats(searcher, sweep)
    return ConcurrencyLimiter(searcher, max_concurrent=max_concurrent) if max_concurrent else searcher
