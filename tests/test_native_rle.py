"""The C mask kernels (bench.native.rle) against the numba ones (bench.masks.kernels / poly),
bit for bit, on generated and hostile inputs; the C results reader against orjson; and the whole
segm path from files, C and numba, against pycocotools."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mask_cases import mask_case
from pycocotools import mask as cmask
from oracles import COCO_STATS, pycocotools_eval

from bench.data.results import fast_masks
from bench.masks import kernels as nk
from bench.masks import rle
from bench.masks.poly import fr_polys as numba_fr_polys
from bench.metrics.files import evaluate_files
from bench.native import rle as c

pytestmark = pytest.mark.skipif(not c.available(), reason="bench.native._rle / _segm_results not built")

ALPHABET = st.sampled_from([bytes([b]) for b in range(44, 116)] + [b"\\", b"\x80", b" "])


def _packed(strings: list[bytes]):
    soffs = np.zeros(len(strings) + 1, np.int64)
    np.cumsum([len(s) for s in strings], out=soffs[1:])
    return b"".join(strings), soffs


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(ALPHABET, max_size=30).map(b"".join), max_size=8))
def test_decode_strings_equals_numba_on_any_bytes(strings):
    raw, soffs = _packed(strings)
    want = nk.from_string(np.frombuffer(raw, np.uint8), soffs)
    got = c.decode_strings(raw, soffs[:-1], soffs[1:])
    assert got[2] == want[2]
    if want[2] < 0:
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def _random_masks(rng, n, h, w):
    m = np.zeros((h, w, n), np.uint8)
    for i in range(n):
        kind = rng.integers(0, 4)
        if kind == 1:
            m[:, :, i] = rng.random((h, w)) < rng.uniform(0, 1)
        elif kind == 2:
            y, x = rng.integers(0, h), rng.integers(0, w)
            m[y : y + rng.integers(1, h + 1), x : x + rng.integers(1, w + 1), i] = 1
        elif kind == 3:
            m[:, :, i] = 1
    return np.asfortranarray(m)


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 12), w=st.integers(1, 12), nd=st.integers(0, 6), ng=st.integers(0, 6))
def test_stats_and_group_ious_equal_numba(seed, h, w, nd, ng):
    rng = np.random.default_rng(seed)
    d = rle.pack(cmask.encode(_random_masks(rng, nd, h, w))) if nd else rle.from_counts([], [], [])
    gts = cmask.encode(_random_masks(rng, ng, h, w)) if ng else []
    if ng and rng.random() < 0.3:  # a mask of another size: pycocotools' -1
        gts[-1] = cmask.encode(_random_masks(rng, 1, h + 1, w))[0]
    g = rle.pack(gts) if ng else rle.from_counts([], [], [])
    for p in (d, g):
        area, totals, bb = c.stats(p.counts, p.offs, p.heights, p.widths)
        np.testing.assert_array_equal(area, nk.area(p.counts, p.offs))
        np.testing.assert_array_equal(totals, nk.sums(p.counts, p.offs))
        np.testing.assert_array_equal(bb, nk.to_bbox(p.counts, p.offs, p.heights, p.widths))
    crowd = (rng.random(ng) < 0.4).astype(np.uint8)
    # two groups over the same masks: in order, then shuffled
    g_rows = np.r_[np.arange(ng), rng.permutation(ng)].astype(np.int64)
    d_rows = np.r_[np.arange(nd), rng.permutation(nd)].astype(np.int64)
    gs, ge = np.array([0, ng]), np.array([ng, 2 * ng])
    dss, dse = np.array([0, nd]), np.array([nd, 2 * nd])
    args = (g.counts, g.offs, nk.to_bbox(g.counts, g.offs, g.heights, g.widths), g.heights, g.widths, g_rows,
            np.r_[crowd, crowd].astype(np.bool_), gs, ge, d.counts, d.offs, nk.to_bbox(d.counts, d.offs, d.heights, d.widths),
            d.heights, d.widths, nk.area(d.counts, d.offs).astype(np.int64), d_rows, dss, dse)  # fmt: skip
    want, want_off = nk.group_ious(*args)
    got, got_off = c.group_ious(*args)
    np.testing.assert_array_equal(got_off, want_off)
    assert got.tobytes() == want.tobytes()
    if nd and ng:  # and pycocotools itself
        ref = np.asarray(cmask.iou(d.to_dicts(), g.to_dicts(), crowd.tolist()))
        assert got[: nd * ng].reshape(nd, ng).tobytes() == ref.tobytes()


coords = st.floats(-50, 250, allow_nan=False) | st.sampled_from([0.0, 1e4, -1e4, 2.5, 99.5, 0.1, -0.1])


@settings(max_examples=200, deadline=None)
@given(polys=st.lists(st.lists(coords, min_size=6, max_size=16), min_size=1, max_size=5),
       h=st.integers(0, 120), w=st.integers(0, 120))  # fmt: skip
def test_polygons_and_merge_equal_numba(polys, h, w):
    offs = np.zeros(len(polys) + 1, np.int64)
    np.cumsum([len(p) for p in polys], out=offs[1:])
    flat = np.array([v for p in polys for v in p], np.float64)
    hs, ws = np.full(len(polys), h, np.int64), np.full(len(polys), w, np.int64)
    want = numba_fr_polys(flat, offs, hs, ws)
    p = rle.fr_polygons(polys, hs, ws)
    got = p.counts, p.offs
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    bounds = np.array([0, 1, len(polys)] if len(polys) > 1 else [0, 1], np.int64)
    try:
        mw = nk.merge_groups(want[0], want[1], hs, ws, bounds)
    except ValueError:  # degenerate sizes: runs of different totals, refused by both
        with pytest.raises(ValueError, match="different pixel totals"):
            c.merge_groups(got[0], got[1], bounds)
        return
    mg = c.merge_groups(got[0], got[1], bounds)
    np.testing.assert_array_equal(mg[0], mw[0])
    np.testing.assert_array_equal(mg[1], mw[1])
    if h and w:
        ref = cmask.frPyObjects([list(p) for p in polys], h, w)
        assert rle.from_counts([got[0][got[1][i]:got[1][i + 1]] for i in range(len(polys))], hs, ws).to_dicts() == ref


def _results_bytes(seed: int) -> tuple[dict, list, bytes]:
    gt, dets = mask_case(seed, n_img=3, n_cat=3, bbox="all")
    return gt, dets, json.dumps(dets).encode()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), indent=st.sampled_from([None, 1]))
def test_results_reader_equals_orjson(seed, indent):
    gt, dets = mask_case(seed, n_img=3, n_cat=3, bbox="all")
    data = json.dumps(dets, indent=indent).encode()
    got = fast_masks(data)
    assert got is not None
    want = rle.pack([d["segmentation"] for d in dets]) if dets else None
    if want is not None:
        assert got.to_dicts() == want.to_dicts()
        np.testing.assert_array_equal(got.heights, want.heights)
    else:
        assert len(got) == 0


HOSTILE = [
    b"", b"[", b"[{}]", b'[{"segmentation": 1}]', b'[{"segmentation": {"size": [1, 1]}}]',
    b'[{"segmentation": {"size": [1, 1], "counts": "1", "x": 2}}]',
    b'[{"segmentation": {"size": [-1, 1], "counts": "1"}}]',
    b'[{"segmentation": {"size": [1.0, 1], "counts": "1"}}]',
    b'[{"segmentation": {"size": [1, 1], "counts": "\\u0031"}}]',
    b'[{"segmentation": {"size": [1, 1], "counts": "\xc3\xa9"}}]',
    b'[{"segmentation": {"size": [1, 1], "counts": "1"}, "segmentation": {"size": [1, 1], "counts": "1"}}]',
    b'[{"segm\\u0065ntation": {"size": [1, 1], "counts": "1"}}]',
    b'[{"segmentation": {"size": [1, 1], "counts": "1"}} x]',
    b'[{"segmentation": {"size": [1, 1], "counts": "1"}, "a": [1, {"b": "\\q"}]}]',
    b'[{"segmentation": {"size": [1, 1], "counts": "1"}, "a": tru}]',
    b'[{"segmentation": {"size": [1, 1], "counts": "1\\\\"}}]',  # a string cut after '\\'
    b'[{"segmentation": {"size": [1, 1], "counts": "1"}}' + b"[" * 100 + b"]",
    b'{"annotations": []}',
]  # fmt: skip


@pytest.mark.parametrize("data", HOSTILE)
def test_results_reader_declines_what_it_does_not_read(data):
    assert fast_masks(data) is None


def test_results_reader_reads_escaped_backslashes():
    m = np.zeros((4, 30, 1), np.uint8)
    m[:, 11:20] = 1  # a first run of 44 background pixels is written "\\1"
    counts = cmask.encode(np.asfortranarray(m))[0]["counts"].decode()
    assert "\\" in counts
    data = json.dumps([{"a": [1, {"b": "x\"y"}], "segmentation": {"counts": counts, "size": [4, 30]}, "z": None}]).encode()
    got = fast_masks(data)
    assert got.to_dicts() == [{"size": [4, 30], "counts": counts.encode()}]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("native", ["1", "0"])
def test_segm_from_files_equals_pycocotools_on_both_paths(tmp_path, monkeypatch, seed, native):
    monkeypatch.setenv("DETBENCH_NATIVE", native)
    gt, dets, data = _results_bytes(seed)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_bytes(data)
    if native == "1":
        assert fast_masks(data) is not None  # the C reader took the file
    res = evaluate_files(str(tmp_path / "gt.json"), str(tmp_path / "dt.json"), "coco", iou_type="segm")
    ref = pycocotools_eval(gt, dets, iou_type="segm")
    got = np.array([-1.0 if res.metrics[n] is None else res.metrics[n] for n in COCO_STATS])
    np.testing.assert_allclose(got, ref.stats, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(res.precision, ref.eval["precision"])


def test_bad_mask_in_file_is_named_as_the_general_path_names_it(tmp_path):
    gt, dets, _ = _results_bytes(5)
    dets[1]["segmentation"]["size"] = [1, 1]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    from bench.errors import InputError

    with pytest.raises(InputError) as err:
        evaluate_files(str(tmp_path / "gt.json"), str(tmp_path / "dt.json"), "coco", iou_type="segm")
    assert err.value.record == "detections[1]" and err.value.field == "segmentation.size"


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), big=st.booleans())
def test_stats_equal_numba_on_hostile_runs_and_sizes(seed, big):
    """Runs past 2^32 pixels, heights negative, huge or zero: C and numba still agree."""
    rng = np.random.default_rng(seed)
    offs = np.r_[0, np.cumsum(rng.integers(0, 12, 20))].astype(np.int64)
    cnts = rng.integers(0, 2**32 if big else 50, offs[-1], dtype=np.uint64).astype(np.uint32)
    hs = rng.choice([-7, -1, 0, 1, 3, 480, 2**31 + 5, 2**33], 20).astype(np.int64)
    ws = rng.integers(-3, 700, 20).astype(np.int64)
    area, totals, bb = c.stats(cnts, offs, hs, ws)
    assert bb.tobytes() == nk.to_bbox(cnts, offs, hs, ws).tobytes()
    np.testing.assert_array_equal(area, nk.area(cnts, offs))
    np.testing.assert_array_equal(totals, nk.sums(cnts, offs))


@pytest.mark.parametrize("n", [0, 5, (64 << 20) // 4 + 3])
def test_big_empty_is_a_writable_array_of_that_size(n):
    a = c.big_empty(n, np.uint32)
    assert a.dtype == np.uint32 and a.shape == (n,) and a.flags.writeable and a.flags.c_contiguous
    a[:] = 7
    assert int(a.sum(dtype=np.int64)) == 7 * n


@settings(max_examples=100, deadline=None)
@given(lengths=st.lists(st.integers(0, 9), max_size=12), data=st.data())
def test_take_equals_numba(lengths, data):
    offs = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    cnts = np.arange(offs[-1], dtype=np.uint32) * 7
    rows = np.array(data.draw(st.lists(st.integers(0, max(len(lengths) - 1, 0)), max_size=20 if lengths else 0)), np.int64)
    want = nk.take_runs(cnts, offs, rows)
    got = c.take(cnts, offs, rows)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
