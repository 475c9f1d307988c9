"""bench.masks.rle against pycocotools.mask, bit for bit, on generated masks and polygons."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as ref

from bench.masks import rle

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def mask_stacks(draw, max_side=24, max_n=5):
    """uint8 [h, w, n] Fortran masks: random density, blobs, empty, full, border-touching."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    n = draw(st.integers(1, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    masks = np.zeros((h, w, n), np.uint8, order="F")
    for i in range(n):
        kind = draw(st.sampled_from(["random", "rect", "empty", "full", "border"]))
        if kind == "random":
            masks[:, :, i] = rng.random((h, w)) < rng.random()
        elif kind == "rect":
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            masks[y0:rng.integers(y0, h + 1), x0:rng.integers(x0, w + 1), i] = 1
        elif kind == "full":
            masks[:, :, i] = 1
        elif kind == "border":
            masks[0, :, i] = 1
            masks[:, -1, i] = 1
    return masks


coord = st.floats(-8.0, 40.0, allow_nan=False, allow_infinity=False)


@st.composite
def polygons(draw):
    """Polygons incl. degenerate (repeated points, collinear, tiny) and out-of-image ones."""
    kind = draw(st.sampled_from(["free", "tiny", "repeat", "grid"]))
    n = draw(st.integers(3, 9))
    if kind == "free":
        xy = draw(st.lists(coord, min_size=2 * n, max_size=2 * n))
    elif kind == "tiny":
        x, y = draw(coord), draw(coord)
        xy = [v for _ in range(n) for v in (x + draw(st.floats(0, 0.6)), y + draw(st.floats(0, 0.6)))]
    elif kind == "repeat":
        x, y = draw(coord), draw(coord)
        xy = [x, y] * n
    else:  # vertices on the 0.1 grid the 5x upsampling rounds on
        xy = [draw(st.integers(-20, 400)) / 10 for _ in range(2 * n)]
    return xy


@SETTINGS
@given(mask_stacks())
def test_encode_decode_area_bbox_merge_equal_pycocotools(masks):
    a, b = ref.encode(masks), rle.encode(masks)
    assert a == b
    assert np.array_equal(ref.decode(a), rle.decode(b))
    assert np.array_equal(ref.area(a), rle.area(b)) and rle.area(b).dtype == np.uint32
    assert np.array_equal(ref.toBbox(a), rle.toBbox(b))
    assert ref.merge(a) == rle.merge(b)
    assert ref.merge(a, intersect=1) == rle.merge(b, intersect=1)
    assert ref.encode(masks[:, :, 0]) == rle.encode(masks[:, :, 0])
    assert np.array_equal(ref.decode(a[0]), rle.decode(b[0]))
    str_form = [{"size": r["size"], "counts": r["counts"].decode()} for r in b]
    assert np.array_equal(ref.area(a), rle.area(str_form))


@SETTINGS
@given(mask_stacks(max_n=6), st.data())
def test_iou_equal_pycocotools_with_crowd(masks, data):
    n = masks.shape[2]
    split = data.draw(st.integers(1, n))
    a, b = ref.encode(masks), rle.encode(masks)
    crowd = data.draw(st.lists(st.integers(0, 1), min_size=n - split + 1, max_size=n - split + 1))
    dt_a, gt_a = a[:split], a[split - 1:]
    dt_b, gt_b = b[:split], b[split - 1:]
    assert np.array_equal(ref.iou(dt_a, gt_a, crowd), rle.iou(dt_b, gt_b, crowd))
    boxes_d, boxes_g = ref.toBbox(dt_a), ref.toBbox(gt_a)
    assert np.array_equal(ref.iou(boxes_d, boxes_g, crowd), rle.iou(boxes_d, boxes_g, crowd))
    assert np.array_equal(
        ref.iou(boxes_d.tolist(), boxes_g.tolist(), crowd), rle.iou(boxes_d.tolist(), boxes_g.tolist(), crowd)
    )


@SETTINGS
@given(st.lists(polygons(), min_size=1, max_size=4), st.integers(1, 40), st.integers(1, 40))
def test_polygons_equal_pycocotools(polys, h, w):
    polys = [p for p in polys if len(p) > 4] or [[0.0, 0.0, 3.0, 0.0, 3.0, 3.0]]
    a, b = ref.frPyObjects(polys, h, w), rle.frPyObjects(polys, h, w)
    assert a == b
    assert ref.merge(a) == rle.merge(b)
    for impl in (ref, rle):  # one bare polygon: pycocotools takes len() of its first number
        with pytest.raises(TypeError):
            impl.frPyObjects(polys[0], h, w)


@SETTINGS
@given(st.lists(st.lists(st.floats(-5, 45, allow_nan=False), min_size=4, max_size=4), min_size=1, max_size=4),
       st.integers(1, 40), st.integers(1, 40))  # fmt: skip
def test_boxes_equal_pycocotools(boxes, h, w):
    assert ref.frPyObjects(np.array(boxes), h, w) == rle.frPyObjects(np.array(boxes), h, w)
    for impl in (ref, rle):  # one bare box: pycocotools takes len() of its first number
        with pytest.raises(TypeError):
            impl.frPyObjects(boxes[0], h, w)


@SETTINGS
@given(mask_stacks())
def test_uncompressed_rle_equal_pycocotools(masks):
    h, w, _ = masks.shape
    flat = masks[:, :, 0].ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.r_[0, change, h * w]).tolist()
    if flat[0]:
        runs = [0] + runs
    obj = {"size": [h, w], "counts": runs}
    assert ref.frPyObjects(obj, h, w) == rle.frPyObjects(obj, h, w) == rle.encode(masks[:, :, 0])
    assert ref.frPyObjects([obj, obj], h, w) == rle.frPyObjects([obj, obj], h, w)


def test_large_counts_and_negative_deltas_round_trip():
    """Counts past 2^16 and deltas below zero use the multi-character and sign paths."""
    masks = np.zeros((1000, 900, 2), np.uint8, order="F")
    masks[:, 300:, 0] = 1
    masks[10:12, 5, 1] = 1
    masks[500:, 800:, 1] = 1
    a, b = ref.encode(masks), rle.encode(masks)
    assert a == b
    assert np.array_equal(ref.iou(a, a, [0, 1]), rle.iou(b, b, [0, 1]))


def test_encode_masks_is_the_results_json_form():
    m = np.zeros((3, 5, 4), bool)
    m[1, 1:3, 2:4] = True
    out = rle.encode_masks(m)
    assert [o["size"] for o in out] == [[5, 4]] * 3
    assert all(isinstance(o["counts"], str) for o in out)
    assert out[1]["counts"].encode() == ref.encode(np.asfortranarray(m[1].astype(np.uint8)))["counts"]


def test_empty_inputs_and_errors_follow_pycocotools():
    m = rle.encode(np.zeros((4, 4), np.uint8))
    assert rle.iou([], [m], [0]) == ref.iou([], [ref.encode(np.zeros((4, 4), np.uint8, order="F"))], [0]) == []
    assert rle.merge([]) == {"size": [0, 0], "counts": b""}
    with pytest.raises(ValueError, match="same length"):
        rle.iou([m], [m], [0, 0])
    with pytest.raises(ValueError, match="malformed"):
        rle.area([{"size": [4, 4], "counts": "0\x7f"}])
    with pytest.raises(ValueError, match="malformed"):  # a number cut off by the end of the string
        rle.area([{"size": [4, 4], "counts": "a"}])
    with pytest.raises(ValueError, match="Invalid RLE"):  # runs past h*w
        rle.decode({"size": [2, 2], "counts": "9"})
    with pytest.raises(TypeError):
        rle.encode(np.zeros((2, 2, 1), np.float32))


def test_packed_reads_like_a_list_of_results_dicts():
    masks = np.zeros((3, 6, 5), bool)
    masks[0, 1:3, 1:4] = True
    masks[2, :, 4] = True
    dicts = rle.encode_masks(masks)
    packed = rle.pack(dicts)
    assert list(packed) == dicts and packed[1] == dicts[1] and packed[-1] == dicts[2]
    with pytest.raises(IndexError):
        packed[3]
    assert rle.pack([packed[i] for i in (2, 0)]).to_dicts() == packed.take(np.array([2, 0])).to_dicts()
    assert np.array_equal(rle.concat([packed, packed]).area(), np.r_[packed.area(), packed.area()])


def test_detection_tables_concatenate_their_masks():
    from bench.data.model import DetectionTable

    masks = rle.encode_masks(np.ones((2, 4, 4), bool))

    def table(n, seg):
        return DetectionTable(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros((n, 4)), np.zeros(n), np.zeros(n), seg)

    both = DetectionTable.concat([table(1, masks[:1]), DetectionTable.empty(), table(1, rle.pack(masks[1:]))])
    assert list(both.segmentation) == masks
    assert DetectionTable.concat([table(1, None), DetectionTable.empty()]).segmentation is None
    with pytest.raises(ValueError, match="segmentation"):
        DetectionTable.concat([table(1, masks[:1]), table(1, None)])
