"""The report's pictures: the learning rate x ratio heatmap, the learning curves and the parallel coordinates."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..training.hyperparameters import format_setting  # noqa: E402
from ..training.metrics import lower_is_better  # noqa: E402
from .importance import LOG_SCALE  # noqa: E402
from .trials import Trial, group_label, grouping_keys  # noqa: E402


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def spread_text(row: pd.Series, metric: str, between: str = " ") -> str:
    """A configuration's `metric` over its repeats (results/repeats.py's row): "0.412 ± 0.006 (3)",
    the mean ± sd (how many repeats scored it); "0.412 (1)" for one, "–" for none."""
    count = int(row[f"{metric}_n"])
    if count < 2:
        return f"{fmt(row[metric])} ({count})" if count else "–"
    return f"{fmt(row[metric])}{between}± {fmt(row[f'{metric}_sd'])} ({count})"


def cell_text(row: pd.Series, metric: str) -> str:
    """A heatmap cell: the value (a configuration's mean ± sd over its repeats), and where the
    scheduler stopped the trial (its value is from fewer epochs)."""
    if f"{metric}_n" in row:
        return spread_text(row, metric, between="\n")
    stopped = f"\nstopped at {row['epochs_done']}" if row.get("status") == "stopped early" else ""
    return fmt(row[metric]) + stopped


# heatmap.png: panels (one per value of the grid's other swept key) side by side, wrapped past this many.
HEATMAP_PANELS_PER_ROW = 3


def heatmap(table: pd.DataFrame, metric: str, path: Path) -> None:
    others = grouping_keys(table)
    groups = list(table.groupby(others)) if others else [("all", table)]
    columns = min(len(groups), HEATMAP_PANELS_PER_ROW)
    rows = math.ceil(len(groups) / columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False, figsize=(
        1.2 + 1.3 * table["ratio"].nunique() * columns, rows * (2 + 0.6 * table["lr"].nunique())))
    # A row per configuration (results/repeats.py): each cell is the mean over its repeats.
    pooled = "mean " if f"{metric}_n" in table.columns else ""
    for ax, (key, group) in zip(axes.flat, groups):
        title = f"{pooled}{metric}" + (f" ({group_label(others, key)})" if others else "")
        heatmap_panel(fig, ax, group, metric, title)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)  # the last row's spare places
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def heatmap_panel(fig, ax, group: pd.DataFrame, metric: str, title: str) -> None:
    """One group's learning rate x ratio cells, each with its value (and where ASHA stopped it)."""
    # dropna=False: a learning rate or ratio whose every trial diverged keeps its (empty) cells.
    pivot = group.pivot_table(index="lr", columns="ratio", values=metric, aggfunc="first",
                              dropna=False).sort_index(ascending=False)
    image = ax.imshow(pivot.values.astype(float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(pivot.columns)), [f"{r}%" for r in pivot.columns])
    ax.set_yticks(range(len(pivot.index)), [format_setting("lr", lr) for lr in pivot.index])
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
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8)


# learning-curves.png: above SINGLE_PANEL_TRIALS trials, a grid over at most MAX_LR_PANELS learning
# rates gets a column per learning rate, a line per ratio and other value, coloured alike in every
# column (when tab20 has a colour for each). Any other sweep's chart draws its HIGHLIGHTED best
# trials (by select_metric, on validation) in colour, and the rest thin and grey, in one legend entry:
# 200 coloured lines and a 200-line legend read as nothing.
SINGLE_PANEL_TRIALS = 10
MAX_LR_PANELS = 6
MAX_COLUMN_COLOURS = 20
HIGHLIGHTED = 10
OTHERS_GREY = "0.75"


def highlight_colours() -> list:
    """tab10 with its grey made black: no highlighted curve may pass for one of the grey others."""
    return ["black" if i == 7 else colour for i, colour in enumerate(plt.get_cmap("tab10").colors)]


@dataclass
class CurveStyle:
    label: str | None  # its legend entry; None: one of the grey others, in their shared entry
    color: object
    linewidth: float = 1.5
    zorder: float = 2


def learning_curves(trials: list[Trial], path: Path, select: str = "val_map") -> list[str]:
    """Validation mAP and training loss per epoch, a line per trial; see SINGLE_PANEL_TRIALS.
    Returns the panels' titles."""
    lrs = sorted({t.config.get("lr") for t in trials}, reverse=True)
    by_lr = lr_columns_fit(trials, lrs)
    columns = [[t for t in trials if t.config.get("lr") == lr] for lr in lrs] if by_lr else [trials]
    styles = column_styles(trials) if by_lr else ranked_styles(trials, select)
    fig, axes = curve_axes(len(columns), by_lr)
    for c, column in enumerate(columns):
        ax_val, ax_loss = (axes[0][c], axes[1][c]) if by_lr else (axes[0][0], axes[0][1])
        for trial in column:
            plot_curves(ax_val, ax_loss, trial, styles[trial.name])
        where = f" (lr {format_setting('lr', lrs[c])})" if by_lr else " per epoch"
        ax_val.set(xlabel="epoch", ylabel="validation mAP", title="validation mAP" + where)
        ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss" + where)
        for ax in (ax_val, ax_loss):
            epoch_axis(ax)
    others = sum(style.label is None for style in styles.values())
    curve_legend(fig, list(styles.values()), others, None if by_lr else legend_title(len(trials), others, select))
    titles = [ax.get_title() for ax in axes.flat]
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return titles


def legend_title(count: int, others: int, select: str) -> str:
    return f"the {count - others} best of {count} by {select}" if others else f"best first, by {select}"


def lr_columns_fit(trials: list[Trial], lrs: list) -> bool:
    """A column per learning rate: a grid of more than SINGLE_PANEL_TRIALS trials over a few of them,
    with few enough curves in a column that each has a colour of its own."""
    curves = {curve_label(t, without_lr=True) for t in trials}
    return len(trials) > SINGLE_PANEL_TRIALS and 1 < len(lrs) <= MAX_LR_PANELS and len(curves) <= MAX_COLUMN_COLOURS


def column_styles(trials: list[Trial]) -> dict[str, CurveStyle]:
    """By trial name: a colour per curve label (ratio and other values), the same in every column."""
    labels = sorted({curve_label(t, without_lr=True) for t in trials}, key=natural_key)
    palette = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20").colors
    colour = dict(zip(labels, palette))
    by_label = {label: CurveStyle(label, colour[label]) for label in labels}  # legend order: the labels'
    in_label_order = sorted(trials, key=lambda t: natural_key(curve_label(t, without_lr=True)))
    return {t.name: by_label[curve_label(t, without_lr=True)] for t in in_label_order}


def ranked_styles(trials: list[Trial], select: str) -> dict[str, CurveStyle]:
    """By trial name, best first: the HIGHLIGHTED best in tab10's colours (the best drawn on top),
    labelled with their best select_metric; the others grey and thin."""
    ranked = best_first_trials(trials, select)
    palette = highlight_colours()
    styles = {}
    for rank, trial in enumerate(ranked):
        if rank < HIGHLIGHTED:
            score = fmt(trial.last.get(f"best_{select}"))
            styles[trial.name] = CurveStyle(f"{trial.name} ({score})", palette[rank], 1.6, 3 + HIGHLIGHTED - rank)
        else:
            styles[trial.name] = CurveStyle(None, OTHERS_GREY, 0.6, 1)
    return styles


def best_first_trials(trials: list[Trial], select: str) -> list[Trial]:
    """The trials by their best select_metric, best first; those without a finite one last."""
    sign = 1 if lower_is_better(select) else -1

    def rank(trial: Trial) -> tuple:
        score = trial.last.get(f"best_{select}")
        scored = score is not None and math.isfinite(score)
        return (not scored, sign * score if scored else 0.0)

    return sorted(trials, key=rank)


def curve_axes(columns: int, by_lr: bool):
    """A validation row above a loss row, a column per learning rate; or the two side by side."""
    if by_lr:
        return plt.subplots(2, columns, figsize=(2.5 + 4.2 * columns, 8), squeeze=False, sharex="all",
                            sharey="row", layout="constrained")
    return plt.subplots(1, 2, figsize=(15, 4.8), squeeze=False, layout="constrained")


def plot_curves(ax_val, ax_loss, trial: Trial, style: CurveStyle) -> None:
    epochs = [r["epoch"] for r in trial.rows]
    line = {"color": style.color, "linewidth": style.linewidth, "zorder": style.zorder}
    if len(epochs) == 1:  # a line of one point draws nothing (a trial ASHA stopped after its first epoch)
        line |= {"marker": "o", "markersize": 2 + style.linewidth}
    ax_val.plot(epochs, [r.get("val_map") for r in trial.rows], **line)
    ax_loss.plot(epochs, [r.get("train_loss") for r in trial.rows], **line)


def epoch_axis(ax) -> None:
    """Whole epochs (1, 2, 3, never 1.5), and room on either side of a single one."""
    low, high = ax.get_xlim()
    if high - low < 1:
        centre = round((low + high) / 2)
        ax.set_xlim(centre - 0.5, centre + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def curve_legend(fig, styles: list[CurveStyle], others: int, title: str | None) -> None:
    """Outside the panels, on the right, so that no curve hides behind it: an entry per label, in
    the styles' order, and one grey entry for the `others`."""
    from matplotlib.lines import Line2D

    shown = {s.label: s for s in styles if s.label is not None}
    handles = [Line2D([], [], color=s.color, linewidth=s.linewidth) for s in shown.values()]
    labels = list(shown)
    if others:
        handles.append(Line2D([], [], color=OTHERS_GREY, linewidth=0.6))
        labels.append(f"{others} other trials")
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title=title, title_fontsize=8)


def curve_label(trial: Trial, without_lr: bool) -> str:
    """The trial's name, less its learning rate when the column already says it."""
    if not without_lr:
        return trial.name
    return ",".join(part for part in trial.name.split(",") if not part.startswith("lr=")) or trial.name


def natural_key(label: str) -> list:
    """r=30 before r=100: numbers inside a label compare as numbers."""
    return [float(part) if part.replace(".", "", 1).isdigit() else part for part in re.split(r"(\d+(?:\.\d+)?)", label)]


def parallel_coordinates(table: pd.DataFrame, params: list[str], metric: str, path: Path) -> None:
    """One line per trial across the swept parameters to `metric`, coloured by it, the best drawn
    last (on top); past HIGHLIGHTED trials the others thin and faint, so the best stand out. Each
    axis spans the values the trials took (lr, weight_decay and backbone_lr_scale on a log scale; a
    categorical value at its rank among them, each named)."""
    scored = table.dropna(subset=[metric])
    scored = scored.sort_values(metric, ascending=not lower_is_better(metric))  # worst first, best on top
    axes_keys = [*params, metric]
    axes = {key: axis_positions(scored[key], key, categorical=key in params) for key in axes_keys}
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(axes_keys), 4.5))
    values = scored[metric].astype(float)
    norm = plt.Normalize(values.min(), values.max())
    faint = max(len(scored) - HIGHLIGHTED, 0)  # the first `faint` lines drawn: all but the best
    for i in range(len(scored)):
        shade = norm(values.iloc[i]) if values.max() > values.min() else 0.5
        thin = i < faint
        ax.plot(range(len(axes_keys)), [axes[k][0].iloc[i] for k in axes_keys], color=plt.get_cmap("viridis")(shade),
                linewidth=0.7 if thin else 1.8, alpha=0.35 if thin else 0.95)
    for x, key in enumerate(axes_keys):
        ax.axvline(x, color="grey", linewidth=0.8)
        label_axis(ax, x, axes[key][1])
    ax.set_xticks(range(len(axes_keys)), axes_keys)
    ax.set_yticks([])
    ax.set_ylim(-0.18, 1.14)
    bold = f" (the {HIGHLIGHTED} best in bold)" if faint else ""
    ax.set_title(f"{len(scored)} trials{bold}: swept parameters -> {metric}")
    fig.colorbar(plt.cm.ScalarMappable(cmap="viridis", norm=norm), ax=ax, label=metric)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def label_axis(ax, x: int, ticks: dict[float, str]) -> None:
    """An axis' values where they sit: its ends below and above it, any level between beside it."""
    for place, text in ticks.items():
        if place == 0:
            ax.text(x, -0.08, text, ha="center", va="top", fontsize=8)
        elif place == 1:
            ax.text(x, 1.04, text, ha="center", va="bottom", fontsize=8)
        else:
            ax.text(x + 0.04, place, text, ha="left", va="center", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1})


def axis_positions(values: pd.Series, key: str, categorical: bool) -> tuple[pd.Series, dict[float, str]]:
    """Each trial's place on the key's axis (0 to 1), and the values printed along it by place. A
    parameter of a few values (or words) sits at its rank among them, every level named; a range
    spans its lowest to highest value (log-scaled for LOG_SCALE keys), named at its ends."""
    import numpy as np

    if categorical and (values.dtype == object or values.nunique() <= 6):
        levels = sorted(values.unique().tolist(), key=lambda v: (isinstance(v, str), v))
        place = {v: i / max(len(levels) - 1, 1) for i, v in enumerate(levels)}
        return values.map(place).astype(float), {place[v]: format_setting(key, v) for v in levels}
    log = key in LOG_SCALE and (values.astype(float) > 0).all()
    numbers = np.log10(values.astype(float)) if log else values.astype(float)
    low, high = float(numbers.min()), float(numbers.max())
    places = (numbers - low) / (high - low) if high > low else numbers * 0 + 0.5
    ends = (10 ** low, 10 ** high) if log else (low, high)
    return places, {0.0: format_setting(key, ends[0]), 1.0: format_setting(key, ends[1])}
