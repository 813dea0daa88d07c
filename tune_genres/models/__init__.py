"""What a network is: the registry (a model by name for G genres at H x W) and the study's mini-VGG."""

from .registry import DEFAULT_MODEL, MODELS, create_model, model_from_config

__all__ = ["DEFAULT_MODEL", "MODELS", "create_model", "model_from_config"]
