"""`tune-genres weights list [NAME] | fetch NAME`: which models' ImageNet weights are on this machine, and
getting torchvision's into the local torch hub cache (where there is internet: no sweep ever downloads)."""

from __future__ import annotations

import argparse
import difflib

from dataset_builder.errors import BadInput

from ..models.catalog import MODEL_NAMES, MODELS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "weights",
        help="list the models' ImageNet weights on this machine, or fetch torchvision's",
        description="`weights list [NAME]`: each model (or NAME alone), where its ImageNet weights come from and whether they are here. "
        "`weights fetch NAME`: download torchvision's weights for NAME into the torch hub cache "
        "($TORCH_HOME/hub/checkpoints), once, on a machine with internet; sweeps read them from there.",
    )
    p.add_argument("action", choices=("list", "fetch"))
    pretrained = [name for name, info in MODELS.items() if info.weights is not None]
    p.add_argument("name", nargs="?", metavar="NAME",
                   help=f"with list: that model alone; with fetch: one of {', '.join(pretrained)}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.pretrained import fetch_weights

    if args.action == "list":
        print_weights_table([known_model(args.name, "weights list")] if args.name is not None else list(MODELS))
        return 0
    if args.name is None:
        raise BadInput("weights fetch: name the model, such as: tune-genres weights fetch resnet18")
    name = known_model(args.name, "weights fetch")
    if MODELS[name].weights is None:
        raise BadInput(f"weights fetch {name}: {name} has no pretrained weights")
    print(f"{name}: ImageNet weights at {fetch_weights(name)}")
    return 0


def known_model(name: str, command: str) -> str:
    """`name` when the catalog knows it; else BadInput naming the nearest known name."""
    if name not in MODELS:
        close = difflib.get_close_matches(str(name), MODEL_NAMES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(MODEL_NAMES)}"
        raise BadInput(f"{command} {name}: unknown model; {hint}")
    return name


def print_weights_table(names: list[str]) -> None:
    """A Markdown row per model: where its ImageNet weights come from, whether they are here, and
    the file, or the command that gets them."""
    from ..models.pretrained import weights_source

    print("| model | weights from | here | file, or how to get them |")
    print("|---|---|---|---|")
    for name in names:
        info = MODELS[name]
        if info.weights is None:
            print(f"| {name} | none (trained from scratch) | - | - |")
            continue
        source = weights_source(name)
        print(f"| {name} | {info.weights} | {'yes' if source.here else 'no'} | "
              f"{source.path if source.here else source.how_to_get} |")
