"""The report's pictures: the learning rate x ratio heatmap and the learning curves."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..training.hyperparameters import format_lr  # noqa: E402
from .trials import Trial, grouping_keys  # noqa: E402


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def heatmap(table: pd.DataFrame, metric: str, path: Path) -> None:
    others = grouping_keys(table)
    groups = list(table.groupby(others)) if others else [("all", table)]
    fig, axes = plt.subplots(1, len(groups), figsize=(1.2 + 1.3 * table["ratio"].nunique() * len(groups), 1 + 0.6 * table["lr"].nunique() + 1), squeeze=False)
    for ax, (key, group) in zip(axes[0], groups):
        pivot = group.pivot_table(index="lr", columns="ratio", values=metric, aggfunc="first").sort_index(ascending=False)
        image = ax.imshow(pivot.values.astype(float), cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(pivot.columns)), [f"{r}%" for r in pivot.columns])
        ax.set_yticks(range(len(pivot.index)), [format_lr(lr) for lr in pivot.index])
        ax.set_xlabel("shrink ratio")
        ax.set_ylabel("learning rate")
        for (i, j), value in pd.DataFrame(pivot.values).stack().items():
            ax.text(j, i, fmt(value), ha="center", va="center", color="white", fontsize=8)
        ax.set_title(f"{metric}" + (f" ({key})" if others else ""))
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def learning_curves(trials: list[Trial], path: Path) -> None:
    fig, (ax_val, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    for trial in trials:
        epochs = [r["epoch"] for r in trial.rows]
        label = trial.name
        ax_val.plot(epochs, [r.get("val_map") for r in trial.rows], label=label)
        ax_loss.plot(epochs, [r.get("train_loss") for r in trial.rows], label=label)
    ax_val.set(xlabel="epoch", ylabel="validation mAP", title="validation mAP per epoch")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss per epoch")
    ax_val.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
