"""Search spaces: the distribution tables a sweep file's [space] may hold, checked, and as Ray Tune domains.

    lr = {loguniform = [1e-5, 1e-2]}     log-uniform between the two ends
    dropout = {uniform = [0.1, 0.7]}     uniform between the two ends
    epochs = {randint = [10, 50]}        an integer, both ends included
    ratio = {choice = [30, 44, 58]}      one of the values: the same as the list [30, 44, 58]

A list is a grid axis under algorithm = "grid" and a categorical choice under "random" and "tpe".
"""

from __future__ import annotations

from dataclasses import dataclass

from dataset_builder.errors import BadInput

CONTINUOUS = ("loguniform", "uniform")
KINDS = (*CONTINUOUS, "randint", "choice")
# Keys whose values only make sense as a list: the ratios a dataset was built with, and (by their
# type) every key that takes names: loss, model, weights, freeze, optimizer, schedule, augment...
LIST_ONLY = ("ratio",)


@dataclass(frozen=True)
class Distribution:
    """A sampled value: `kind` between `low` and `high` (randint: both included)."""

    kind: str
    low: float
    high: float

    def to_toml(self) -> str:
        return f"{{{self.kind} = [{self.low!r}, {self.high!r}]}}"

    def as_list(self) -> list:
        return [self.kind, self.low, self.high]


def parse_distribution(table: dict, key: str, spec, where: str) -> Distribution | list:
    """A [space] table -> a Distribution, or a list for {choice = [...]}; one-line BadInput otherwise.
    `spec` is the key's schema (sweep_file.Key): each end is checked against its type and range."""
    if len(table) != 1 or next(iter(table)) not in KINDS:
        raise BadInput(f"{where}: expected a list or one of {{{' | '.join(f'{k} = [...]' for k in KINDS)}}}, got {table!r}")
    kind, values = next(iter(table.items()))
    if kind == "choice":
        if not isinstance(values, list) or not values:
            raise BadInput(f"{where}: choice takes a non-empty list such as [16, 32, 64]")
        return values
    if key in LIST_ONLY or spec.kind is str:
        raise BadInput(f"{where}: {kind} makes no sense for {key}: give a list (or {{choice = [...]}}) of its values")
    if not isinstance(values, list) or len(values) != 2:
        raise BadInput(f"{where}: {kind} takes [low, high], got {values!r}")
    if kind == "randint" and spec.kind is not int:
        raise BadInput(f"{where}: randint draws integers; {key} is a number: use uniform or loguniform")
    if kind in CONTINUOUS and spec.kind is int:
        raise BadInput(f"{where}: {kind} draws numbers; {key} is an integer: use randint")
    low, high = (spec.check(v, f"{where}.{kind}[{i}]") for i, v in enumerate(values))
    if low >= high:
        raise BadInput(f"{where}: low {low!r} must be below high {high!r}")
    if kind == "loguniform" and low <= 0:
        raise BadInput(f"{where}: loguniform needs low > 0, got {low!r}")
    return Distribution(kind, low, high)


def to_tune(value: Distribution | list):
    """A Distribution or a list of choices -> a Ray Tune domain."""
    from ray import tune

    if isinstance(value, list):
        return tune.choice(value)
    if value.kind == "loguniform":
        return tune.loguniform(value.low, value.high)
    if value.kind == "uniform":
        return tune.uniform(value.low, value.high)
    return tune.randint(value.low, value.high + 1)  # Tune's upper end is excluded; ours is included
