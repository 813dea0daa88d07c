"""What a network is: the catalog of names (catalog.py, torch-free), the registry that builds a
model by name for G genres at H x W (registry.py), the study's mini-VGG, the pretrained backbones
and where their weights come from (pretrained.py).

Only the catalog is imported here, so the sweep file is checked without loading torch; import
`create_model` and the rest from `tune_genres.models.registry`.
"""

from .catalog import DEFAULT_MODEL, MODEL_NAMES, MODELS

__all__ = ["DEFAULT_MODEL", "MODEL_NAMES", "MODELS"]
