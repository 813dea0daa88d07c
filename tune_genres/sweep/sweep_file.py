"""Sweep files (TOML): the schema, its defaults (the study's fixed facts) and validation.

A sweep file is data. Every key is checked before Ray starts: an unknown key is named with the
nearest valid one, a wrong type or an out-of-range value gets a one-line error naming the file
and the key.

    [grid]        lists; their cross product is the trials (learning rate x ratio x loss ...)
    [space]       or: lists and distributions ({loguniform = [1e-5, 1e-2]}, sweep/search_space.py)
    [search]      algorithm (grid | random | tpe), num_samples (draws; a grid's repeats, each with
                  its own seed), repeats (seeds per configuration: train.seed + 0..K-1, and a
                  searcher hears their mean; on a grid the same as num_samples), seed, max_concurrent;
                  warm_start (tpe: earlier experiments whose trials begin the study, sweep/warm_start.py)
    [train]       fixed per-trial settings
    [scheduler]   optional early stopping: ASHA (type = "asha"), and/or patience = N (a trial stops
                  once its select_metric has not improved for N epochs)
    [resources]   per-trial CPUs/GPUs and concurrency (overridable on the command line)
    [run]         retries, checkpoints kept, the validation metric that selects (select_metric)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset_builder.errors import BadInput
from dataset_builder.reading import read_text

from ..models.catalog import MODEL_NAMES, MODELS
from ..training.hyperparameters import (AUGMENTS, DEFAULTS, FREEZE, HYPERPARAMETERS, LOSSES, OPTIMIZERS,
                                        POS_WEIGHTS, PRECISIONS, SCHEDULES, WEIGHTS)
from ..training.metrics import SELECTABLE
from .naming import check_experiment_name
from .search_space import Distribution, parse_distribution
from .toml_text import toml_text



@dataclass(frozen=True)
class Key:
    """One key of the schema: its type, default, and allowed range."""

    kind: type | tuple[type, ...]
    default: Any
    low: float | None = None  # inclusive
    high: float | None = None  # inclusive
    low_open: bool = False  # the low bound itself is not allowed
    choices: tuple | None = None

    def check(self, value: Any, where: str) -> Any:
        if isinstance(value, bool) and self.kind is not bool:
            raise BadInput(f"{where}: expected {_type_name(self.kind)}, got {value!r}")
        if self.kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, self.kind):
            raise BadInput(f"{where}: expected {_type_name(self.kind)}, got {type(value).__name__} {value!r}")
        if self.choices is not None and value not in self.choices:
            if isinstance(value, str):
                raise BadInput(f"{where}: unknown {value!r}{_nearest(value, self.choices)}")
            raise BadInput(f"{where}: {value!r} is not one of {', '.join(map(str, self.choices))}")
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise BadInput(f"{where}: {value!r} is out of range ({'>' if self.low_open else '>='} {self.low:g})")
        if self.high is not None and value > self.high:
            raise BadInput(f"{where}: {value!r} is out of range (<= {self.high:g})")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadInput(f"{where}: {value!r} is not a finite number")
        return value


def _type_name(kind) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list"}
    if isinstance(kind, tuple):
        return " or ".join(names[k] for k in kind)
    return names[kind]


# The hyperparameters' types, ranges and defaults: a list each in [grid], or a single value in [train].
HYPERPARAMETER_KEYS: dict[str, Key] = {
    "lr": Key(float, None, low=0.0, low_open=True, high=1.0),
    "ratio": Key(int, None, low=1, high=100),
    "loss": Key(str, "cce", choices=LOSSES),
    "batch_size": Key(int, 32, low=1, high=4096),
    "dropout": Key(float, 0.5, low=0.0, high=0.95),
    "seed": Key(int, 0, low=0),
    # Models beyond the study's (models/catalog.py) and how they start and learn; the defaults are the study's.
    "model": Key(str, DEFAULTS["model"], choices=MODEL_NAMES),
    "weights": Key(str, DEFAULTS["weights"], choices=WEIGHTS),
    "input_scale": Key(float, DEFAULTS["input_scale"], low=0.25, high=4.0),  # each batch resized by it on the device
    "freeze": Key(str, DEFAULTS["freeze"], choices=FREEZE),
    "backbone_lr_scale": Key(float, DEFAULTS["backbone_lr_scale"], low=0.0, low_open=True, high=10.0),
    "optimizer": Key(str, DEFAULTS["optimizer"], choices=OPTIMIZERS),
    "weight_decay": Key(float, DEFAULTS["weight_decay"], low=0.0, high=1.0),
    "schedule": Key(str, DEFAULTS["schedule"], choices=SCHEDULES),
    "warmup_epochs": Key(int, DEFAULTS["warmup_epochs"], low=0, high=1000),
    "augment": Key(str, DEFAULTS["augment"], choices=AUGMENTS),
    "pos_weight": Key(str, DEFAULTS["pos_weight"], choices=POS_WEIGHTS),
}
GRID_KEYS: dict[str, Key] = {key: HYPERPARAMETER_KEYS[key] for key in HYPERPARAMETERS}
EPOCHS = Key(int, 50, low=1, high=10_000)
# [space] (and [grid]) may also vary the number of epochs; a single value stays a [train] setting.
SPACE_KEYS: dict[str, Key] = {**GRID_KEYS, "epochs": EPOCHS}
# The study's fixed facts are the defaults: Adam(.9, .999, 1e-8), batch 32, 50 epochs, dropout .5.
TRAIN_KEYS: dict[str, Key] = {
    **{k: v for k, v in GRID_KEYS.items() if k not in ("lr", "ratio")},
    "epochs": EPOCHS,
    "beta1": Key(float, 0.9, low=0.0, high=1.0, ),
    "beta2": Key(float, 0.999, low=0.0, high=1.0),
    "eps": Key(float, 1e-8, low=0.0, low_open=True, high=1.0),
    "checkpoint_every": Key(int, 5, low=1),
    "threshold": Key(float, 0.5, low=0.0, low_open=True, high=1.0),
    # bf16 autocast where the hardware has bf16 ('auto', decided once by the driver for every trial:
    # precision_choice.py): 2x faster on such CPUs at unchanged accuracy (benchmarks/README.md);
    # "fp32" for IEEE fp32 throughout, as the study did; "tf32" for TF32 matmuls and convolutions on a GPU.
    "precision": Key(str, "auto", choices=PRECISIONS),
    # torch.compile the training step (CUDA graphs on a GPU); slower on CPUs as measured, so off.
    "compile": Key(bool, False),
}
# Keys that were renamed: the old name gets a one-line error naming the new one.
RENAMED = {"run.report_metric": "run.select_metric"}
SCHEDULER_KEYS: dict[str, Key] = {
    "type": Key(str, "none", choices=("none", "asha")),
    "metric": Key(str, None, choices=SELECTABLE),  # default: [run] select_metric
    "grace_period": Key(int, 5, low=1),
    "reduction_factor": Key(int, 3, low=2),
    # Stop a trial once its select_metric (what chooses its best epoch) has not improved for this many
    # epochs (training/selection.py: plateaued); None: never. With or without ASHA.
    "patience": Key(int, None, low=1),
}
RESOURCE_KEYS: dict[str, Key] = {
    "cpus_per_trial": Key(float, 1.0, low=0.0, low_open=True, high=1024),
    "gpus_per_trial": Key(float, 0.0, low=0.0, high=64),
    "max_concurrent": Key(int, 0, low=0),  # 0: as many as resources allow
}
RUN_KEYS: dict[str, Key] = {
    "max_failures": Key(int, 2, low=0),
    "num_to_keep": Key(int, 2, low=1),
    # What chooses each trial's best epoch, ASHA's cut (unless [scheduler] metric says otherwise) and
    # the best trial: a validation metric, always; the test split scores the chosen weights once.
    "select_metric": Key(str, "val_map", choices=SELECTABLE),
}
ALGORITHMS = ("grid", "random", "tpe")
SEARCH_KEYS: dict[str, Key] = {
    # grid: every combination of the lists; random: draws from the space; tpe: Optuna's TPE through
    # Ray Tune's OptunaSearch, which chooses each next point from the trials' best select_metric.
    "algorithm": Key(str, "grid", choices=ALGORITHMS),
    # trials drawn; for a grid, repeats of it: repeat i trains every grid point with seed train.seed + i
    "num_samples": Key(int, 1, low=1, high=100_000),
    # each configuration trained with this many seeds (train.seed + 0..K-1); a searcher hears their
    # mean (sweep/repeated_search.py); on a grid the same as num_samples
    "repeats": Key(int, 1, low=1, high=1000),
    "seed": Key(int, 0, low=0),  # the same seed draws the same sequence of configurations
    "max_concurrent": Key(int, 0, low=0),  # 0: [resources] max_concurrent's
    # tpe: earlier experiments (folders, URIs, names in --storage) whose trials begin the study untrained
    "warm_start": Key(list, []),
}
# Keys added after sweeps had fingerprints: at their default they stay out of the fingerprint, so an
# experiment started before them resumes.
LATER_KEYS = {"scheduler": {"patience": None}, "search": {"repeats": 1, "warm_start": []}}
SECTIONS: dict[str, dict[str, Key]] = {
    "grid": SPACE_KEYS,
    "space": SPACE_KEYS,
    "search": SEARCH_KEYS,
    "train": TRAIN_KEYS,
    "scheduler": SCHEDULER_KEYS,
    "resources": RESOURCE_KEYS,
    "run": RUN_KEYS,
}
TOP_LEVEL = ("name", "description", *SECTIONS)


@dataclass
class Sweep:
    """A validated sweep: the lists (grid axes, or choices under random/tpe), the distributions,
    fixed settings, the search and the run's settings."""

    path: Path
    name: str
    description: str
    grid: dict[str, list]
    train: dict[str, Any]
    scheduler: dict[str, Any]
    resources: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=lambda: {k: spec.default for k, spec in SEARCH_KEYS.items()})
    section: str = "grid"  # where the file gave its lists: [grid] or [space]
    text: str = ""  # the sweep as TOML: the file's own text, or the merged content after --set

    @classmethod
    def from_dict(cls, data: dict, name: str | None = None) -> "Sweep":
        """What a sweep file holds, as a dict (`{"space": {"lr": {"loguniform": [1e-4, 1e-2]}, ...}}`),
        validated as a file is; errors name `<name>` where a file's would name its path. Without a
        name (in the dict or here) each call names a new experiment, `sweep-<date>-<time>`, as
        `make demo` does: a notebook's second run never collides with its first."""
        given = name or (data.get("name") if isinstance(data, dict) else None)
        label = f"<{given or 'sweep'}>"  # where errors say a file's path
        if not isinstance(data, dict):
            raise BadInput(f"{label}: expected a dict of sections such as {{'grid': {{'lr': [1e-3]}}}}")
        sweep = parse_sweep({**data, "name": given or time.strftime("sweep-%Y%m%d-%H%M%S")}, Path(label))
        sweep.text = toml_text(data)
        return sweep

    @property
    def algorithm(self) -> str:
        return self.search["algorithm"]

    @property
    def repeats(self) -> int:
        """How many seeds train each configuration: [search] repeats, or a grid's num_samples (never
        both: check_repeats); a search's num_samples are its draws."""
        return self.search["repeats"] * (self.search["num_samples"] if self.algorithm == "grid" else 1)

    def trial_values(self) -> dict[str, list]:
        """Each listed key's values as the trials take them: the file's lists, and a repeated
        configuration's seed one per repeat (train.seed + i), so that repeats train differently and
        are told apart (a search's repeats get theirs from sweep/repeated_search.py)."""
        if self.repeats == 1:
            return self.grid
        first = self.grid["seed"][0]
        return {**self.grid, "seed": [first + i for i in range(self.repeats)]}

    @property
    def trial_count(self) -> int:
        if self.algorithm == "grid":
            return math.prod(len(values) for values in self.trial_values().values())
        return self.search["num_samples"] * self.repeats

    @property
    def ratios(self) -> list[int]:
        return sorted(self.grid["ratio"])

    @property
    def max_epochs(self) -> int:
        """The most epochs a trial may train (ASHA's max_t)."""
        if "epochs" in self.distributions:
            return int(self.distributions["epochs"].high)
        return max(self.grid["epochs"]) if "epochs" in self.grid else self.train["epochs"]

    @property
    def fingerprint(self) -> str:
        """What the sweep trains, in 16 hex digits: a hash of its validated grid, training settings,
        scheduler and run settings (not its name, description or resources, which change no result),
        and its distributions and search when it has them."""
        scheduler, search = (without_later_defaults(name, section) for name, section in
                             (("scheduler", self.scheduler), ("search", self.search)))
        parts = [self.grid, self.train, scheduler, self.run]
        if self.distributions or self.search != {k: spec.default for k, spec in SEARCH_KEYS.items()}:
            parts += [{k: d.as_list() for k, d in self.distributions.items()}, search]
        content = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(content.encode()).hexdigest()[:16]

    def shown_keys(self) -> list[str]:
        """The keys TensorBoard's HParams shows: the study's six, and any later one (model, weights...)
        that this sweep varies or sets away from its default."""
        study = HYPERPARAMETERS[: HYPERPARAMETERS.index("seed") + 1]
        shown = [k for k, values in self.trial_values().items()
                 if k in study or len(values) > 1 or values[0] != HYPERPARAMETER_KEYS[k].default]
        return shown + list(self.distributions)

    def swept_keys(self) -> list[str]:
        """Keys with more than one value (lists, a repeated grid's seed) or a distribution: the ones a
        trial name and the HParams table show."""
        return [k for k, values in self.trial_values().items() if len(values) > 1] + list(self.distributions)


def without_later_defaults(name: str, section: dict[str, Any]) -> dict[str, Any]:
    """A section without the LATER_KEYS it holds at their defaults (what the fingerprint hashes)."""
    later = LATER_KEYS.get(name, {})
    return {k: v for k, v in section.items() if k not in later or v != later[k]}


def _nearest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid: {', '.join(valid)})"


def _check_section(path: Path, section: str, table: Any, schema: dict[str, Key]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise BadInput(f"{path}: [{section}] must be a table")
    for key in table:
        if f"{section}.{key}" in RENAMED:
            raise BadInput(f"{path}: {section}.{key} is now called {RENAMED[f'{section}.{key}']} (and takes a val_* metric)")
        if key in ("select_metric", "metric") and str(table[key]).startswith("test_"):
            raise BadInput(
                f"{path}: {section}.{key} = {table[key]!r}: the test split is never used to choose; "
                f"use a validation metric such as {'val_' + str(table[key])[len('test_'):]!r}"
            )
        if key not in schema:
            raise BadInput(f"{path}: unknown key {section}.{key}{_nearest(key, schema)}")
    return {k: schema[k].check(table[k], f"{path}: {section}.{k}") for k in table}


BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def parse_override(arg: str) -> tuple[list[str], Any]:
    """`--set KEY=VALUE` -> (["train", "epochs"], 2): VALUE in TOML syntax, or a bare word as a string."""
    if not is_utf8(arg):
        shown = os.fsencode(arg).decode("utf-8", errors="backslashreplace")
        raise BadInput(f"--set {shown}: not UTF-8 text (the sweep's copy in the experiment is TOML, which is UTF-8)")
    key, eq, value = arg.partition("=")
    key = key.strip()
    if not eq or not key:
        raise BadInput(f"--set {arg}: expected KEY=VALUE such as train.epochs=2")
    value = value.strip()
    try:
        parsed = tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError as e:
        # A bare word is the string a shell user means: `--set train.loss=bce` (the shell ate any quotes).
        if not BARE_WORD.fullmatch(value):
            raise BadInput(f"--set {arg}: {value!r} is not a TOML value ({e}); quote strings: loss='bce'") from None
        parsed = value
    parts = key.split(".")
    if len(parts) > 2 or (len(parts) == 1 and parts[0] not in ("name", "description")):
        raise BadInput(f"--set {arg}: expected SECTION.KEY (such as train.epochs or space.lr), or name / description")
    return parts, parsed


def is_utf8(arg: str) -> bool:
    """False for a command-line argument holding bytes that were not UTF-8 (Python keeps them as
    lone surrogates, which no file can be written with)."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """A copy of `data` with each `--set KEY=VALUE` applied, in order. `space.KEY` on a file with a
    [grid] turns its grid into a [space] (which takes lists too), so one key can be drawn from a
    distribution while the others stay lists."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    parsed = [(arg, *parse_override(arg)) for arg in overrides]
    if "grid" in merged and "space" not in merged and any(parts[0] == "space" for _, parts, _ in parsed):
        merged["space"] = merged.pop("grid")
    for arg, parts, value in parsed:
        if len(parts) == 1:
            merged[parts[0]] = value
            continue
        section = merged.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise BadInput(f"--set {arg}: {parts[0]} is not a section")
        section[parts[1]] = value
    return merged


def load_sweep(path: str | Path, overrides: list[str] = ()) -> Sweep:
    """A sweep file, with `--set KEY=VALUE` overrides applied (then validated as the file's own keys)."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{path}: a folder, not a sweep file (such as sweeps/demo.toml)")
    if not path.is_file():
        raise BadInput(f"{path}: no such sweep file")
    # Windows editors may begin UTF-8 with a byte-order mark, which TOML's parser takes for a stray character.
    text = read_text(path, "a sweep file is TOML, which is UTF-8: save it as UTF-8").removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{path}: not valid TOML ({e})") from None
    if not data and not overrides:
        raise BadInput(f"{path}: no settings in it; a sweep needs at least [grid] lr = [...] and ratio = [...] "
                       "(see sweeps/demo.toml)")
    if overrides:
        data = apply_overrides(data, list(overrides))
        text = f"# {path} with --set {' --set '.join(overrides)}\n" + toml_text(data)
    return parse_sweep(data, path, text)


def _space(path: Path, data: dict) -> tuple[str, dict[str, list], dict[str, Distribution]]:
    """[grid] (lists) or [space] (lists and distributions) -> (its name, lists, distributions)."""
    if "grid" in data and "space" in data:
        raise BadInput(f"{path}: both [grid] and [space]; keep one ([space] takes lists too)")
    section = "space" if "space" in data else "grid"
    table = data.get(section, {})
    schema = SECTIONS[section]
    if not isinstance(table, dict):
        raise BadInput(f"{path}: [{section}] must be a table")
    for key in table:
        if key not in schema:
            raise BadInput(f"{path}: unknown key {section}.{key}{_nearest(key, schema)}")
    grid: dict[str, list] = {}
    distributions: dict[str, Distribution] = {}
    for key, values in table.items():
        where = f"{path}: {section}.{key}"
        if section == "space" and isinstance(values, dict):
            values = parse_distribution(values, key, schema[key], where)
            if isinstance(values, Distribution):
                distributions[key] = values
                continue
        if not isinstance(values, list) or not values:
            example = " or {loguniform = [1e-5, 1e-2]}" if section == "space" else ""
            raise BadInput(f"{where}: expected a non-empty list such as [1e-3, 1e-4]{example}")
        checked = [schema[key].check(v, f"{where}[{i}]") for i, v in enumerate(values)]
        if len(set(checked)) != len(checked):
            raise BadInput(f"{where}: a value is listed twice")
        grid[key] = checked
    for required in ("lr", "ratio"):
        if required not in grid and required not in distributions:
            raise BadInput(f"{path}: missing key {section}.{required} (a list of values to sweep)")
    return section, grid, distributions


def check_combinations(path: Path, grid: dict[str, list]) -> None:
    """Values that no trial can train with together, refused whenever the sweep could draw both
    (each key's listed values against the other's: a grid's cross product or a search's choices)."""
    if "imagenet" in grid["weights"]:
        without = [m for m in grid["model"] if MODELS[m].weights is None]
        if without:
            raise BadInput(f"{path}: weights = \"imagenet\" with model {without[0]!r}, which has no pretrained weights; "
                           "sweep it in its own sweep with weights = \"none\"")
    if "backbone" in grid["freeze"] and "none" in grid["weights"]:
        raise BadInput(f"{path}: freeze = \"backbone\" with weights = \"none\" would train a head on a random body; "
                       "set weights = \"imagenet\"")
    if "balanced" in grid["pos_weight"] and "cce" in grid["loss"]:
        raise BadInput(f"{path}: pos_weight = \"balanced\" weighs bce's per-genre terms, but loss may be cce "
                       f"(loss = {grid['loss']!r}); use loss = \"bce\"")


def check_repeats(path: Path, section: str, grid: dict[str, list], search: dict[str, Any],
                  distributions: dict[str, Distribution]) -> None:
    """Repeats give each repeat its own seed: a seed listed (or drawn) as well would repeat it twice
    over (and give two trials one seed). On a grid, repeats and num_samples are one thing: one of them."""
    is_grid = search["algorithm"] == "grid"
    if is_grid and search["num_samples"] > 1 and search["repeats"] > 1:
        raise BadInput(f"{path}: [search] repeats and num_samples both repeat the grid; keep one")
    key = "num_samples" if is_grid and search["num_samples"] > 1 else "repeats"
    if search[key] > 1 and (len(grid.get("seed", [])) > 1 or "seed" in distributions):
        raise BadInput(f"{path}: [{section}] seed and [search] {key} both repeat "
                       f"{'the grid' if is_grid else 'each configuration'}; keep one")


def check_warm_start_key(path: Path, search: dict[str, Any]) -> None:
    """search.warm_start: experiments (non-empty strings), for a tpe search only."""
    for i, experiment in enumerate(search["warm_start"]):
        if not isinstance(experiment, str) or not experiment:
            raise BadInput(f"{path}: search.warm_start[{i}]: expected an experiment's folder, URI or name, got {experiment!r}")
    if search["warm_start"] and search["algorithm"] != "tpe":
        raise BadInput(f"{path}: search.warm_start: only a tpe search learns from earlier trials, and algorithm is "
                       f"{search['algorithm']!r}; set [search] algorithm = \"tpe\" or drop warm_start")


def check_warmup(path: Path, data: dict, section: str, grid: dict[str, list], train: dict[str, Any],
                 distributions: dict[str, Distribution]) -> None:
    """A warm-up as long as training leaves the learning rate climbing to the end (training/loop.py's
    lr_factor): refused whenever the sweep could draw such a pair (its longest warm-up against its
    fewest epochs)."""
    warmup = _extremes("warmup_epochs", grid, train, distributions)[1]
    epochs = _extremes("epochs", grid, train, distributions)[0]
    if warmup >= epochs:
        raise BadInput(f"{path}: warmup_epochs {warmup} ({_key_where('warmup_epochs', data, section)}) is not below "
                       f"epochs {epochs} ({_key_where('epochs', data, section)}): every epoch would still be warming "
                       "up; lower warmup_epochs or raise epochs")


def _extremes(key: str, grid: dict[str, list], train: dict[str, Any], distributions: dict[str, Distribution]):
    """(lowest, highest) value the sweep may give `key`: a distribution's ends, a list's, or the [train] value."""
    if key in distributions:
        return distributions[key].low, distributions[key].high
    values = grid[key] if key in grid else [train[key]]
    return min(values), max(values)


def _key_where(key: str, data: dict, section: str) -> str:
    """Where the sweep set `key`: [grid]/[space] or [train] (`train.epochs (default 50)` when nowhere)."""
    if key in data.get(section, {}):
        return f"{section}.{key}"
    return f"train.{key}" + ("" if key in data.get("train", {}) else f" (default {TRAIN_KEYS[key].default})")


def parse_sweep(data: dict, path: Path, text: str = "") -> Sweep:
    """A sweep file's content (parsed TOML) -> a validated Sweep; one-line BadInput naming `path` and the key."""
    for key in data:
        if key not in TOP_LEVEL:
            raise BadInput(f"{path}: unknown key {key!r}{_nearest(key, TOP_LEVEL)}")
    section_name, grid, distributions = _space(path, data)

    train = {k: spec.default for k, spec in TRAIN_KEYS.items()}
    train.update(_check_section(path, "train", data.get("train", {}), TRAIN_KEYS))
    both = sorted((set(grid) | set(distributions)) & set(data.get("train", {})))
    if both:
        raise BadInput(f"{path}: {both[0]} is set in both [{section_name}] and [train]; keep one")
    # A grid key absent from [grid] is swept over its single [train] value.
    for key in GRID_KEYS:
        if key not in distributions:
            grid.setdefault(key, [train.pop(key)] if key in train else [])
        train.pop(key, None)
    # epochs is a [train] setting unless it varies.
    if "epochs" in distributions or len(grid.get("epochs", [])) > 1:
        train.pop("epochs")
    elif "epochs" in grid:
        train["epochs"] = grid.pop("epochs")[0]

    def section(name: str) -> dict[str, Any]:
        schema = SECTIONS[name]
        values = {k: spec.default for k, spec in schema.items()}
        values.update(_check_section(path, name, data.get(name, {}), schema))
        return values

    name = data.get("name", path.stem)
    check_experiment_name(name, f"{path}: name =")
    run = section("run")
    scheduler = section("scheduler")
    scheduler["metric"] = scheduler["metric"] or run["select_metric"]
    search = section("search")
    if distributions and search["algorithm"] == "grid":
        key = next(iter(distributions))
        raise BadInput(f"{path}: {section_name}.{key} is a distribution, which a grid cannot enumerate: "
                       "set [search] algorithm = \"random\" or \"tpe\" (--set search.algorithm=random), or give a list")
    check_combinations(path, grid)
    check_repeats(path, section_name, grid, search, distributions)
    check_warm_start_key(path, search)
    check_warmup(path, data, section_name, grid, train, distributions)
    sweep = Sweep(
        path=path,
        name=name,
        description=str(data.get("description", "")),
        grid=grid,
        train=train,
        scheduler=scheduler,
        resources=section("resources"),
        run=run,
        distributions=distributions,
        search=search,
        section=section_name,
        text=text,
    )
    check_scheduler(sweep)
    return sweep


def check_scheduler(sweep: Sweep) -> None:
    """ASHA's first cut must come before the trials' last epoch (Ray asserts it deep inside Tune);
    a patience must be able to stop some trial before its last epoch; ASHA does not cut a search's
    repeats."""
    grace, patience = sweep.scheduler["grace_period"], sweep.scheduler["patience"]
    asha = sweep.scheduler["type"] == "asha"
    if asha and grace > sweep.max_epochs:
        raise BadInput(f"{sweep.path}: scheduler.grace_period {grace} is past the last epoch ({sweep.max_epochs}): ASHA "
                       "would never cut; lower grace_period, or train more epochs")
    # The earliest a plateau can end a trial: its first epoch best, then `patience` epochs without better.
    longest = sweep.max_epochs
    if patience is not None and 1 + patience >= longest:
        lower = f"lower patience (to {longest - 2} at most)" if longest > 2 else "lower patience"
        raise BadInput(f"{sweep.path}: scheduler.patience {patience} can never stop a trial: the longest trains "
                       f"{longest} epochs, so even one whose first epoch stays its best reaches its last epoch first; "
                       f"{lower} or train more epochs")
    if asha and sweep.algorithm != "grid" and sweep.search["repeats"] > 1:
        # Ray's Repeater averages whatever each repeat ended with: ASHA would cut a configuration's
        # seeds one by one, and the searcher would learn from a mean of cut and finished ones.
        raise BadInput(f"{sweep.path}: [search] repeats {sweep.search['repeats']} with scheduler.type = \"asha\": ASHA "
                       "would cut a configuration's seeds one by one and the searcher would hear a mean of cut and "
                       "finished ones; drop one of them (scheduler.patience stops trials and keeps repeats)")
