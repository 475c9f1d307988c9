"""Where a C compiler exists the optional extensions must have been built: a silently failed
build would leave the numba fallback in place and the native tests skipped."""

from __future__ import annotations

import importlib
import shutil
import sysconfig
from pathlib import Path

import pytest

import bench

EXTENSIONS = ["bench.native._sort", "bench.native._curves", "bench.native._results", "bench.native._kernels",
              "bench.native._rle", "bench.native._segm_results", "bench.native._nms"]


@pytest.mark.parametrize("name", EXTENSIONS)
def test_extension_built_where_a_compiler_exists(name):
    source_tree = (Path(bench.__file__).parent.parent / "setup.py").exists()
    headers = (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()
    if not (source_tree and headers and (shutil.which("cc") or shutil.which("gcc"))):
        pytest.skip("no C compiler or Python headers here: the numba fallback is the designed path")
    importlib.import_module(name)
