"""`tune-genres weights list | fetch NAME`: which models' ImageNet weights are on this machine, and
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
        description="`weights list`: each model, where its ImageNet weights come from and whether they are here. "
        "`weights fetch NAME`: download torchvision's weights for NAME into the torch hub cache "
        "($TORCH_HOME/hub/checkpoints), once, on a machine with internet; sweeps read them from there.",
    )
    p.add_argument("action", choices=("list", "fetch"))
    pretrained = [name for name, info in MODELS.items() if info.weights is not None]
    p.add_argument("name", nargs="?", metavar="NAME", help=f"with fetch: one of {', '.join(pretrained)}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.pretrained import fetch_weights, weights_source

    if args.action == "list":
        print("| model | weights from | here | file, or how to get them |")
        print("|---|---|---|---|")
        for name, info in MODELS.items():
            if info.weights is None:
                print(f"| {name} | none (trained from scratch) | - | - |")
                continue
            source = weights_source(name)
            print(f"| {name} | {info.weights} | {'yes' if source.here else 'no'} | "
                  f"{source.path if source.here else source.how_to_get} |")
        return 0
    if args.name is None:
        raise BadInput("weights fetch: name the model, such as: tune-genres weights fetch resnet18")
    if args.name not in MODELS:
        close = difflib.get_close_matches(str(args.name), MODEL_NAMES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(MODEL_NAMES)}"
        raise BadInput(f"weights fetch {args.name}: unknown model; {hint}")
    if MODELS[args.name].weights is None:
        raise BadInput(f"weights fetch {args.name}: {args.name} has no pretrained weights")
    print(f"{args.name}: ImageNet weights at {fetch_weights(args.name)}")
    return 0
