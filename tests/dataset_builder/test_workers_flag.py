"""`--workers` means one thing on every command that has it: how many posters are worked on at once.

CPU work (drawing, decoding, resizing) runs one process per worker, every core by default;
downloads run one thread per worker, 32 by default. The help says so the same way everywhere,
and a value below 1 is the same one-line error everywhere.
"""

from __future__ import annotations

import re

import pytest

from dataset_builder.cli import main
from dataset_builder.workers import every_core
from support.posters import jpeg_bytes

CPU = "posters {work} at once, one process each (default: every core, {cores} here)"
DOWNLOADS = "posters downloaded at once, one thread each (default 32: a download mostly waits on the network)"

# Each command with --workers, with the arguments it needs besides, and what its help must say.
COMMANDS = {
    "synthetic": (["synthetic", "{tmp}/raw"], CPU.format(work="drawn", cores="{cores}")),
    "build": (["build", "{tmp}/raw", "{tmp}/ds", "--genres", "Drama"], CPU.format(work="decoded and resized", cores="{cores}")),
    "import --images": (["import", "{tmp}/raw", "--format", "csv", "--csv", "{tmp}/in/titles.csv", "--images", "{tmp}/in/images"],
                        "with --images, " + CPU.format(work="checked", cores="{cores}") + "; without, " + DOWNLOADS),
    "import of URLs": (["import", "{tmp}/raw", "--format", "csv", "--csv", "{tmp}/in/titles.csv"], None),  # same parser as above
    "imdb": (["imdb", "{tmp}/raw", "--dumps", "{tmp}/in", "--posters", "tmdb"], DOWNLOADS),
}


def workers_help(capsys, monkeypatch, command: str) -> str:
    """The --workers entry of `dataset-builder COMMAND --help`, whitespace joined."""
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    entry = re.search(r"^  --workers N\s+(.*?)(?=^  -|^\S|\Z)", text, re.M | re.S)
    assert entry, f"no --workers in `{command} --help`:\n{text}"
    return " ".join(entry.group(1).split())


@pytest.mark.parametrize("name", [n for n, (_, expected) in COMMANDS.items() if expected])
def test_help_says_what_a_worker_is_and_its_default(capsys, monkeypatch, name):
    argv, expected = COMMANDS[name]
    assert workers_help(capsys, monkeypatch, argv[0]) == expected.format(cores=every_core())


def inputs(tmp):
    """A CSV of one title and its poster: what import reads (imdb and build fail later, on their own inputs)."""
    (tmp / "in" / "images").mkdir(parents=True)
    (tmp / "in" / "titles.csv").write_text("id,genres,url,file\ntt0000001,Drama,http://127.0.0.1:9/a.jpg,a.jpg\n")
    (tmp / "in" / "images" / "a.jpg").write_bytes(jpeg_bytes())


@pytest.mark.parametrize("value", ["0", "-2"])
@pytest.mark.parametrize("name", list(COMMANDS))
def test_fewer_than_one_is_the_same_one_line_error_everywhere(tmp_path, capsys, name, value):
    inputs(tmp_path)
    argv = [a.format(tmp=tmp_path) for a in COMMANDS[name][0]]
    code = main(argv + ["--workers", value])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"dataset-builder: error: --workers {value}: expected at least 1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"], "refused before any work"


def test_without_the_flag_cpu_work_uses_every_core(tmp_path, capsys):
    assert main(["synthetic", str(tmp_path / "raw"), "--count", "4"]) == 0
    cores = every_core()
    assert f"with {cores} worker process{'es' if cores > 1 else ''}," in capsys.readouterr().out
