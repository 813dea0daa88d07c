"""`dataset-builder`: one subcommand per module in dataset_builder/commands/."""

from __future__ import annotations

import argparse
import sys

from . import subcommands

# Subcommand modules, in the order `--help` lists them (the order of the data flow).
COMMAND_MODULES = [
    "synthetic",
    "import_posters",
    "imdb_dumps",
    "imdb",
    "eda",
    "build",
    "info",
]


def make_parser() -> argparse.ArgumentParser:
    return subcommands.make_parser(
        "dataset-builder",
        "Turn poster sources into a built dataset: uint8 arrays at every shrink ratio, labels and splits.",
        "dataset_builder.commands",
        COMMAND_MODULES,
    )


def main(argv: list[str] | None = None) -> int:
    return subcommands.run(make_parser(), argv, "nothing half-written was left in place")


if __name__ == "__main__":
    sys.exit(main())
