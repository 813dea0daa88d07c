"""The shape both command-line tools share: one module per subcommand, BadInput as one line.

Each command module has `register(subparsers)`, which adds its parser and sets `func` to its
`run(args)`; `run` returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import BadInput


def make_parser(prog: str, description: str, package: str, modules: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        importlib.import_module(f"{package}.{name}").register(sub)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None, interrupted: str = "") -> int:
    """Parse and run; user-fixable errors are one line on stderr and exit status 2; Ctrl-C is one
    line (what the interrupted command says it left, else `interrupted`) and exit status 130."""
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except BadInput as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        left = str(e) or interrupted
        print(f"{parser.prog}: interrupted" + (f"; {left}" if left else ""), file=sys.stderr)
        return 130
