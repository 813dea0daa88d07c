"""tune-genres: which hyperparameters make a CNN predict TV series genres from posters.

For notebooks: `from tune_genres import Sweep, run_sweep` (tune_genres/sweep/api.py). Imported on first
use, so `import tune_genres` loads neither Ray nor torch.
"""

__all__ = ["Sweep", "run_sweep", "Results"]


def __getattr__(name: str):
    if name == "Sweep":
        from .sweep.sweep_file import Sweep

        return Sweep
    if name in ("run_sweep", "Results"):
        from .sweep import api

        return getattr(api, name)
    raise AttributeError(f"module 'tune_genres' has no attribute {name!r}")
