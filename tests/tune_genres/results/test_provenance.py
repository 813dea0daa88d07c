"""What ran an experiment: versions from the installed packages, the checkout's commit and whether
it had uncommitted changes (real git repositories), the CPU, and the lines results.md ends with."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata

import pytest

from tune_genres.results.provenance import ROOT, cpu_identity, environment_lines, project_identity, run_environment


def git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_this_process_is_described_from_what_is_installed():
    found = run_environment()
    assert found["python"] == platform.python_version()
    for name in ("torch", "numpy", "pyarrow", "ray"):
        assert found["packages"][name] == metadata.version(name)
    assert found["gpus"] is None  # for the trials' records to fill in
    assert found["cpu"]["model"] and found["cpu"]["bf16"] in (True, False, None)
    assert json.loads(json.dumps(found)) == found  # goes into experiment.json as it is
    if (ROOT / ".git").exists():  # run from a checkout (a worktree's .git is a file)
        assert found["project"]["commit"] == git(ROOT, "rev-parse", "HEAD")
        assert found["project"]["dirty"] == bool(git(ROOT, "status", "--porcelain", "--untracked-files=no"))


def test_a_checkouts_commit_and_uncommitted_changes(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "9.9"\n')
    assert "commit" not in project_identity(tmp_path)  # not a checkout: no commit, no dirty
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "pyproject.toml")
    git(tmp_path, "commit", "-qm", "first")
    clean = project_identity(tmp_path)
    assert clean["commit"] == git(tmp_path, "rev-parse", "HEAD") and clean["dirty"] is False
    (tmp_path / "untracked.txt").write_text("a file git does not track changes nothing")
    assert project_identity(tmp_path)["dirty"] is False
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "9.10"\n')
    assert project_identity(tmp_path)["dirty"] is True


@pytest.mark.parametrize("flags, bf16", [("fpu sse avx2 avx512f", False), ("fpu avx512f avx512_bf16", True),
                                         ("fpu amx_tile amx_bf16", True)])
def test_the_cpus_bf16_from_its_flags(flags, bf16, monkeypatch):
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)  # as a driver before torch is loaded
    found = cpu_identity(f"processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nflags\t\t: {flags}\n")
    assert found == {"model": "Some CPU @ 2.0GHz", "bf16": bf16, "bf16_from": "cpuinfo"}


def test_the_lines_results_md_ends_with():
    environment = {"python": "3.12.1", "packages": {"torch": "2.11.0", "torchvision": "0.26.0", "timm": None,
                                                    "ray": "2.60.0", "numpy": "2.4.6", "pyarrow": "26.0.1"},
                   "project": {"version": "0.1.0", "commit": "0123456789abcdef0123", "dirty": True},
                   "cpu": {"model": "AMD EPYC 9454", "bf16": True, "bf16_from": "torch"}, "gpus": ["NVIDIA H200"]}
    assert environment_lines(environment) == [
        "Ran with Python 3.12.1, torch 2.11.0, torchvision 0.26.0, Ray 2.60.0, numpy 2.4.6, pyarrow 26.0.1; "
        "tune-genres 0.1.0 (commit 0123456789ab, with uncommitted changes).",
        "The driver's CPU: AMD EPYC 9454 (computes bf16 in hardware); the trials' GPUs: NVIDIA H200.",
    ]
    environment.update(project={"version": "0.1.0"}, gpus=[], cpu={"model": "Xeon", "bf16": None})
    assert environment_lines(environment)[0].endswith("; tune-genres 0.1.0.")
    assert environment_lines(environment)[1] == "The driver's CPU: Xeon; the trials ran on CPUs only."
    assert environment_lines(None) == [] and environment_lines({}) == []
    assert environment_lines({"python": "3.11.7"}) == ["Ran with Python 3.11.7."]  # a hand-cut record: what is there
