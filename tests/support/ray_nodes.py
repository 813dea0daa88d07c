"""Ray clusters for tests: nodes started with the real `ray start` CLI.

Other Ray instances may run on this machine (other test runs, other people), so a cluster here
owns a dedicated --temp-dir and free ports, and is stopped by signalling the process groups it
started, never with `ray stop` (which stops every Ray on the machine).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .processes import wait_for

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def ray_worker(pid: int) -> int:
    """`pid`, once checked to be a Ray worker process (its pid came from a trial's own records)."""
    assert b"ray::" in Path(f"/proc/{pid}/cmdline").read_bytes(), f"pid {pid} is not a Ray worker (any more)"
    return pid


def can_unshare_mounts() -> bool:
    """Whether this process may start a node in its own mount namespace (root, CAP_SYS_ADMIN)."""
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "tmpfs", "/mnt"],
                           capture_output=True)
    return probe.returncode == 0


def hidden_mounts(paths: list[Path], size: str = "16m") -> str:
    """Shell that covers each path with an empty tmpfs: seen from inside, the path is a different
    filesystem, as on another machine."""
    return " && ".join(f"mount -t tmpfs -o size={size} tmpfs '{p}'" for p in paths)


class RayCli:
    """A cluster of `ray start --block` processes on this machine, each in its own session."""

    def __init__(self, env: dict[str, str]):
        # Unix socket paths under it must stay short (about 100 characters).
        self.temp_dir = Path(tempfile.mkdtemp(prefix="tg-ray-", dir="/tmp"))
        self.env = env
        self.procs: list[subprocess.Popen] = []
        self.address: str | None = None

    def _start(self, args: list[str], log: Path, hide: list[Path] = ()) -> subprocess.Popen:
        command = [str(BIN / "ray"), "start", *args, "--block", "--disable-usage-stats",
                   "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port())]
        if hide:
            quoted = " ".join(f"'{a}'" for a in command)
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", f"{hidden_mounts(hide)} && exec {quoted}"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)

        def started():
            assert proc.poll() is None, f"ray start exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            return "Ray runtime started" in log.read_text()

        wait_for(started, 120, f"`ray start` ({log.name})", every=0.5)
        return proc

    def start_head(self, num_cpus: int = 1, num_gpus: int = 0) -> str:
        port = free_port()
        log = self.temp_dir / "head.log"
        self._start(["--head", "--port", str(port), "--num-cpus", str(num_cpus), "--num-gpus", str(num_gpus),
                     "--temp-dir", str(self.temp_dir), "--include-dashboard", "false",
                     "--dashboard-port", str(free_port()), "--ray-client-server-port", str(free_port())], log)
        # Ray binds to this machine's address even when asked for 127.0.0.1: take the one it prints.
        self.address = re.search(r"ray start --address='([^']+)'", log.read_text()).group(1)
        return self.address

    def add_node(self, num_cpus: int = 1, hide: list[Path] = ()) -> None:
        """A worker node; `hide` covers those paths with empty filesystems on that node only."""
        log = self.temp_dir / f"node-{len(self.procs)}.log"
        self._start(["--address", self.address, "--num-cpus", str(num_cpus)], log, hide)

    def owned_pids(self) -> list[int]:
        """Processes whose command line names this cluster's temp dir: its workers included."""
        mine = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if str(self.temp_dir).encode() in (entry / "cmdline").read_bytes():
                        mine.append(int(entry.name))
                except OSError:
                    pass
        return mine

    def stop(self) -> None:
        """SIGTERM (`ray start --block` then stops what it started), a few seconds' grace, SIGKILL:
        a head's graceful shutdown takes half a minute here, and nothing of it is kept."""
        for proc in reversed(self.procs):  # worker nodes first, the head last
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while any(proc.poll() is None for proc in self.procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in self.procs:
            if proc.poll() is None:  # only while unreaped: a reaped pid may belong to another process
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for pid in self.owned_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)
