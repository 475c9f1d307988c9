"""Hostile calls of the compiled kernels' entry points (bench.native._kernels) and hostile
detection tables given to the metric core through the Python API.

The C module promises that a call with inconsistent sizes fails with an exception instead of
reading or writing out of bounds; sizes whose products overflow 64 bits must be refused too
(a wrapped product can equal a small buffer's length). Each call runs in a child process: the
failure being guarded against is a crash (SIGFPE, SIGSEGV), which would take pytest down."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cases import coco_case

from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.native import kernels as native
from bench.protocols import COCO, LVIS, VOC07

ROOT = Path(__file__).resolve().parents[1]


def _run_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def _refused(code: str) -> None:
    """The child prints the ValueError's type and exits normally (no signal, no success)."""
    out = _run_child(code)
    if "MemoryError" in out.stderr:  # no address space for the lazily mapped inputs here
        pytest.skip("the machine refuses the inputs' address space")
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
    # D * A * T = 2**20 * 2**22 * 2**22 = 2**64 wraps to 0 = the empty status buffer's length; the
    # kernel then wrote each detection's A * T codes into it (SIGSEGV). np.zeros maps the large
    # inputs lazily: they cost address space, not memory.
    _refused(
        "import numpy as np\n"
        "from bench.native import _kernels as k\n"
        "D, A, T = 2**20, 2**22, 2**22\n"
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


# ---- hand-built detection tables given to the core -------------------------------------------

def _case():
    gt, dets = coco_case(3, 5, 3, integer=False)
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    return ds, det


@pytest.mark.parametrize("field, value, message", [
    ("image_idx", 10**6, "image_idx 1000000 is outside"),
    ("image_idx", -1, "image_idx -1 is outside"),
    ("image_idx", 5, "image_idx 5 is outside"),  # one past the last of 5 images
    ("category_idx", 3, "category_idx 3 is outside"),  # aliased (image + 1, category 0) before
    ("scores", float("nan"), "scores is NaN"),
    ("xyxy", float("nan"), "xyxy is NaN"),
    ("box_area", float("nan"), "box_area is NaN"),
])  # fmt: skip
def test_a_hand_built_table_with_bad_rows_is_refused_not_scored(field, value, message):
    ds, det = _case()
    column = getattr(det, field).copy()
    column[1] = value
    bad = replace(det, **{field: column})
    for protocol in (COCO, VOC07, LVIS.with_(federated=False)):
        with pytest.raises(ValueError, match=rf"detections\[1\]: {message}"):
            evaluate(ds, bad, protocol)


def test_a_table_with_mismatched_columns_is_refused():
    ds, det = _case()
    with pytest.raises(ValueError, match="image_idx has shape"):
        evaluate(ds, replace(det, image_idx=det.image_idx[:-1]), COCO)
    with pytest.raises(ValueError, match="integers"):
        evaluate(ds, replace(det, category_idx=det.category_idx.astype(np.float64)), COCO)


def test_valid_tables_and_infinite_values_are_still_scored():
    ds, det = _case()
    ref = evaluate(ds, det, COCO)
    assert ref.metrics["AP"] is not None
    area = det.box_area.copy()
    area[0] = np.inf  # w * h overflowing is a value, not an error
    assert evaluate(ds, replace(det, box_area=area), COCO).metrics["AP"] is not None
    empty = type(det).empty()
    assert evaluate(ds, empty, COCO).metrics["AP"] is not None


# ---- ids past 64 bits through the general path ---------------------------------------------------

@pytest.mark.parametrize("token", ["-9223372036854775809", "-9223372036854775808.0", "-9.223372036854775808e18"])
def test_an_id_just_below_int64_is_an_error_naming_the_record(tmp_path, token):
    # orjson reads -(2**63 + 1) as the float -2.0**63, which passed the per-record check while the
    # column check refused it: the error then named no record
    from bench.data.results import load_results
    from bench.errors import InputError

    ds = parse_gt({"images": [{"id": 1, "width": 9, "height": 9}], "categories": [{"id": 1, "name": "a"}], "annotations": []}, "gt")
    good = '{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}'
    path = tmp_path / "dt.json"
    path.write_text(f'[{good}, {{"image_id": {token}, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}}]')
    with pytest.raises(InputError, match=r"detections\[1\]\.image_id: .* out of the 64-bit integer range"):
        load_results(path, ds)


# ---- recall thresholds out of order ------------------------------------------------------------

@pytest.mark.parametrize("thresholds", [(0.5, 0.0, 1.0), (1.0, 0.5, 0.0), (0.0, float("nan")), ()])
def test_recall_thresholds_out_of_order_are_refused_by_the_protocol(thresholds):
    # the C accumulation refused them while numba's walked them as if ascending (AP 0.133 for
    # (0.5, 0, 1) where pycocotools' searchsorted gives another): the two backends disagreed
    with pytest.raises(ValueError, match="recall_thresholds must be ascending"):
        COCO.with_(recall_thresholds=thresholds)


@pytest.mark.parametrize("thresholds", [(0.0, 0.5, 1.0), (-0.5, 2.0), (0.3, 0.3)])
def test_ascending_recall_thresholds_score_the_same_on_both_backends(monkeypatch, thresholds):
    ds, det = _case()
    p = COCO.with_(recall_thresholds=thresholds)
    aps = []
    for switch in ("1", "0"):
        monkeypatch.setenv("DETBENCH_NATIVE", switch)
        aps.append(evaluate(ds, det, p).metrics["AP"])
    assert aps[0] == aps[1] and aps[0] is not None


@pytest.mark.parametrize("field", ["xyxy", "box_area", "scores", "image_idx"])
def test_narrow_dtypes_in_a_hand_built_table_score_alike_on_both_backends(monkeypatch, field):
    # float32 boxes: the C kernels raised TypeError where numba computed; now both see the exact
    # float64 widening of the same values
    ds, det = _case()
    column = getattr(det, field)
    narrow = replace(det, **{field: column.astype(np.int32 if column.dtype.kind == "i" else np.float32)})
    wide = replace(narrow, **{field: getattr(narrow, field).astype(column.dtype)})
    want = evaluate(ds, wide, COCO).metrics
    for switch in ("1", "0"):
        monkeypatch.setenv("DETBENCH_NATIVE", switch)
        assert evaluate(ds, narrow, COCO).metrics == want
