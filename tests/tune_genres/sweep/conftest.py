"""Fixtures for the sweep tests: a local Ray that the in-process sweeps of one module share."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_local():
    """A Ray of its own with 2 CPUs, its trial processes in the environment connect() gives them;
    the driver's connect() then joins it rather than starting another."""
    import ray

    from tune_genres.sweep.worker_env import trial_env

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": trial_env()})
    yield
    ray.shutdown()
