"""The report's choices: which trial is best, by the one direction table of training/metrics.py."""

from __future__ import annotations

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
    from tune_genres.results.trials import merge_rows

    # Run 1 reached epoch 8 (checkpointed at 5), died; run 2 restored epoch 5 and is at epoch 6 now.
    logged = [{"epoch": e, "run": 1} for e in range(1, 9)] + [{"epoch": 6, "run": 2}]
    history = [{"epoch": e, "run": 1} for e in range(1, 6)]
    rows = merge_rows(logged, history)
    assert [(r["epoch"], r["run"]) for r in rows] == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 2)]
    # A row only the checkpoint kept (result.json lost it) still counts.
    assert [r["epoch"] for r in merge_rows(logged[:3], history)] == [1, 2, 3, 4, 5]


def test_a_heatmap_cell_says_where_the_scheduler_stopped_its_trial():
    from tune_genres.results.charts import cell_text

    stopped = pd.Series({"val_map": 0.31234, "status": "stopped early", "epochs_done": 3})
    finished = pd.Series({"val_map": 0.4, "status": "finished", "epochs_done": 50})
    assert cell_text(stopped, "val_map") == "0.312\nstopped at 3"
    assert cell_text(finished, "val_map") == "0.400"


def test_learning_curves_of_a_large_grid_get_a_column_per_learning_rate(tmp_path):
    from pathlib import Path

    from tune_genres.results.charts import curve_label, learning_curves
    from tune_genres.results.trials import Trial

    def trial(lr: str, ratio: int) -> Trial:
        rows = [{"epoch": e, "val_map": 0.3 + e / 100, "train_loss": 1.4 - e / 10} for e in (1, 2, 3)]
        return Trial(Path("."), f"lr={lr},r={ratio}", {"lr": float(lr), "ratio": ratio}, rows)

    grid = [trial(lr, r) for lr in ("1e-2", "1e-3", "1e-4") for r in (30, 44, 58, 100)]
    titles = learning_curves(grid, tmp_path / "grid.png")
    assert titles[:3] == ["validation mAP (lr 1e-2)", "validation mAP (lr 1e-3)", "validation mAP (lr 1e-4)"]
    assert len(titles) == 6 and (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert curve_label(grid[3], without_lr=True) == "r=100"
    # A small sweep keeps one panel of each, a line per trial named in full.
    assert learning_curves(grid[:4], tmp_path / "small.png") == ["validation mAP per epoch", "training loss per epoch"]
