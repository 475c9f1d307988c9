"""Compiled parts of detbench (C, no numpy headers: arrays cross as buffers).

Both extensions are optional: where no C compiler is found the install still succeeds and
detbench uses its numba kernels instead (same numbers, slower start). ``bench doctor``-style
checks and ``bench.native.available()`` say which path is in use.
"""

import os
import sys

from setuptools import Extension, setup

_FLAGS = [] if sys.platform == "win32" else ["-O3", "-std=c99", "-fno-strict-aliasing", "-ffp-contract=off"]
_SOURCES = {
    "bench.native._results": ["bench/native/results_json.c", "bench/native/results_number.c"],
    "bench.native._kernels": ["bench/native/match.c", "bench/native/accumulate.c", "bench/native/kernels_module.c"],
}

setup(
    ext_modules=[
        Extension(name, sources, extra_compile_args=_FLAGS, optional=True)
        for name, sources in _SOURCES.items()
        if all(os.path.exists(s) for s in sources)
    ]
)
