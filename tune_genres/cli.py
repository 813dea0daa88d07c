"""`tune-genres`: one subcommand per module in tune_genres/commands/ (same shape as dataset-builder)."""

from __future__ import annotations

import argparse
import sys

from dataset_builder import subcommands

COMMAND_MODULES = ["sweep", "report", "compare", "ensemble", "evaluate", "predict", "weights"]


def make_parser() -> argparse.ArgumentParser:
    return subcommands.make_parser(
        "tune-genres",
        "Sweep the study's mini-VGG (or a pretrained backbone) over learning rate x poster size and more on a Ray cluster, "
        "and report, evaluate and use the trained models.",
        "tune_genres.commands",
        COMMAND_MODULES,
    )


def main(argv: list[str] | None = None) -> int:
    return subcommands.run(make_parser(), argv)  # an interrupted sweep says itself how to go on


if __name__ == "__main__":
    sys.exit(main())
