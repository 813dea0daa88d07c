"""What a hostile but realistic user can hand the reading commands (report, compare, evaluate,
predict, weights) and sweep's file checks: each mistake is one line on stderr naming the file,
flag or key, exit status 2, and nothing written (no report, no temporary file)."""

from __future__ import annotations

import errno
import json
import urllib.error
from pathlib import Path

import pytest
import torch

from dataset_builder.errors import BadInput
from tune_genres.cli import main
from tune_genres.models.minivgg import MiniVGG
from tune_genres.training.checkpoint import CHECKPOINT_FILE, save_checkpoint
from tune_genres.training.loop import make_optimizer
from tune_genres.training.rng import generator_state, make_generator

GENRES = ("Horror", "Romance", "Action")
TRIAL = "lr=1e-3,r=30"
GRID = "[grid]\nlr = [1e-3]\nratio = [30]\n"


def write_experiment(exp: Path) -> Path:
    """An experiment folder as the driver leaves it, by hand: its records and two trials of two epochs."""
    exp.mkdir(parents=True)
    (exp / "experiment.json").write_text(json.dumps({
        "dataset": "/data/ds", "dataset_fingerprint": "0" * 16, "sweep": "s.toml", "sweep_fingerprint": "1" * 16,
        "select_metric": "val_map", "search": "grid", "resources": {"cpu": 1, "gpu": 0}, "max_concurrent": 0}))
    (exp / "baselines.json").write_text(json.dumps({"dataset": "/data/ds", "genres": list(GENRES), "counts": {}}))
    for name, lr in ((TRIAL, 1e-3), ("lr=1e-4,r=30", 1e-4)):
        folder = exp / name
        folder.mkdir()
        (folder / "params.json").write_text(json.dumps({"lr": lr, "ratio": 30, "epochs": 2}))
        rows = [{"epoch": e, "val_map": 0.3 + e / 10, "best_val_map": 0.3 + e / 10, "best_epoch": e} for e in (1, 2)]
        (folder / "result.json").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return exp


def write_checkpoint(directory: Path) -> Path:
    """An untrained mini-VGG at ratio 30 saved as a trial saves one (the dataset fixture's genres)."""
    model = MiniVGG(len(GENRES), 80, 55)
    meta = {"genres": list(GENRES), "ratio": 30, "size": [55, 80], "loss": "cce", "model_config": model.config,
            "lr": 1e-3, "config": {"lr": 1e-3, "ratio": 30, "loss": "cce"}}
    return save_checkpoint(directory, model=model, optimizer=make_optimizer(model, 1e-3), epoch=1, best=None,
                           generator_state=generator_state(make_generator(0)), meta=meta)


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def refused(argv: list[str], capsys) -> str:
    """Run the command line; it must exit 2 printing one line to stderr and nothing to stdout. Returns the line."""
    assert main([str(a) for a in argv]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.count("\n") == 1 and printed.err.startswith("tune-genres: error: "), printed.err
    return printed.err.removeprefix("tune-genres: error: ").rstrip("\n")


def nothing_written(folder: Path, before: set[Path]) -> None:
    after = files_under(folder)
    assert after == before, f"written: {sorted(map(str, after - before))}, gone: {sorted(map(str, before - after))}"
    assert not list(folder.rglob(".*.tmp"))


# A record each reader needs, broken as a user breaks it: (file in the experiment, content, what is said).
BROKEN_RECORDS = [
    ("experiment.json", "{", "not valid JSON (line 1 column 2): Expecting property name enclosed in double quotes; "
                             "restore it or remove the experiment"),
    ("experiment.json", b"\xff\xfe{}", "not UTF-8 text (byte 0xff at line 1 column 1)"),
    ("experiment.json", "[]", "expected a JSON object {...}, found a list"),
    ("experiment.json", '{"select_metric": "val_map"}', "no key 'dataset'"),
    ("experiment.json", '{"dataset": "d", "dataset_fingerprint": "0", "sweep_fingerprint": "1", "select_metric": "test_map"}',
     "select_metric 'test_map' is not a validation metric (val_"),
    (f"{TRIAL}/trial.json", "garbage", "not valid JSON (line 1 column 1): Expecting value; remove it to fall back"),
    (f"{TRIAL}/trial.json", "[]", "expected a JSON object {...}, found a list"),
    (f"{TRIAL}/trial.json", '{"trial": "t", "config": {}, "status": "finished", "rows": []}', "no key 'scores'"),
    (f"{TRIAL}/trial.json", '{"trial": "t", "config": {}, "status": "finished", "rows": {}, "scores": {}}',
     "rows should be a list"),
    ("baselines.json", "", "empty, expected a JSON object"),
    ("baselines.json", '{"test": {}}', "no key 'dataset'"),
    (f"{TRIAL}/params.json", "{", "not valid JSON (line 1 column 2)"),
    (f"{TRIAL}/params.json", '{"lr": "fast", "ratio": 30, "epochs": 2}', 'lr should be a number, found a string "fast"'),
    (f"{TRIAL}/params.json", '{"lr": 0.001, "ratio": 30}', "no key 'epochs'"),
]


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("name, content, said", BROKEN_RECORDS,
                         ids=[f"{Path(name).name}-{i}" for i, (name, _, _) in enumerate(BROKEN_RECORDS)])
def test_a_broken_record_is_one_line_naming_it_and_no_report_is_written(tmp_path, capsys, command, name, content, said):
    exp = write_experiment(tmp_path / "exp")
    record = exp / name
    record.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = files_under(tmp_path)

    line = refused([command, exp], capsys)
    assert line.startswith(f"{record}: ") and said in line
    nothing_written(tmp_path, before)


def test_result_json_lines_cut_off_or_not_utf8_or_not_objects_are_skipped(tmp_path, capsys):
    # A trial killed mid-write leaves half a line; a resumed run appends whole rows after it.
    exp = write_experiment(tmp_path / "exp")
    result = exp / TRIAL / "result.json"
    rows = result.read_bytes().splitlines(keepends=True)
    result.write_bytes(rows[0] + b'{"epoch": 2, "val_m\n' + b"\xff\xfe garbage\n" + b"[1, 2]\n" + rows[1])
    assert main(["report", str(exp)]) == 0
    assert capsys.readouterr().err == ""
    from tune_genres.results.trials import logged_rows

    assert [row["epoch"] for row in logged_rows(result)] == [1, 2]


def test_resuming_an_experiment_with_a_broken_record_is_one_line(tmp_path):
    # sweep --resume reads experiment.json before Ray starts (sweep/experiment.py check_resume).
    from tune_genres.sweep.experiment import check_resume

    exp = write_experiment(tmp_path / "exp")
    (exp / "experiment.json").write_text("{")
    with pytest.raises(BadInput) as caught:
        check_resume(exp, {}, {})
    assert str(caught.value).startswith(f"{exp / 'experiment.json'}: not valid JSON (line 1 column 2)")


def test_a_trial_folder_or_a_file_given_as_the_experiment_is_named_as_such(tmp_path, capsys):
    exp = write_experiment(tmp_path / "exp")
    before = files_under(tmp_path)
    assert refused(["report", exp / TRIAL], capsys) == (
        f"{exp / TRIAL}: a trial's folder, not an experiment's; pass its experiment folder, {exp}")
    assert refused(["compare", exp / "baselines.json"], capsys) == f"{exp / 'baselines.json'}: a file, not an experiment folder"
    nothing_written(tmp_path, before)


def test_a_report_that_cannot_be_written_is_one_line_and_leaves_no_temporary(tmp_path, capsys, monkeypatch):
    from tune_genres.results import report

    exp = write_experiment(tmp_path / "exp")
    before = files_under(tmp_path)

    def disk_full_midway(path, write):  # the real atomic write, its writer failing after some bytes
        def partly(tmp):
            tmp.write_bytes(b"half a report")
            raise OSError(errno.ENOSPC, "No space left on device")

        real_write_atomic(path, partly)

    real_write_atomic = report.write_atomic
    monkeypatch.setattr(report, "write_atomic", disk_full_midway)
    assert refused(["report", exp], capsys) == (
        f"{exp}: cannot write the report there (No space left on device); the experiment is intact: "
        f"make room (or make it writable), then run `tune-genres report {exp}`")
    nothing_written(tmp_path, before)


@pytest.mark.parametrize("text, said", [
    (b"name = 'caf\xe9'\n[grid]\nlr = [1e-3]\nratio = [30]\n", "not UTF-8 text (byte 0xe9 at line 1 column 12); "
                                                              "a sweep file is TOML, which is UTF-8: save it as UTF-8"),
    (b"\x80\x03binary\x00\x00", "not UTF-8 text (byte 0x80 at line 1 column 1)"),
    (b"# only a comment\n", "no settings in it; a sweep needs at least [grid] lr = [...] and ratio = [...]"),
    (b"name = '../elsewhere'\n[grid]\nlr = [1e-3]\nratio = [30]\n", "name = '../elsewhere': an experiment name is one folder name inside --storage"),
], ids=["latin-1", "binary", "empty", "name-with-slash"])
def test_a_sweep_file_that_is_not_utf8_or_empty_or_misnamed_is_one_line_before_ray(tmp_path, capsys, text, said):
    sweep = tmp_path / "bad.toml"
    sweep.write_bytes(text)
    before = files_under(tmp_path)
    line = refused(["sweep", sweep, "--dataset", tmp_path / "ds", "--storage", tmp_path / "experiments"], capsys)
    assert line.startswith(f"{sweep}: ") and said in line
    nothing_written(tmp_path, before)


def test_a_sweep_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    from tune_genres.sweep.sweep_file import load_sweep

    sweep = tmp_path / "notepad.toml"
    sweep.write_bytes(b"\xef\xbb\xbf" + GRID.encode())
    assert load_sweep(sweep).grid["lr"] == [1e-3]


def test_a_folder_given_as_the_sweep_file_and_a_set_value_that_is_not_utf8_are_one_line(tmp_path, capsys):
    good = tmp_path / "s.toml"
    good.write_text("[grid]\nlr = [1e-3]\nratio = [30]\n")
    before = files_under(tmp_path)
    assert refused(["sweep", tmp_path, "--dataset", tmp_path / "ds"], capsys) == (
        f"{tmp_path}: a folder, not a sweep file (such as sweeps/demo.toml)")
    # A shell hands Python the bytes of a Latin-1 terminal as lone surrogates.
    line = refused(["sweep", good, "--dataset", tmp_path / "ds", "--set", "description='caf\udce9'"], capsys)
    assert line == r"--set description='caf\xe9': not UTF-8 text (the sweep's copy in the experiment is TOML, which is UTF-8)"
    nothing_written(tmp_path, before)


SPACE = "[search]\nalgorithm = 'random'\n[space]\nlr = [1e-3]\nratio = [30]\n"


@pytest.mark.parametrize("refused_text, overrides, accepted_text, said", [
    (GRID + "[train]\nwarmup_epochs = 5\nepochs = 1\n", [], GRID + "[train]\nwarmup_epochs = 0\nepochs = 1\n",
     "warmup_epochs 5 (train.warmup_epochs) is not below epochs 1 (train.epochs)"),
    (GRID + "[train]\nepochs = 3\n", ["train.warmup_epochs=3"], GRID + "[train]\nepochs = 3\nwarmup_epochs = 2\n",
     "warmup_epochs 3 (train.warmup_epochs) is not below epochs 3 (train.epochs)"),
    (GRID + "[train]\nwarmup_epochs = 50\n", [], GRID + "[train]\nwarmup_epochs = 49\n",
     "warmup_epochs 50 (train.warmup_epochs) is not below epochs 50 (train.epochs (default 50))"),
    (GRID + "warmup_epochs = [0, 4]\n[train]\nepochs = 4\n", [], GRID + "warmup_epochs = [0, 3]\n[train]\nepochs = 4\n",
     "warmup_epochs 4 (grid.warmup_epochs) is not below epochs 4 (train.epochs)"),
    (SPACE + "warmup_epochs = {randint = [0, 3]}\nepochs = {randint = [3, 9]}\n", [],
     SPACE + "warmup_epochs = {randint = [0, 2]}\nepochs = {randint = [3, 9]}\n",
     "warmup_epochs 3 (space.warmup_epochs) is not below epochs 3 (space.epochs)"),
], ids=["train", "set", "default-epochs", "grid", "space"])
def test_a_warmup_as_long_as_training_is_refused_naming_both_keys(tmp_path, refused_text, overrides, accepted_text, said):
    from tune_genres.sweep.sweep_file import load_sweep

    sweep = tmp_path / "warm.toml"
    sweep.write_text(refused_text)
    with pytest.raises(BadInput) as caught:
        load_sweep(sweep, overrides)
    message = str(caught.value)
    assert message.startswith(f"{sweep}: ") and said in message and "\n" not in message
    sweep.write_text(accepted_text)  # one epoch less of warm-up is a sweep like any other
    load_sweep(sweep)


def test_a_warmup_as_long_as_training_set_on_the_command_line_exits_2(tmp_path, capsys):
    sweep = tmp_path / "s.toml"
    sweep.write_text(GRID + "[train]\nepochs = 1\n")
    line = refused(["sweep", sweep, "--dataset", tmp_path / "ds", "--set", "train.warmup_epochs=5"], capsys)
    assert line.startswith(f"{sweep}: warmup_epochs 5 (train.warmup_epochs) is not below epochs 1 (train.epochs)")


TPE = "[search]\nalgorithm = 'tpe'\nnum_samples = 2\n[space]\nlr = {loguniform = [1e-4, 1e-2]}\nratio = [30]\n"


@pytest.mark.parametrize("text, overrides, said", [
    (GRID, ["search.repeats=0"], "search.repeats: 0 is out of range (>= 1)"),
    (GRID + "[scheduler]\npatience = 0\n", [], "scheduler.patience: 0 is out of range (>= 1)"),
    (GRID + "[train]\nepochs = 5\n", ["scheduler.patience=4"],
     "scheduler.patience 4 can never stop a trial: the longest trains 5 epochs, so even one whose first epoch stays "
     "its best reaches its last epoch first; lower patience (to 3 at most) or train more epochs"),
    (GRID + "[search]\nnum_samples = 2\nrepeats = 3\n", [],
     "[search] repeats and num_samples both repeat the grid; keep one"),
    (TPE + "seed = [0, 1]\n", ["search.repeats=2"], "[space] seed and [search] repeats both repeat each configuration; keep one"),
    (TPE + "seed = {randint = [0, 9]}\n", ["search.repeats=2"],
     "[space] seed and [search] repeats both repeat each configuration; keep one"),
    (GRID + "seed = [0, 1]\n", ["search.repeats=2"], "[grid] seed and [search] repeats both repeat the grid; keep one"),
    (TPE + "[scheduler]\ntype = 'asha'\ngrace_period = 1\n", ["search.repeats=2"],
     "[search] repeats 2 with scheduler.type = \"asha\": ASHA would cut a configuration's seeds one by one"),
], ids=["repeats-0", "patience-0", "patience-never", "repeats-and-num-samples", "listed-seed", "drawn-seed",
        "grid-seed", "asha"])
def test_repeats_and_patience_that_cannot_work_exit_2_in_one_line(tmp_path, capsys, text, overrides, said):
    sweep = tmp_path / "s.toml"
    sweep.write_text(text)
    before = files_under(tmp_path)
    sets = [arg for override in overrides for arg in ("--set", override)]
    line = refused(["sweep", sweep, "--dataset", tmp_path / "ds", "--storage", tmp_path / "experiments", *sets], capsys)
    assert line.startswith(f"{sweep}: ") and said in line
    nothing_written(tmp_path, before)


@pytest.fixture
def checkpoint(tiny_dataset, tmp_path):
    dataset = tiny_dataset(genres=GENRES)
    return write_checkpoint(tmp_path / "trial" / "checkpoint_000001").parent.parent, dataset


@pytest.mark.parametrize("in_the_way, said", [
    ("a folder at --out", "is a folder; name a file to write, such as {out}/result.json"),
    ("a file above --out", "{parent} is a file, not a folder"),
], ids=["folder-at-out", "file-above-out"])
def test_evaluate_out_that_cannot_be_a_file_is_refused_before_scoring(checkpoint, tmp_path, capsys, in_the_way, said):
    folder, dataset = checkpoint
    out = tmp_path / "reports" / "eval.json"
    if in_the_way == "a folder at --out":
        out.mkdir(parents=True)
    else:
        out.parent.write_text("a file")
    before = files_under(tmp_path)
    line = refused(["evaluate", folder, dataset, "--out", out, "--bootstrap", "0"], capsys)
    assert line == f"--out {out}: " + said.format(out=out, parent=out.parent)
    nothing_written(tmp_path, before)


def test_compare_out_that_is_a_file_or_holds_one_in_the_way_is_refused_before_any_report(tmp_path, capsys):
    exp = write_experiment(tmp_path / "exp")
    out = tmp_path / "out"
    out.write_text("a file")
    before = files_under(tmp_path)
    assert refused(["compare", exp, "--out", out], capsys) == (
        f"--out {out}: is a file; name a folder to write into (it is created when missing)")
    nothing_written(tmp_path, before)  # not even the experiment's own report was refreshed

    out.unlink()
    out.mkdir()
    (out / "exp").write_text("where the experiment's folder goes")
    before = files_under(tmp_path)
    assert refused(["compare", exp, "--out", out], capsys).startswith(f"--out {out}: {out / 'exp'} is a file, where a folder")
    nothing_written(tmp_path, before)


@pytest.mark.parametrize("damage, said", [
    (lambda pt: pt.write_bytes(pt.read_bytes()[:1000]),
     "not a readable tune-genres checkpoint (cut off, or another kind of file: RuntimeError: PytorchStreamReader failed "
     "reading zip archive: failed finding central directory)"),
    (lambda pt: torch.save({"format": 1, "epoch": 3}, pt), "not a whole tune-genres checkpoint (no model, meta, meta.genres"),
], ids=["cut-off", "incomplete"])
def test_a_cut_off_or_incomplete_checkpoint_is_one_short_line(checkpoint, tmp_path, capsys, damage, said):
    folder, dataset = checkpoint
    pt = folder / "checkpoint_000001" / CHECKPOINT_FILE
    damage(pt)
    poster = tmp_path / "poster.png"
    poster.write_bytes(b"not needed: the checkpoint is refused first")
    before = files_under(tmp_path)
    for argv in (["evaluate", folder, dataset], ["predict", folder, poster]):
        line = refused(argv, capsys)
        assert line.startswith(f"{pt}: {said}")
    nothing_written(tmp_path, before)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "mps"])
def test_a_device_this_tool_does_not_run_on_is_one_line(checkpoint, capsys, device):
    folder, dataset = checkpoint
    assert refused(["evaluate", folder, dataset, "--device", device], capsys) == (
        f"--device {device}: expected auto, cpu, cuda or cuda:N")


def test_a_gpu_this_machine_lacks_is_one_line(checkpoint, capsys, monkeypatch):
    folder, dataset = checkpoint
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with one GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert refused(["evaluate", folder, dataset, "--device", "cuda:3"], capsys) == (
        "--device cuda:3: this machine has 1 CUDA device(s), cuda:0 to cuda:0")


def test_weights_fetch_without_internet_is_one_line(tmp_path, capsys, monkeypatch):
    from torchvision.models import ResNet18_Weights

    def offline(self, *args, **kwargs):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", offline)
    line = refused(["weights", "fetch", "resnet18"], capsys)
    assert line.startswith(f"weights fetch resnet18: cannot download {ResNet18_Weights.DEFAULT.url} (")
    assert line.endswith(f"run it where there is internet, or copy the file to {tmp_path}/hub/checkpoints/resnet18-f37072fd.pth")
    assert files_under(tmp_path) == set()


TPE = "[space]\nlr = {loguniform = [1e-4, 1e-2]}\nratio = [30]\n[search]\nalgorithm = 'tpe'\n"


@pytest.mark.parametrize("sweep_text, flags, said", [
    (TPE, ["--warm-start", "old"], "--warm-start old: trained on dataset /data/ds (fingerprint 0000000000000000), not "),
    (TPE, ["--warm-start", "nowhere"], "--warm-start nowhere: no such experiment (neither a folder nor a name in "),
    (GRID, ["--warm-start", "old"], "--warm-start: only a tpe search learns from earlier trials, and this sweep's "
                                    "[search] algorithm is grid; set it to tpe"),
    (TPE, ["--warm-start", "old", "--resume"], "--warm-start with --resume: a resumed study holds the trials it began with"),
    (SPACE.replace("[space]", "warm_start = ['old']\n[space]"), [],
     "search.warm_start: only a tpe search learns from earlier trials, and algorithm is 'random'"),
], ids=["other-dataset", "missing", "grid", "resume", "random-in-file"])
def test_a_warm_start_that_cannot_be_is_one_line_before_any_work(tmp_path, capsys, tiny_dataset, sweep_text, flags, said):
    exps = tmp_path / "exps"
    write_experiment(exps / "old")  # on another dataset than tiny_dataset's
    sweep = tmp_path / "s.toml"
    sweep.write_text(sweep_text)
    dataset = tiny_dataset()
    before = files_under(tmp_path)
    line = refused(["sweep", sweep, "--dataset", dataset, "--storage", exps, *flags], capsys)
    assert said in line, line
    nothing_written(tmp_path, before)
