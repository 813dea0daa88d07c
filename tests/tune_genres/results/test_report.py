"""The report: which trial is best (by training/metrics.py's one direction per metric), its charts, and what it writes for a seed sweep or a diverged grid."""

from __future__ import annotations

import warnings

import pandas as pd

from tune_genres.results.report import best_trial
from tune_genres.training.metrics import lower_is_better, mode


def test_every_metric_has_one_direction_whatever_its_split():
    assert [mode(k) for k in ("val_loss", "test_loss", "best_val_loss", "val_hamming_loss", "train_loss")] == ["min"] * 5
    assert [mode(k) for k in ("val_map", "test_roc_auc_macro", "best_val_map", "val_subset_accuracy")] == ["max"] * 4
    assert not lower_is_better("val_f1_macro")


def test_the_best_trial_by_a_loss_is_the_one_with_the_lowest_loss():
    table = pd.DataFrame({"trial": ["a", "b", "c"], "val_loss": [0.9, 0.3, float("nan")], "val_map": [0.5, 0.4, 0.6]})
    assert best_trial(table, "val_loss")["trial"] == "b"
    assert best_trial(table, "val_map")["trial"] == "c"


def test_rows_of_an_abandoned_run_go_once_a_restored_run_logs_past_its_checkpoint():
    from tune_genres.results.trial_record import add_result, merge_history, new_record, record_from_rows

    # Run 1 reached epoch 8 (checkpointed at 5), died; run 2 restored epoch 5 and is at epoch 6 now.
    logged = [{"epoch": e, "run": 1} for e in range(1, 9)] + [{"epoch": 6, "run": 2}]
    history = [{"epoch": e, "run": 1} for e in range(1, 6)]
    record = record_from_rows("t", {"epochs": 10}, logged)
    merge_history(record, history)
    assert [(r["epoch"], r["run"]) for r in record["rows"]] == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 2)]
    # Rows only the checkpoint kept (the driver died before recording them) still count.
    record = record_from_rows("t", {"epochs": 10}, logged[:3])
    merge_history(record, history)
    assert [r["epoch"] for r in record["rows"]] == [1, 2, 3, 4, 5] and record["epochs_done"] == 5
    # A driver that restores the trial from that checkpoint records its rows after them.
    record = new_record("t", {"epochs": 10})
    merge_history(record, history)
    add_result(record, {"epoch": 6, "run": 2})
    assert [r["epoch"] for r in record["rows"]] == [1, 2, 3, 4, 5, 6] and record["epochs_done"] == 6


def test_a_heatmap_cell_says_where_the_scheduler_stopped_its_trial():
    from tune_genres.results.charts import cell_text

    stopped = pd.Series({"val_map": 0.31234, "status": "stopped early", "epochs_done": 3})
    finished = pd.Series({"val_map": 0.4, "status": "finished", "epochs_done": 50})
    assert cell_text(stopped, "val_map") == "0.312\nstopped at 3"
    assert cell_text(finished, "val_map") == "0.400"


def test_learning_curves_of_a_large_grid_get_a_column_per_learning_rate(tmp_path):
    from pathlib import Path

    from tune_genres.results.charts import curve_label, learning_curves
    from tune_genres.results.trial_record import record_from_rows
    from tune_genres.results.trials import Trial

    def trial(lr: str, ratio: int) -> Trial:
        rows = [{"epoch": e, "val_map": 0.3 + e / 100, "train_loss": 1.4 - e / 10} for e in (1, 2, 3)]
        return Trial(Path(f"lr={lr},r={ratio}"), record_from_rows(f"lr={lr},r={ratio}", {"lr": float(lr), "ratio": ratio}, rows))

    grid = [trial(lr, r) for lr in ("1e-2", "1e-3", "1e-4") for r in (30, 44, 58, 100)]
    titles = learning_curves(grid, tmp_path / "grid.png")
    assert titles[:3] == ["validation mAP (lr 1e-2)", "validation mAP (lr 1e-3)", "validation mAP (lr 1e-4)"]
    assert len(titles) == 6 and (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert curve_label(grid[3], without_lr=True) == "r=100"
    # A small sweep keeps one panel of each, a line per trial named in full.
    assert learning_curves(grid[:4], tmp_path / "small.png") == ["validation mAP per epoch", "training loss per epoch"]


def write_experiment(exp, trials: dict[str, tuple[dict, list[float]]]) -> None:
    """Trial folders as Ray leaves them: params.json, and result.json's rows as the trainable logs
    them, from {name: (params, val_map per epoch)}."""
    import json
    import math

    for name, (params, val_maps) in trials.items():
        folder = exp / name
        folder.mkdir(parents=True)
        (folder / "params.json").write_text(json.dumps({**params, "epochs": len(val_maps)}))
        rows, best, best_epoch = [], float("nan"), 0
        for epoch, value in enumerate(val_maps, 1):
            if math.isfinite(value) and not value <= best:
                best, best_epoch = value, epoch
            rows.append({"epoch": epoch, "training_iteration": epoch, "val_map": value, "best_val_map": best,
                         "best_epoch": best_epoch, "train_loss": 1.4 - epoch / 10})
        (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_seed_sweeps_report_ranks_its_trials_and_draws_no_one_cell_heatmaps(tmp_path):
    from tune_genres.results.report import write_report

    exp = tmp_path / "seeds"
    write_experiment(exp, {f"lr=5e-4,r=30,seed={seed}": ({"lr": 5e-4, "ratio": 30, "seed": seed}, [0.3, peak])
                           for seed, peak in ((0, 0.44), (1, 0.43), (2, 0.45))})
    (exp / "heatmap.png").write_bytes(b"an earlier report's")

    markdown = write_report(exp)["markdown"]
    assert "## The 3 best of 3 trials by val_map" in markdown and "| lr \\ ratio |" not in markdown
    ranked = [line.split("|")[2].strip() for line in markdown.splitlines() if line[:5] in ("| 1 |", "| 2 |", "| 3 |")]
    assert ranked == ["lr=5e-4,r=30,seed=2", "lr=5e-4,r=30,seed=0", "lr=5e-4,r=30,seed=1"]
    assert not (exp / "heatmap.png").exists()


def test_an_experiment_whose_every_trial_diverged_still_gets_its_report(tmp_path):
    from tune_genres.results.report import write_report

    exp = tmp_path / "too-fast"
    nan = float("nan")
    write_experiment(exp, {f"lr={lr},r={r}": ({"lr": lr, "ratio": r}, [nan, nan]) for lr in (1e-2, 5e-3) for r in (30, 44)})

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # matplotlib's, drawing an empty heatmap
        markdown = write_report(exp)["markdown"]
    assert "Never produced a finite val_map (diverged; scored NaN, never chosen): " in markdown
    assert "No trial has a finite val_map yet: none is chosen." in markdown
    assert "Not enough to say: 0 trial(s) with a finite best val_map" in markdown
    assert (exp / "results.md").is_file() and (exp / "heatmap.png").is_file()
    assert not (exp / "parallel-coordinates.png").exists()  # no scored trial to draw a line for
