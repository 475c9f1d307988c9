"""Hostile calls of the compiled kernels' entry points (bench.native._kernels) and hostile
detection tables given to the metric core through the Python API.

The C module promises that a call with inconsistent sizes fails with an exception instead of
reading or writing out of bounds; sizes whose products overflow 64 bits must be refused too
(a wrapped product can equal a small buffer's length). Each call runs in a child process: the
failure being guarded against is a crash (SIGFPE, SIGSEGV), which would take pytest down."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.native import kernels as native

ROOT = Path(__file__).resolve().parents[1]


def _run_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def _refused(code: str) -> None:
    """The child prints the ValueError's type and exits normally (no signal, no success)."""
    out = _run_child(code)
    assert out.returncode == 0, f"child died with {out.returncode}: {out.stderr[-2000:]}"
    assert out.stdout.strip() == "ValueError", out.stdout + out.stderr


@pytest.mark.skipif(native._kernels is None, reason="bench.native._kernels is not built")
def test_voc_sizes_whose_product_wraps_are_refused_not_a_division_by_zero():
    # n_area * n_thr = 2**64 wraps to 0: the status length was divided by it (SIGFPE)
    _refused(
        "import numpy as np\n"
        "from bench.native import _kernels as k\n"
        "z = np.zeros(0, np.int64)\n"
        "try:\n"
        "    k.accumulate_voc((np.zeros(0, np.int8), z, z, z, np.zeros(0)), (np.zeros(0), np.zeros(0)), 2**32, 2**32, True, 0, 0)\n"
        "    print('accepted')\n"
        "except ValueError:\n"
        "    print('ValueError')\n"
    )


@pytest.mark.skipif(native._kernels is None, reason="bench.native._kernels is not built")
def test_match_sizes_whose_product_wraps_are_refused_not_written_past():
    # D * A * T = 2**22 * 2**21 * 2**21 = 2**64 wraps to 0 = the empty status buffer's length; the
    # kernel then wrote each detection's A * T codes into it (SIGSEGV). np.zeros maps the large
    # inputs lazily: they cost address space, not memory.
    _refused(
        "import numpy as np\n"
        "from bench.native import _kernels as k\n"
        "D, A, T = 2**22, 2**21, 2**21\n"
        "f = lambda *s: np.zeros(s)\n"
        "one = np.zeros(1, np.int64)\n"
        "ins = (f(0, 4), f(0), f(0), np.zeros(0, bool), np.zeros(0, bool), one, one,\n"
        "       f(D, 4), f(D), f(D), np.zeros(D, bool), one, np.ones(1, np.int64),\n"
        "       f(A), np.full(A, 1e10), f(T), f(0), np.zeros(0, np.int64), np.zeros(D, np.int64))\n"
        "try:\n"
        "    k.match(ins, np.zeros(0, np.int8), 0, 0, 1)\n"
        "    print('accepted')\n"
        "except ValueError:\n"
        "    print('ValueError')\n"
    )
