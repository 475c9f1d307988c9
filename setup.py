"""Compiled parts of detbench (C, no numpy headers: arrays cross as buffers).

Every extension is optional: where no C compiler is found the install still succeeds and
detbench uses its numba kernels instead (same numbers, slower start); ``bench.metrics.backend``
says which path is in use, and run records store it (``environment.metric_kernels``).
"""

import os
import sys

from setuptools import Extension, setup

_FLAGS = [] if sys.platform == "win32" else ["-O3", "-std=c99", "-fno-strict-aliasing", "-ffp-contract=off"]
_N = "bench/native/"
_EXTENSIONS = {  # module: (sources, headers they include)
    "bench.native._results": ([_N + "results_json.c", _N + "results_number.c", _N + "gt_json.c"], [_N + "results_json.h", _N + "json_plain.h"]),
    "bench.native._sort": ([_N + "sort.c"], []),
    "bench.native._curves": ([_N + "curves.c"], []),
    "bench.native._rle": ([_N + "rle.c", _N + "rle_decode.c", _N + "rle_poly.c"], [_N + "rle.h"]),
    "bench.native._segm_results": ([_N + "segm_results.c"], [_N + "json_plain.h"]),
    "bench.native._nms": ([_N + "nms.c"], []),
    "bench.native._kernels": ([_N + "match.c", _N + "accumulate.c", _N + "kernels_module.c"], [_N + "kernels.h"]),
}

setup(
    ext_modules=[
        Extension(name, sources, depends=headers, extra_compile_args=_FLAGS, optional=True)
        for name, (sources, headers) in _EXTENSIONS.items()
        if all(os.path.exists(s) for s in sources)
    ]
)
