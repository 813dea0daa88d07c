"""Reports of hundreds of trials: every chart drawn and readable (the best few in colour, the rest
grey), every table's drawn values printed to their significant digits, and in seconds."""

from __future__ import annotations

import struct
import time

import pytest

from support.made_up_experiment import BEST_WEIGHT_DECAY, write_made_up_grid, write_made_up_search
from tune_genres.results.charts import HIGHLIGHTED, learning_curves, ranked_styles
from tune_genres.results.compare import write_comparison
from tune_genres.results.report import write_report
from tune_genres.results.trials import read_trials

BEST = "0007_lr=6.7e-3,r=58,do=0.677,wd=0.000187"  # write_made_up_search's best trial


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.fixture(scope="module")
def search_200(tmp_path_factory):
    """A random search of 200 finished trials, reported; (its folder, write_report's seconds)."""
    exp = tmp_path_factory.mktemp("many") / "search-200"
    write_made_up_search(exp, 200)
    start = time.perf_counter()
    write_report(exp)
    return exp, time.perf_counter() - start


def test_a_report_of_200_drawn_trials_is_written_in_seconds(search_200):
    exp, seconds = search_200
    assert seconds < 30, f"write_report took {seconds:.1f} s for 200 trials"
    markdown = (exp / "results.md").read_text()
    assert "200 trials, 200 finished." in markdown and "## The 10 best of 200 trials by val_map" in markdown
    assert f"Best trial, chosen by **val_map**: **{BEST}**" in markdown
    assert len((exp / "results.csv").read_text().splitlines()) == 201
    for name in ("learning-curves.png", "parallel-coordinates.png"):
        width, height = png_size(exp / name)
        assert (exp / name).stat().st_size > 30_000, f"{name} is nearly empty"
        # One screen: a legend of 200 names made the picture run off (and hid the panels).
        assert width <= 2000 and height <= 1000, (name, width, height)


def test_drawn_values_print_to_their_significant_digits(search_200):
    exp, _ = search_200
    table = (exp / "results.md").read_text().split("## The 10 best")[1].split("\n\n")[1]
    first = table.splitlines()[2]  # below the header and its rule
    assert first.startswith(f"| 1 | {BEST} |")
    assert [cell.strip() for cell in first.split("|")[3:7]] == ["6.7e-3", "0.677", "1.87e-4", "0.600"]
    assert f"{BEST_WEIGHT_DECAY:.3f}" == "0.000"  # what a 3-decimal cell printed
    assert "| 0.000 |" not in table and "| 0.001 |" not in table


def test_compare_prints_the_drawn_values_as_the_report_does(search_200, tmp_path):
    exp, _ = search_200
    page = write_comparison([exp], tmp_path / "out")
    assert f"| 1 | {BEST} | 6.7e-3 | 0.677 | 1.87e-4 |" in page
    assert (tmp_path / "out" / "search-200" / "learning-curves.png").is_file()


def test_the_learning_curves_colour_the_best_trials_and_grey_the_rest(search_200):
    exp, _ = search_200
    styles = ranked_styles(read_trials(exp), "val_map")
    labelled = [style.label for style in styles.values() if style.label is not None]
    assert len(labelled) == HIGHLIGHTED and labelled[0] == f"{BEST} (0.600)"
    greys = {style.color for style in styles.values() if style.label is None}
    assert len(greys) == 1 and greys.isdisjoint(style.color for style in styles.values() if style.label)


def test_a_grid_of_240_trials_gets_its_tables_and_heatmap(tmp_path):
    exp = tmp_path / "big-grid"
    lrs = [1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5, 2e-5, 1e-5]
    write_made_up_grid(exp, lrs, [30, 35, 40, 44, 50, 58, 65, 72, 80, 86, 93, 100], ["cce", "bce"])
    markdown = write_report(exp)["markdown"]
    (tmp_path / "keep").write_text(str(exp))
    assert "240 trials, 240 finished." in markdown
    assert "## loss=bce" in markdown and "## loss=cce" in markdown
    assert "| 5e-5 |" in markdown and "| 1e-5 |" in markdown  # learning rates as the grid gave them
    width, height = png_size(exp / "heatmap.png")
    assert (exp / "heatmap.png").stat().st_size > 30_000 and width < 4000
    assert png_size(exp / "learning-curves.png")[0] <= 2000


def test_a_grid_of_too_many_curves_for_a_column_each_ranks_them_instead(tmp_path):
    """3 learning rates x 24 ratio and loss curves: tab20 has no colour for each (it raised KeyError)."""
    exp = tmp_path / "wide-grid"
    write_made_up_grid(exp, [1e-2, 1e-3, 1e-4], [30, 35, 40, 44, 50, 58, 65, 72, 80, 86, 93, 100], ["cce", "bce"])
    titles = learning_curves(read_trials(exp), tmp_path / "curves.png", "val_map")
    assert titles == ["validation mAP per epoch", "training loss per epoch"]
    assert png_size(tmp_path / "curves.png")[0] <= 2000
