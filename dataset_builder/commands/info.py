"""`dataset-builder info`: a built dataset's manifest as a short summary, once open_dataset has
checked that the dataset means what the manifest says (`--verify` adds every array's sha256)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..store import CHECKED, MANIFEST, open_dataset


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="summarise and check a built dataset",
        description="Print a built dataset's manifest as a short summary, after checking what every reader checks: "
        "each array readable with the shape and dtype the manifest records, labels 0/1 with a genre per row, ids "
        "unique, split indices in range, the splits disjoint and together every row once. A fault is exit status 2 "
        "and one line naming the file.",
    )
    p.add_argument("dataset", type=Path, metavar="OUT", help="built dataset folder")
    p.add_argument("--verify", action="store_true", help="also recompute every array's sha256 (reads everything)")
    p.set_defaults(func=run)


def describe(dataset) -> str:
    m = dataset.manifest
    lines = [
        f"dataset {dataset.root}  (format {m['format_version']}, built {m.get('created', '?')}, seed {m['seed']})",
        f"source  {m['source']['raw']}  ({m['source']['usable_posters']} usable posters)",
        f"titles  {m['count']}: " + ", ".join(f"{n} {name}" for name, n in m["splits"].items()),
        f"genres  {len(m['genres'])} by {m['genre_selection']!r}:",
    ]
    for genre, counts in m["genre_counts"].items():
        per_split = ", ".join(f"{name} {counts[name]}" for name in m["splits"])
        lines.append(f"  {genre:<14} {counts['all']:>6}  ({per_split})")
    lines.append("ratios  (percent: width x height)")
    for ratio in dataset.ratios:
        entry = m["ratios"][str(ratio)]
        w, h = entry["size"]
        note = f"  upscaled for {entry['upscaled_fraction']:.0%} of posters" if entry["upscaled"] else ""
        lines.append(f"  {ratio:>3}%  {w} x {h}{note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    dataset = open_dataset(args.dataset)
    if args.verify:
        dataset.verify()
    print(describe(dataset))
    if args.verify:
        print(f"verified: every array matches its sha256 in {MANIFEST}; {CHECKED}")
    else:
        print(f"checked: {CHECKED} (--verify also recomputes every array's sha256)")
    return 0
