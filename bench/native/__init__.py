"""Compiled (C) fast paths, and the one switch that selects them.

Job: the C extensions (results-JSON reader ``_results``, matching/accumulation ``_kernels``,
sorts ``_sort``, best-F1 curves ``_curves``, masks ``_rle`` and ``_segm_results``, greedy NMS ``_nms``
for ``detectors.nms``) and their Python wrappers. Each extension is
optional at install time (``setup.py`` marks them so); callers fall back to the numba / numpy
implementations, which give the same numbers. ``DETBENCH_NATIVE=0`` in the environment forces
the fallbacks. :func:`load` is the only place that asks "built and enabled?".

May import: numpy and the standard library only (it sits at the bottom of the stack).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def enabled() -> bool:
    """False when ``DETBENCH_NATIVE=0`` asks for the numba / numpy implementations."""
    return os.environ.get("DETBENCH_NATIVE") != "0"


def built(name: str) -> ModuleType | None:
    """The compiled extension ``bench.native.<name>`` (e.g. ``"_kernels"``) if it was built, else None."""
    try:
        return importlib.import_module(f"bench.native.{name}")
    except ImportError:
        return None


def load(name: str) -> ModuleType | None:
    """:func:`built`, when the switch allows compiled code; None otherwise."""
    return built(name) if enabled() else None
