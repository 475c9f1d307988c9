"""Which implementation runs the metric core's inner loops: C (:mod:`bench.native`) or numba.

The C kernels are used when the optional extension was built at install time and
``DETBENCH_NATIVE`` is not ``0``; otherwise the numba kernels of :mod:`bench.metrics.kernels`.
Both give bit-identical arrays (``tests/test_native_kernels.py``); the C path avoids numba's
import and cache-load cost (~0.5 s a process), which dominates the scoring of one file.
"""

from __future__ import annotations

from types import ModuleType


def native_kernels() -> ModuleType | None:
    """``bench.native.kernels`` when its extension is built and enabled (:mod:`bench.native`'s switch), else None."""
    from bench.native import kernels

    return kernels if kernels.available() else None


def name() -> str:
    """"c" or "numba": the implementation the kernel functions below use."""
    return "c" if native_kernels() is not None else "numba"


def _kernels() -> ModuleType:
    native = native_kernels()
    if native is not None:
        return native
    from bench.metrics import kernels

    return kernels


def match_groups(*args):
    """:func:`bench.metrics.kernels.match_groups`, by the selected implementation."""
    return _kernels().match_groups(*args)


def accumulate_coco(*args):
    """:func:`bench.metrics.kernels.accumulate_coco`, by the selected implementation."""
    return _kernels().accumulate_coco(*args)


def accumulate_voc(*args):
    """:func:`bench.metrics.kernels.accumulate_voc`, by the selected implementation."""
    return _kernels().accumulate_voc(*args)
