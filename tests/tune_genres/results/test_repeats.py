"""Repeats of a configuration (a grid's num_samples, trials that differ only by seed): the report's
lr x ratio cells show their mean ± sd, and the configuration with the best mean is chosen."""

from __future__ import annotations

import csv
import statistics

from support.made_up_experiment import write_made_up_repeats
from tune_genres.results.report import write_report

# The best single trial (lr 1e-4, seed 2: 0.45) belongs to the configuration with the worse mean.
PEAKS = {1e-3: [0.40, 0.41, 0.43], 1e-4: [0.38, 0.39, 0.45]}


def spread(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} ({len(values)})"


def test_a_repeated_grids_cells_are_mean_and_sd_and_its_mean_chooses(tmp_path):
    exp = tmp_path / "repeated"
    write_made_up_repeats(exp, PEAKS)

    report = write_report(exp)
    markdown = report["markdown"]
    assert spread(PEAKS[1e-3]) == "0.413 ± 0.015 (3)"
    assert f"| 1e-3 | {spread(PEAKS[1e-3])} |" in markdown and f"| 1e-4 | {spread(PEAKS[1e-4])} |" in markdown
    assert "## seed=" not in markdown  # repeats share a cell, not a table per seed
    assert ("Best configuration, chosen on validation by its mean **val_map** (over its 3 repeats, seeds 0, 1, 2): "
            f"**lr=1e-3, ratio=30**, val_map {spread(PEAKS[1e-3])}") in markdown
    assert "Best trial, chosen by **val_map** among its repeats: **lr=1e-3,r=30,seed=2**, val_map 0.430" in markdown
    assert report["select"] == "val_map" and (exp / "heatmap.png").is_file()

    with open(exp / "results.csv", newline="") as f:
        rows = {row["trial"]: row for row in csv.DictReader(f)}
    assert len(rows) == 6  # a row per trial, each with its configuration's mean and sd
    row = rows["lr=1e-4,r=30,seed=2"]
    assert (row["configuration"], row["repeats"]) == ("lr=1e-4, ratio=30", "3")
    assert abs(float(row["mean_val_map"]) - statistics.mean(PEAKS[1e-4])) < 1e-9
    assert abs(float(row["sd_test_map"]) - statistics.stdev(PEAKS[1e-4])) < 1e-9  # test is val - 0.03 here


def test_compare_shows_a_repeated_experiments_configuration_with_its_mean_and_sd(tmp_path):
    from tune_genres.results.compare import compare

    exp = tmp_path / "repeated"
    write_made_up_repeats(exp, PEAKS)
    page, _ = compare([exp])
    line = next(l for l in page.splitlines() if l.startswith("| repeated |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == "lr=1e-3, ratio=30 (3 seeds)" and cells[5] == spread(PEAKS[1e-3])
    assert cells[6] == spread([p - 0.03 for p in PEAKS[1e-3]])
    assert f"| 1e-3 | {spread(PEAKS[1e-3])} |" in page.split("### val macro average precision", 1)[1]


def test_a_seed_sweep_of_one_cell_stays_ranked_and_gives_its_mean_and_sd(tmp_path):
    exp = tmp_path / "seeds"
    seeds = [0.44, 0.43, 0.45, 0.41, 0.44, 0.42]
    write_made_up_repeats(exp, {5e-4: seeds})

    markdown = write_report(exp)["markdown"]
    assert "## The 6 best of 6 trials by val_map" in markdown and not (exp / "heatmap.png").exists()
    assert f"| lr=5e-4, ratio=30 | 0, 1, 2, 3, 4, 5 | {spread(seeds)} | {spread([s - 0.03 for s in seeds])} |" in markdown
    assert "Best trial, chosen by **val_map** among its repeats: **lr=5e-4,r=30,seed=2**" in markdown
