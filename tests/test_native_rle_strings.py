"""Detection masks kept as strings (bench.masks.strings.StringMasks): measured in one pass and
decoded inside the C IoU kernel, bit for bit as the numba kernels and pycocotools; malformed
strings and spans refused; the whole segm path from files equal to pycocotools, C and numba."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mask_cases import mask_case
from oracles import COCO_STATS, pycocotools_eval
from pycocotools import mask as cmask
from test_native_rle import ALPHABET, _packed, _random_masks

from bench.data.results import fast_masks
from bench.masks import kernels as nk
from bench.masks import rle
from bench.masks.strings import StringMasks
from bench.metrics.files import evaluate_files
from bench.native import rle as c

pytestmark = pytest.mark.skipif(not c.available(), reason="bench.native._rle / _segm_results not built")


def _json_escaped(strings: list[bytes]) -> list[bytes]:
    """The strings as a JSON file holds them (a backslash doubled)."""
    return [s.replace(b"\\", b"\\\\") for s in strings]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(ALPHABET, max_size=30).map(b"".join), max_size=8), st.booleans(), st.data())
def test_string_stats_equal_numba_on_any_bytes(strings, escaped, data):
    raw, soffs = _packed(_json_escaped(strings) if escaped else strings)
    n = len(strings)
    hs = np.array(data.draw(st.lists(st.sampled_from([-3, 0, 1, 4, 7, 480, 2**31 + 5]), min_size=n, max_size=n)), np.int64)
    ws = np.array(data.draw(st.lists(st.integers(-2, 700), min_size=n, max_size=n)), np.int64)
    plain, poffs = _packed(strings)
    cnts, offs, bad = nk.from_string(np.frombuffer(plain, np.uint8), poffs)
    area, totals, bb, got_bad = c.string_stats(raw, soffs[:-1], soffs[1:], escaped, hs, ws)
    assert got_bad == bad
    summed = c.string_stats(raw, soffs[:-1], soffs[1:], escaped, hs, ws, bbox=False)  # runs added up, not stored
    assert summed[2] is None and summed[3] == bad
    np.testing.assert_array_equal(summed[0], area)
    np.testing.assert_array_equal(summed[1], totals)
    masks, first_bad = StringMasks.from_spans(raw, hs, ws, soffs[:-1], soffs[1:], escaped)
    assert first_bad == bad and (masks is None) == (bad >= 0)
    if bad >= 0:
        return
    np.testing.assert_array_equal(area, nk.area(cnts, offs))
    np.testing.assert_array_equal(totals, nk.sums(cnts, offs))
    assert bb.tobytes() == nk.to_bbox(cnts, offs, hs, ws).tobytes()
    assert masks.strings() == strings
    rows = np.array(data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=10 if n else 0)), np.int64)
    taken = masks.take(rows)
    want = nk.take_runs(cnts, offs, rows)
    np.testing.assert_array_equal(taken.counts, want[0])
    np.testing.assert_array_equal(taken.offs, want[1])


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 12), w=st.integers(1, 12), nd=st.integers(0, 6),
       ng=st.integers(0, 6), escaped=st.booleans())  # fmt: skip
def test_group_ious_from_strings_equal_packed_numba_and_pycocotools(seed, h, w, nd, ng, escaped):
    rng = np.random.default_rng(seed)
    dicts = cmask.encode(_random_masks(rng, nd, h, w)) if nd else []
    gts = cmask.encode(_random_masks(rng, ng, h, w)) if ng else []
    if ng and rng.random() < 0.3:  # a mask of another size: pycocotools' -1
        gts[-1] = cmask.encode(_random_masks(rng, 1, h + 1, w))[0]
    d = rle.pack(dicts) if nd else rle.from_counts([], [], [])
    g = rle.pack(gts) if ng else rle.from_counts([], [], [])
    strings = [r["counts"] for r in dicts]
    raw, soffs = _packed(_json_escaped(strings) if escaped else strings)
    s, bad = StringMasks.from_spans(b"{" + raw, d.heights, d.widths, soffs[:-1] + 1, soffs[1:] + 1, escaped)
    assert bad == -1 and s.to_dicts() == d.to_dicts() and list(s) == list(d)
    np.testing.assert_array_equal(s.area(), nk.area(d.counts, d.offs))
    np.testing.assert_array_equal(s.totals(), nk.sums(d.counts, d.offs))
    crowd = (rng.random(ng) < 0.4).astype(np.uint8)
    g_rows = np.r_[np.arange(ng), rng.permutation(ng)].astype(np.int64)
    d_rows = np.r_[np.arange(nd), rng.permutation(nd)].astype(np.int64)
    gs, ge, dss, dse = np.array([0, ng]), np.array([ng, 2 * ng]), np.array([0, nd]), np.array([nd, 2 * nd])
    head = (g.counts, g.offs, nk.to_bbox(g.counts, g.offs, g.heights, g.widths), g.heights, g.widths, g_rows,
            np.r_[crowd, crowd].astype(np.bool_), gs, ge)  # fmt: skip
    tail = (d.heights, d.widths, nk.area(d.counts, d.offs).astype(np.int64), d_rows, dss, dse)
    want, want_off = nk.group_ious(*head, d.counts, d.offs, nk.to_bbox(d.counts, d.offs, d.heights, d.widths), *tail)
    for dbb in (s.bbox(), None):  # boxes given, or taken in the kernel from the decoded runs
        got, got_off = c.group_ious(*head, None, None, dbb, *tail, strings=s.spans())
        np.testing.assert_array_equal(got_off, want_off)
        assert got.tobytes() == want.tobytes()
    if nd and ng:
        ref = np.asarray(cmask.iou(d.to_dicts(), g.to_dicts(), crowd.tolist()))
        assert got[: nd * ng].reshape(nd, ng).tobytes() == ref.tobytes()


def _one_pair(counts: bytes, starts=None, ends=None):
    """group_ious of one detection string against one full 2x2 ground truth mask."""
    g = rle.pack([cmask.encode(np.ones((2, 2, 1), np.uint8, order="F"))[0]])
    box, one = np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([0])
    starts = np.array([0]) if starts is None else starts
    ends = np.array([len(counts)]) if ends is None else ends
    return c.group_ious(g.counts, g.offs, box, g.heights, g.widths, one, np.zeros(1, np.uint8), one, one + 1,
                        None, None, box, np.array([2]), np.array([2]), np.array([4]), one, one, one + 1,
                        strings=(counts, starts, ends, False))  # fmt: skip


def test_group_ious_from_strings_refuses_malformed_strings_and_spans():
    assert _one_pair(b"04")[0].tolist() == [1.0]  # 0 background, 4 foreground pixels
    with pytest.raises(ValueError, match="malformed compressed counts string"):
        _one_pair(b"0\x80")
    with pytest.raises(IndexError, match="string spans"):
        _one_pair(b"04", ends=np.array([3]))
    with pytest.raises(IndexError, match="string spans"):
        _one_pair(b"04", starts=np.array([-1]))


def test_fast_masks_keeps_strings_not_runs():
    _, dets = mask_case(3, n_img=3, n_cat=3, bbox="all")
    got = fast_masks(json.dumps(dets).encode())
    assert isinstance(got, StringMasks) and not hasattr(got, "counts")
    want = rle.pack([d["segmentation"] for d in dets])
    np.testing.assert_array_equal(got.bbox(), want.bbox())
    np.testing.assert_array_equal(got.totals(), want.totals())


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), indent=st.sampled_from([None, 1]))
def test_segm_from_files_c_numba_and_pycocotools_agree(tmp_path_factory, seed, indent):
    gt, dets = mask_case(seed, n_img=3, n_cat=3, bbox="all")
    folder = tmp_path_factory.mktemp("segm")
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "dt.json").write_text(json.dumps(dets, indent=indent))
    assert isinstance(fast_masks((folder / "dt.json").read_bytes()), StringMasks)  # the C reader takes the file
    ref = pycocotools_eval(gt, dets, iou_type="segm")
    for native in ("1", "0"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DETBENCH_NATIVE", native)
            res = evaluate_files(str(folder / "gt.json"), str(folder / "dt.json"), "coco", iou_type="segm")
        got = np.array([-1.0 if res.metrics[k] is None else res.metrics[k] for k in COCO_STATS])
        np.testing.assert_allclose(got, ref.stats, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(res.precision, ref.eval["precision"])



@settings(max_examples=200, deadline=None)
@given(before=st.integers(0, 20), after=st.integers(0, 20),
       bad=st.sampled_from([b"\x01", b"\x1f", b"\x7f", b"\x80", b"\xc3\xa9", b"\xff", b'\\"', b"\\\\", b"\\n", b"\\u0031"]))  # fmt: skip
def test_both_readers_judge_every_byte_of_a_long_string(before, after, bad):
    """The 8-bytes-at-a-time skip of plain characters (json_plain.h) misses no byte that matters,
    wherever it sits in its word: the mask reader and the box parser agree with Python's json."""
    from bench.data.results import _fast_columns

    counts = b"0" * before + bad + b"1" * after
    data = b'[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5, "note": "' + counts + \
        b'", "segmentation": {"size": [1, 1], "counts": "' + counts + b'"}}]'  # fmt: skip
    try:
        json.loads(data)
        valid = True
    except ValueError:
        valid = False
    mask_ok = bad in (b"\x7f", b"\\\\")  # the mask reader takes printable ASCII and the "\\" escape only
    if valid and mask_ok:  # and then a well-formed counts string only
        plain = json.loads(b'"' + counts + b'"').encode()
        mask_ok = nk.from_string(np.frombuffer(plain, np.uint8), np.array([0, len(plain)]))[2] < 0
    got = fast_masks(data, 1)
    assert (got is not None) == (valid and mask_ok)
    if got is not None:
        assert got.strings() == [json.loads(b'"' + counts + b'"').encode()]
    cols = _fast_columns(data)
    assert cols is None or valid  # the box parser never takes what json refuses
    if valid:
        assert cols is not None and cols[0].tolist() == [1]


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from([-4.2e8, -1e6, -3.3, 0.0, 7.1, 1e6, 4.2e8]), offs=st.lists(st.floats(-40, 40), min_size=6, max_size=14),
       h=st.integers(0, 50), w=st.integers(0, 50))  # fmt: skip
def test_polygons_far_from_the_origin_equal_numba(base, offs, h, w):
    """rleFrPoly's whole-column test (x = 2 mod 5 in place of a division) on scaled coordinates up
    to ~2^31 in size, both signs: the C kernel still gives numba's (and so pycocotools') runs."""
    from bench.masks.poly import fr_polys as numba_fr_polys

    poly = [base + v if i % 2 == 0 else v for i, v in enumerate(offs[: len(offs) // 2 * 2])]
    flat, coffs = np.array(poly, np.float64), np.array([0, len(poly)], np.int64)
    hs, ws = np.array([h], np.int64), np.array([w], np.int64)
    want = numba_fr_polys(flat, coffs, hs, ws)
    got = rle.fr_polygons([poly], hs, ws)
    np.testing.assert_array_equal(got.counts, want[0])
    np.testing.assert_array_equal(got.offs, want[1])


def test_an_error_of_the_mask_scan_thread_reaches_the_caller(tmp_path, monkeypatch):
    import threading

    import bench.data.results as results

    gt, dets = mask_case(1, n_img=2, n_cat=2, bbox="all")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    threads = threading.active_count()

    def fail(data, records=None):
        raise MemoryError("scan failed")

    monkeypatch.setattr(results, "fast_masks", fail)
    with pytest.raises(MemoryError, match="scan failed"):
        evaluate_files(str(tmp_path / "gt.json"), str(tmp_path / "dt.json"), "coco", iou_type="segm")
    assert threading.active_count() == threads  # nothing left running


ONE_CHAR = st.sampled_from([bytes([b]) for b in range(48, 80)])  # a whole number in one character


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(ONE_CHAR, ONE_CHAR, ONE_CHAR, ONE_CHAR, ONE_CHAR, ONE_CHAR, ONE_CHAR, ONE_CHAR, ONE_CHAR,
                                   ALPHABET), max_size=160).map(b"".join), max_size=6), st.booleans())  # fmt: skip
def test_decoding_eight_one_character_numbers_at_once_equals_numba(strings, escaped):
    """rle_decode.c decodes 8 bytes of '0'..'O' at once (stretches of one-character numbers, most
    of a real mask's string): strings mostly of those, with anything else among them, escaped or
    not, decode (runs kept, summed, or measured with boxes) exactly as numba's from_string."""
    raw, soffs = _packed(_json_escaped(strings) if escaped else strings)
    plain, poffs = _packed(strings)
    cnts, offs, bad = nk.from_string(np.frombuffer(plain, np.uint8), poffs)
    got_cnts, got_offs, got_bad = c.decode_strings(raw, soffs[:-1], soffs[1:], escaped)
    assert got_bad == bad
    n = len(strings)
    hs, ws = np.full(n, 9, np.int64), np.full(n, 7, np.int64)
    area, totals, bb, stats_bad = c.string_stats(raw, soffs[:-1], soffs[1:], escaped, hs, ws)
    summed = c.string_stats(raw, soffs[:-1], soffs[1:], escaped, hs, ws, bbox=False)
    assert stats_bad == summed[3] == bad
    if bad >= 0:
        return
    np.testing.assert_array_equal(got_offs, offs)
    np.testing.assert_array_equal(got_cnts, cnts)
    np.testing.assert_array_equal(summed[0], nk.area(cnts, offs))
    np.testing.assert_array_equal(summed[1], nk.sums(cnts, offs))
    np.testing.assert_array_equal(area, summed[0])
    assert bb.tobytes() == nk.to_bbox(cnts, offs, hs, ws).tobytes()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), escaped=st.booleans())
def test_smooth_masks_decode_as_pycocotools(seed, escaped):
    """Ellipses at 120x160 (long stretches of one-character numbers, as real masks have): decoded
    from their pycocotools strings, area and box equal pycocotools'."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:120, :160]
    masks = []
    for _ in range(5):
        cy, cx, ry, rx = rng.uniform(0, 120), rng.uniform(0, 160), rng.uniform(2, 70), rng.uniform(2, 90)
        masks.append(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1)
    dicts = cmask.encode(np.asfortranarray(np.stack(masks, axis=2).astype(np.uint8)))
    strings = [r["counts"] for r in dicts]
    raw, soffs = _packed(_json_escaped(strings) if escaped else strings)
    s, bad = StringMasks.from_spans(raw, np.full(5, 120), np.full(5, 160), soffs[:-1], soffs[1:], escaped)
    assert bad == -1
    np.testing.assert_array_equal(s.area(), cmask.area(dicts))
    np.testing.assert_array_equal(s.bbox(), cmask.toBbox(dicts))
    decoded = s.take(np.arange(5))
    assert rle.decode(decoded.to_dicts()).tobytes() == cmask.decode(dicts).tobytes()
