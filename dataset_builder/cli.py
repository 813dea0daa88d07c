"""`dataset-builder`: one subcommand per module in dataset_builder/commands/.

Each command module has `register(subparsers)`, which adds its parser and sets `func` to its
`run(args)`. BadInput from anywhere becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import BadInput

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
    parser = argparse.ArgumentParser(
        prog="dataset-builder",
        description="Turn poster sources into a built dataset: uint8 arrays at every shrink ratio, "
        "labels and splits.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"dataset_builder.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except BadInput as e:
        print(f"dataset-builder: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dataset-builder: interrupted; nothing half-written was left in place", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
