"""Sweep files (TOML): the schema, its defaults (the study's fixed facts) and validation.

A sweep file is data. Every key is checked before Ray starts: an unknown key is named with the
nearest valid one, a wrong type or an out-of-range value gets a one-line error naming the file
and the key.

    [grid]        lists; their cross product is the trials (learning rate x ratio x loss ...)
    [train]       fixed per-trial settings
    [scheduler]   optional early stopping (ASHA)
    [resources]   per-trial CPUs/GPUs and concurrency (overridable on the command line)
    [run]         retries, checkpoints kept, the report's metric
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset_builder.errors import BadInput

from ..training.hyperparameters import HYPERPARAMETERS, LOSSES, PRECISIONS
from ..training.metrics import RANKING_METRICS



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
            raise BadInput(f"{where}: {value!r} is not one of {', '.join(map(str, self.choices))}")
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise BadInput(f"{where}: {value!r} is out of range ({'>' if self.low_open else '>='} {self.low:g})")
        if self.high is not None and value > self.high:
            raise BadInput(f"{where}: {value!r} is out of range (<= {self.high:g})")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadInput(f"{where}: {value!r} is not a finite number")
        return value


def _type_name(kind) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
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
}
GRID_KEYS: dict[str, Key] = {key: HYPERPARAMETER_KEYS[key] for key in HYPERPARAMETERS}
# The study's fixed facts are the defaults: Adam(.9, .999, 1e-8), batch 32, 50 epochs, dropout .5.
TRAIN_KEYS: dict[str, Key] = {
    **{k: v for k, v in GRID_KEYS.items() if k not in ("lr", "ratio")},
    "epochs": Key(int, 50, low=1, high=10_000),
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
SCHEDULER_KEYS: dict[str, Key] = {
    "type": Key(str, "none", choices=("none", "asha")),
    "metric": Key(str, "val_map", choices=tuple(f"val_{m}" for m in RANKING_METRICS)),
    "grace_period": Key(int, 5, low=1),
    "reduction_factor": Key(int, 3, low=2),
}
RESOURCE_KEYS: dict[str, Key] = {
    "cpus_per_trial": Key(float, 1.0, low=0.0, low_open=True, high=1024),
    "gpus_per_trial": Key(float, 0.0, low=0.0, high=64),
    "max_concurrent": Key(int, 0, low=0),  # 0: as many as resources allow
}
RUN_KEYS: dict[str, Key] = {
    "max_failures": Key(int, 2, low=0),
    "num_to_keep": Key(int, 2, low=1),
    "report_metric": Key(str, "test_map", choices=tuple(f"{p}_{m}" for p in ("test", "val") for m in RANKING_METRICS)),
}
SECTIONS: dict[str, dict[str, Key]] = {
    "grid": GRID_KEYS,
    "train": TRAIN_KEYS,
    "scheduler": SCHEDULER_KEYS,
    "resources": RESOURCE_KEYS,
    "run": RUN_KEYS,
}
TOP_LEVEL = ("name", "description", *SECTIONS)


@dataclass
class Sweep:
    """A validated sweep: the grid (lists), fixed settings, and the run's settings."""

    path: Path
    name: str
    description: str
    grid: dict[str, list]
    train: dict[str, Any]
    scheduler: dict[str, Any]
    resources: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def trial_count(self) -> int:
        return math.prod(len(values) for values in self.grid.values())

    @property
    def ratios(self) -> list[int]:
        return sorted(self.grid["ratio"])

    def swept_keys(self) -> list[str]:
        """Grid keys with more than one value: the ones a trial name and the HParams table show."""
        return [k for k, values in self.grid.items() if len(values) > 1]


def _nearest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid: {', '.join(valid)})"


def _check_section(path: Path, section: str, table: Any, schema: dict[str, Key]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise BadInput(f"{path}: [{section}] must be a table")
    for key in table:
        if key not in schema:
            raise BadInput(f"{path}: unknown key {section}.{key}{_nearest(key, schema)}")
    return {k: schema[k].check(table[k], f"{path}: {section}.{k}") for k in table}


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such sweep file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{path}: not valid TOML ({e})") from None
    for key in data:
        if key not in TOP_LEVEL:
            raise BadInput(f"{path}: unknown key {key!r}{_nearest(key, TOP_LEVEL)}")

    grid_table = data.get("grid", {})
    if not isinstance(grid_table, dict):
        raise BadInput(f"{path}: [grid] must be a table")
    for key in grid_table:
        if key not in GRID_KEYS:
            raise BadInput(f"{path}: unknown key grid.{key}{_nearest(key, GRID_KEYS)}")
    grid: dict[str, list] = {}
    for key, values in grid_table.items():
        if not isinstance(values, list) or not values:
            raise BadInput(f"{path}: grid.{key}: expected a non-empty list such as [1e-3, 1e-4]")
        checked = [GRID_KEYS[key].check(v, f"{path}: grid.{key}[{i}]") for i, v in enumerate(values)]
        if len(set(checked)) != len(checked):
            raise BadInput(f"{path}: grid.{key}: a value is listed twice")
        grid[key] = checked
    for required in ("lr", "ratio"):
        if required not in grid:
            raise BadInput(f"{path}: missing key grid.{required} (a list of values to sweep)")

    train = {k: spec.default for k, spec in TRAIN_KEYS.items()}
    train.update(_check_section(path, "train", data.get("train", {}), TRAIN_KEYS))
    both = sorted(set(grid) & set(data.get("train", {})))
    if both:
        raise BadInput(f"{path}: {both[0]} is set in both [grid] and [train]; keep one")
    # A grid key absent from [grid] is swept over its single [train] value.
    for key in GRID_KEYS:
        grid.setdefault(key, [train.pop(key)] if key in train else [])
        train.pop(key, None)

    def section(name: str) -> dict[str, Any]:
        schema = SECTIONS[name]
        values = {k: spec.default for k, spec in schema.items()}
        values.update(_check_section(path, name, data.get(name, {}), schema))
        return values

    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise BadInput(f"{path}: name: expected a non-empty string")
    return Sweep(
        path=path,
        name=name,
        description=str(data.get("description", "")),
        grid=grid,
        train=train,
        scheduler=section("scheduler"),
        resources=section("resources"),
        run=section("run"),
    )
