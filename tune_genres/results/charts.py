"""The report's pictures: the learning rate x ratio heatmap and the learning curves."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..training.hyperparameters import format_lr  # noqa: E402
from .importance import LOG_SCALE  # noqa: E402
from .trials import Trial, group_label, grouping_keys  # noqa: E402


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def cell_text(row: pd.Series, metric: str) -> str:
    """A heatmap cell: the value, and where the scheduler stopped the trial (its value is from fewer epochs)."""
    stopped = f"\nstopped at {row['epochs_done']}" if row.get("status") == "stopped early" else ""
    return fmt(row[metric]) + stopped


def heatmap(table: pd.DataFrame, metric: str, path: Path) -> None:
    others = grouping_keys(table)
    groups = list(table.groupby(others)) if others else [("all", table)]
    fig, axes = plt.subplots(1, len(groups), figsize=(1.2 + 1.3 * table["ratio"].nunique() * len(groups), 1 + 0.6 * table["lr"].nunique() + 1), squeeze=False)
    for ax, (key, group) in zip(axes[0], groups):
        # dropna=False: a learning rate or ratio whose every trial diverged keeps its (empty) cells.
        pivot = group.pivot_table(index="lr", columns="ratio", values=metric, aggfunc="first",
                                  dropna=False).sort_index(ascending=False)
        image = ax.imshow(pivot.values.astype(float), cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(pivot.columns)), [f"{r}%" for r in pivot.columns])
        ax.set_yticks(range(len(pivot.index)), [format_lr(lr) for lr in pivot.index])
        ax.set_xlabel("shrink ratio")
        ax.set_ylabel("learning rate")
        rows = {(row["lr"], row["ratio"]): row for _, row in group.iterrows()}
        for i, lr in enumerate(pivot.index):
            for j, ratio in enumerate(pivot.columns):
                if (lr, ratio) in rows:
                    # Dark text on viridis' bright (yellow) end, white on its dark end.
                    bright = image.norm(pivot.values[i, j]) > 0.6
                    ax.text(j, i, cell_text(rows[lr, ratio], metric), ha="center", va="center",
                            color="black" if bright else "white", fontsize=8)
        ax.set_title(f"{metric}" + (f" ({group_label(others, key)})" if others else ""))
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


# learning-curves.png: above this many trials, a column per learning rate (when there are at most MAX_LR_PANELS).
SINGLE_PANEL_TRIALS = 10
MAX_LR_PANELS = 6


def learning_curves(trials: list[Trial], path: Path) -> list[str]:
    """Validation mAP and training loss per epoch, a line per trial. A sweep of more than
    SINGLE_PANEL_TRIALS trials over a few learning rates gets a column per learning rate (a line per
    ratio and other value, coloured alike in every column), so that 30 lines stay readable.
    Returns the panels' titles."""
    lrs = sorted({t.config.get("lr") for t in trials}, reverse=True)
    by_lr = len(trials) > SINGLE_PANEL_TRIALS and 1 < len(lrs) <= MAX_LR_PANELS
    columns = [[t for t in trials if t.config.get("lr") == lr] for lr in lrs] if by_lr else [trials]
    labels = sorted({curve_label(t, by_lr) for t in trials}, key=natural_key)
    colour = dict(zip(labels, plt.get_cmap("tab10" if len(labels) <= 10 else "tab20").colors))
    width = 4.2 * len(columns) if by_lr else 12
    fig, axes = plt.subplots(2 if by_lr else 1, len(columns) if by_lr else 2, figsize=(width, 8 if by_lr else 4.5),
                             squeeze=False, sharex="all" if by_lr else "none", sharey="row" if by_lr else "none")
    for c, column in enumerate(columns):
        ax_val, ax_loss = (axes[0][c], axes[1][c]) if by_lr else (axes[0][0], axes[0][1])
        for trial in column:
            epochs = [r["epoch"] for r in trial.rows]
            label = curve_label(trial, by_lr)
            ax_val.plot(epochs, [r.get("val_map") for r in trial.rows], label=label, color=colour[label])
            ax_loss.plot(epochs, [r.get("train_loss") for r in trial.rows], label=label, color=colour[label])
        where = f" (lr {format_lr(lrs[c])})" if by_lr else " per epoch"
        ax_val.set(xlabel="epoch", ylabel="validation mAP", title="validation mAP" + where)
        ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss" + where)
    handles = {line.get_label(): line for ax in axes.flat for line in ax.get_lines()}
    axes[0][0].legend([handles[k] for k in labels if k in handles], [k for k in labels if k in handles],
                      fontsize=7, ncol=2)
    titles = [ax.get_title() for ax in axes.flat]
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return titles


def curve_label(trial: Trial, without_lr: bool) -> str:
    """The trial's name, less its learning rate when the column already says it."""
    if not without_lr:
        return trial.name
    return ",".join(part for part in trial.name.split(",") if not part.startswith("lr=")) or trial.name


def natural_key(label: str) -> list:
    """r=30 before r=100: numbers inside a label compare as numbers."""
    return [float(part) if part.replace(".", "", 1).isdigit() else part for part in re.split(r"(\d+(?:\.\d+)?)", label)]


def axis_label(key: str, value) -> str:
    """An axis end as a reader wants it: 3 significant digits, lr as 9.06e-3."""
    if isinstance(value, str):
        return value
    return format_lr(float(f"{value:.3g}")) if key == "lr" else f"{value:.3g}"


def parallel_coordinates(table: pd.DataFrame, params: list[str], metric: str, path: Path) -> None:
    """One line per trial across the swept parameters to `metric`, coloured by it. Each axis spans
    the values the trials took (lr, weight_decay and backbone_lr_scale on a log scale; a
    categorical value at its rank among them)."""
    import numpy as np

    scored = table.dropna(subset=[metric])
    axes_keys = [*params, metric]
    positions, labels = {}, {}
    for key in axes_keys:
        values = scored[key]
        if key in params and (values.dtype == object or values.nunique() <= 6):
            levels = sorted(values.unique().tolist(), key=lambda v: (isinstance(v, str), v))
            positions[key] = values.map({v: i / max(len(levels) - 1, 1) for i, v in enumerate(levels)}).astype(float)
            labels[key] = (axis_label(key, levels[0]), axis_label(key, levels[-1]))
            continue
        log = key in LOG_SCALE and (values.astype(float) > 0).all()
        numbers = np.log10(values.astype(float)) if log else values.astype(float)
        low, high = float(numbers.min()), float(numbers.max())
        positions[key] = (numbers - low) / (high - low) if high > low else numbers * 0 + 0.5
        shown = (10 ** low, 10 ** high) if log else (low, high)
        labels[key] = tuple(axis_label(key, v) for v in shown)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(axes_keys), 4.5))
    colours = plt.get_cmap("viridis")
    values = scored[metric].astype(float)
    span = (values.min(), values.max())
    for i in range(len(scored)):
        value = values.iloc[i]
        shade = (value - span[0]) / (span[1] - span[0]) if span[1] > span[0] else 0.5
        ax.plot(range(len(axes_keys)), [positions[k].iloc[i] for k in axes_keys], color=colours(shade), alpha=0.8)
    for x, key in enumerate(axes_keys):
        ax.axvline(x, color="grey", linewidth=0.8)
        ax.text(x, -0.08, labels[key][0], ha="center", va="top", fontsize=8)
        ax.text(x, 1.04, labels[key][1], ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(axes_keys)), axes_keys)
    ax.set_yticks([])
    ax.set_ylim(-0.18, 1.14)
    ax.set_title(f"{len(scored)} trials: swept parameters -> {metric}")
    mappable = plt.cm.ScalarMappable(cmap=colours, norm=plt.Normalize(*span))
    fig.colorbar(mappable, ax=ax, label=metric)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
