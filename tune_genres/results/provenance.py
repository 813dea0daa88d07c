"""What ran an experiment: the versions of Python and the libraries that train and score, this
project's version (and, run from a git checkout, its commit and whether the tree had uncommitted
changes), the driver's CPU, and the GPU types its trials used.

    run_environment()          the driver gathers it once; it goes into experiment.json ("environment")
    environment_lines(env)     one or two lines for the end of results.md

Nothing here imports torch, Ray or the others (their installed versions come from their package
metadata), so gathering it costs a few milliseconds and a `git` call. The GPU types are not known
to the driver (it opens no CUDA context): `gpus` is None here, and whoever reads the trials'
records fills it with the types they trained on ([] for CPU trials only).
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

# The distributions whose versions say what computed an experiment's numbers (shown in this order).
PACKAGES = ("torch", "torchvision", "timm", "ray", "numpy", "pyarrow")
SHOWN_NAMES = {"ray": "Ray"}
PROJECT = "tune-genres"
# Where this project's code is: a git checkout has .git here (a folder, or a file in a worktree).
ROOT = Path(__file__).resolve().parents[2]
GIT_TIMEOUT_S = 10.0


def run_environment(root: Path | None = None) -> dict:
    """What runs this process: python, packages (name -> version, None when not installed), the
    project (version; commit and dirty when run from a checkout), the CPU (model; bf16: computes
    bf16 in hardware, None when unknown), gpus (None: for the trials' records to fill in)."""
    return {
        "python": platform.python_version(),
        "packages": {name: installed_version(name) for name in PACKAGES},
        "project": project_identity(ROOT if root is None else root),
        "platform": platform.platform(),
        "cpu": cpu_identity(),
        "gpus": None,
    }


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def project_identity(root: Path) -> dict:
    """{"version"}, plus "commit" and "dirty" (tracked files changed; untracked ones do not count)
    when `root` is a git checkout and git answers."""
    found = {"version": installed_version(PROJECT) or pyproject_version(root)}
    if not (root / ".git").exists():
        return found
    commit = git(root, "rev-parse", "HEAD")
    status = git(root, "status", "--porcelain", "--untracked-files=no")
    if commit is not None and status is not None:
        found.update(commit=commit.strip(), dirty=bool(status.strip()))
    return found


def pyproject_version(root: Path) -> str | None:
    """The version in the checkout's pyproject.toml, for a tree that was unpacked, not installed."""
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def cpu_identity(cpuinfo: str | None = None) -> dict:
    """{"model": the CPU's model name, "bf16": does it compute bf16 in hardware (None: unknown),
    "bf16_from": who said so}. torch's own answer where torch is already loaded (the driver has
    it once a sweep runs), else the CPU's flags in /proc/cpuinfo (AVX512-BF16 or AMX on x86, BF16
    on Arm): what torch itself checks."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine()
    flags = fields.get("flags") or fields.get("Features")
    bf16 = None if flags is None else bool({"avx512_bf16", "amx_bf16", "bf16"} & set(flags.split()))
    source = "cpuinfo" if flags is not None else None
    if "torch" in sys.modules:
        import torch

        from ..training.precision import native_bf16

        bf16, source = native_bf16(torch.device("cpu")), "torch"
    return {"model": model, "bf16": bf16, "bf16_from": source}


def environment_lines(environment: dict | None) -> list[str]:
    """One or two lines saying what ran the experiment, for the end of results.md; [] for an
    experiment recorded before it was kept. Tolerates a record missing any part."""
    if not environment:
        return []
    versions = [f"Python {environment['python']}"] if environment.get("python") else []
    versions += [f"{SHOWN_NAMES.get(name, name)} {version}"
                 for name, version in (environment.get("packages") or {}).items() if version]
    project = environment.get("project") or {}
    line = "Ran with " + ", ".join(versions) if versions else "Ran with"
    if project.get("version"):
        built = f"{PROJECT} {project['version']}"
        if project.get("commit"):
            built += f" (commit {project['commit'][:12]}{', with uncommitted changes' if project.get('dirty') else ''})"
        line += ("; " if versions else " ") + built
    lines = [line + "."] if line != "Ran with" else []
    cpu = environment.get("cpu") or {}
    machine = []
    if cpu.get("model"):
        bf16 = {True: "computes bf16 in hardware", False: "no hardware bf16"}.get(cpu.get("bf16"))
        machine.append(f"the driver's CPU: {cpu['model']}" + (f" ({bf16})" if bf16 else ""))
    gpus = environment.get("gpus")
    if gpus is not None:
        machine.append(f"the trials' GPUs: {', '.join(gpus)}" if gpus else "the trials ran on CPUs only")
    if machine:
        text = "; ".join(machine)
        lines.append(text[0].upper() + text[1:] + ".")
    return lines
