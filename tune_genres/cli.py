"""`tune-genres`: one subcommand per module in tune_genres/commands/ (same pattern as dataset-builder)."""

from __future__ import annotations

import argparse
import importlib
import sys

from dataset_builder.errors import BadInput

COMMAND_MODULES = ["sweep", "report", "evaluate", "predict"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tune-genres",
        description="Sweep the study's mini-VGG over learning rate x poster size on a Ray cluster, "
        "and report, evaluate and use the trained models.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"tune_genres.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except BadInput as e:
        print(f"tune-genres: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tune-genres: interrupted; rerun with --resume to finish the sweep", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
