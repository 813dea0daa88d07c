"""Repeats in a search: every configuration the searcher draws trains with K seeds, and the searcher
hears their mean ([search] repeats = K).

Ray Tune's Repeater hands a drawn configuration to K trials, marking each with its index in the
group, and tells the searcher the mean of the K trials' metric once all have ended. Here the index
becomes the trial's seed (train.seed + index), so the record, the trial's name (`seed=1`) and the
report see repeats exactly as a repeated grid's (results/repeats.py): the best configuration is
chosen by its mean on validation, its test score is the mean of its repeats' single scorings.

Random search with repeats draws through Optuna's RandomSampler (a Searcher the Repeater can wrap;
Tune's own random search, BasicVariantGenerator, is not one): its draws differ from those of the
same seed without repeats. The searcher hears only the mean at the group's end, not each repeat's
epochs, which is why ASHA, which would cut some repeats of a configuration and not others, is
refused beside repeats (sweep_file.check_scheduler); a plateau's stop ends a repeat with its best
value, as final as a finished one's.

Repeater saves only the searcher it wraps; a resumed sweep needs its groups too (which trial
belongs to which configuration), so SeedRepeater keeps both in the one file Tune saves.
"""

from __future__ import annotations

import os
import pickle
import tempfile

from ray.tune.search import Repeater, Searcher
from ray.tune.search.repeater import TRIAL_INDEX

from .sweep_file import Sweep


class SeedRepeater(Repeater):
    """Repeater whose repeat i trains with seed `base_seed + i`."""

    def __init__(self, searcher: Searcher, repeats: int, base_seed: int):
        super().__init__(searcher, repeat=repeats, set_index=True)
        self.base_seed = base_seed

    def suggest(self, trial_id: str):
        config = super().suggest(trial_id)
        if isinstance(config, dict):  # not None (wait) nor Searcher.FINISHED
            config = dict(config)
            config["seed"] = self.base_seed + config.pop(TRIAL_INDEX)
        return config

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)
        with open(checkpoint_path, "rb") as f:
            inner = f.read()
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"searcher": inner, "groups": self.get_state()}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            saved = pickle.load(f)
        with tempfile.TemporaryDirectory() as folder:
            inner = os.path.join(folder, "searcher.pkl")
            with open(inner, "wb") as f:
                f.write(saved["searcher"])
            self.searcher.restore(inner)
        self.set_state(saved["groups"])


def with_repeats(searcher: Searcher, sweep: Sweep) -> Searcher:
    """The searcher itself for one seed per configuration, else wrapped to repeat each with the
    sweep's K seeds (its one train.seed is the first: a listed or drawn seed is refused beside repeats)."""
    return searcher if sweep.repeats == 1 else SeedRepeater(searcher, sweep.repeats, sweep.grid["seed"][0])


def random_sampler(seed: int):
    """Optuna's random sampling, seeded: random search as a Searcher."""
    from optuna.samplers import RandomSampler

    return RandomSampler(seed=seed)
