"""The detector registry: a literal dict from name to ``"module:Class"`` plus kwargs.

Adapters are imported lazily, only when a detector is built. The detector zoo (torchvision,
HF transformers, YOLO/ONNX adapters) is tracked in its own issue; until it lands this
registry is empty and ``python -m bench all`` says so instead of inventing results.
"""

from __future__ import annotations

import difflib
import importlib

REGISTRY: dict[str, tuple[str, dict]] = {}


def build(name: str, **kwargs):
    """Instantiate the registered detector ``name``; unknown names list close matches."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=5)
        hint = f" did you mean: {', '.join(close)}?" if close else f" registered: {', '.join(sorted(REGISTRY)) or 'none yet'}"
        raise KeyError(f"unknown detector {name!r};{hint}")
    target, defaults = REGISTRY[name]
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(**{**defaults, **kwargs})
