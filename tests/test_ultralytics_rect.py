"""``rect=true`` for ultralytics adapters: the minimum-rectangle letterbox of ``model.predict``.

Why: ``YOLO(...).predict`` defaults to ``rect=True`` (``LetterBox(auto=True)``: the kept-ratio
size padded only up to a multiple of the stride, e.g. 480x640 for a 480x640 photo at imgsz 640),
while detbench feeds the square imgsz input (``rect=False``, as a static export). On real
yolov8n-seg weights and the 120 embedded COCO photos the two inputs give box AP 39.35 / mask AP
32.71 (square) against 38.24 / 31.46 (rect): a user checking detbench against ``model.predict``
saw ~1.1 AP apart with no setting to explain it. Oracles: ultralytics' ``LetterBox(auto=True)``
for the input (shapes by hypothesis, pixels on real photos) and ``SegmentationPredictor``
(``rect=True``, ``retina_masks=True``) for boxes and masks on the same raw output (random weights
from the YAML: the stages are compared apart, as in test_ultralytics_vs_library).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")

from test_masks_adapters import CLASSES, decode, real_images, seg_detector  # noqa: E402

from detectors.yolo_decode import LAYOUTS, prepare, rect_input  # noqa: E402


def letterbox_auto(img: np.ndarray, imgsz: int, stride: int = 32) -> np.ndarray:
    """ultralytics' own minimum-rectangle letterbox of an RGB image (BGR in, as cv2.imread)."""
    from ultralytics.data.augment import LetterBox

    return LetterBox((imgsz, imgsz), auto=True, stride=stride)(image=img[:, :, ::-1].copy())[:, :, ::-1]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 1500), st.integers(1, 1500), st.sampled_from([320, 416, 640]), st.sampled_from([32, 64]))
def test_rect_input_equals_letterbox_auto(h, w, imgsz, stride):
    """Shape and pixels of ``prepare`` at ``rect_input``'s size and scale, against
    ``LetterBox(auto=True)`` on a textured image (the scale must be r itself: min(h'/H, w'/W)
    differs from r for some shapes, e.g. 321x1280 at 640: 160 / 321 < 0.5, and the width would be 638, not 640)."""
    rng = np.random.default_rng(h * 7919 + w)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    size, gain = rect_input((h, w), imgsz, stride)
    theirs = letterbox_auto(img, imgsz, stride)
    assert theirs.shape[:2] == size
    x, _ = prepare(img, size, LAYOUTS["yolov8"].pre, gain)
    assert np.abs(x - theirs.transpose(2, 0, 1).astype(np.float32) / 255.0).max() < 1e-6


def test_rect_needs_the_exact_scale():
    """A shape where the input size alone (min(h'/H, w'/W)) gives a different letterbox than
    ultralytics' r: the case that the ``gain`` argument of ``prepare`` exists for."""
    img = np.random.default_rng(0).integers(0, 256, (321, 1280, 3), dtype=np.uint8)
    size, gain = rect_input(img.shape[:2], 640, 32)
    theirs = letterbox_auto(img, 640)
    x_size_only, _ = prepare(img, size, LAYOUTS["yolov8"].pre)
    x, _ = prepare(img, size, LAYOUTS["yolov8"].pre, gain)
    expected = theirs.transpose(2, 0, 1).astype(np.float32) / 255.0
    assert np.abs(x - expected).max() < 1e-6
    assert x_size_only.shape != expected.shape or np.abs(x_size_only - expected).max() > 0.1  # one column short: shifted pixels


@pytest.mark.parametrize("name", ["yolov8n-seg"])
def test_rect_boxes_and_masks_equal_the_predictor(name):
    """detbench with ``rect=true`` on real photos of distinct shapes: its network input is
    ``LetterBox(auto=True)``'s, and on the same raw output ultralytics' SegmentationPredictor
    (rect input, ``retina_masks=True``, multi-label NMS off) finds the same detections, with
    bit-equal masks (detbench also keeps empty masks, which the predictor drops)."""
    from types import SimpleNamespace

    from ultralytics.models.yolo.segment.predict import SegmentationPredictor

    images = real_images(3)
    det = seg_detector(name, False, images)
    det.rect = True
    predictor = SegmentationPredictor(overrides=dict(retina_masks=True, conf=det.score_threshold, iou=det.iou, max_det=100, verbose=False))
    predictor.model = SimpleNamespace(names=dict(enumerate(CLASSES)), end2end=False)
    predictor.batch = (["image.jpg"],)
    shapes = set()
    for img in images:
        batch = det.preprocess([img])
        expected = letterbox_auto(img, 640).transpose(2, 0, 1).astype(np.float32) / 255.0
        assert tuple(batch.inputs.shape[2:]) == expected.shape[1:] != (640, 640)
        assert np.abs(batch.inputs[0].numpy() - expected).max() < 1e-6
        shapes.add(tuple(batch.inputs.shape[2:]))
        raw = det.forward(batch)
        (ours,) = det.postprocess(raw, batch)
        (res,) = predictor.postprocess((torch.from_numpy(raw[0]), raw[1]), batch.inputs, [img[:, :, ::-1]])
        theirs, their_masks = res.boxes.data.numpy(), res.masks.data.numpy().astype(bool)
        our_masks = decode(ours.masks)
        nonempty = np.flatnonzero(our_masks.any(axis=(1, 2)))
        assert len(theirs) == len(nonempty) > 0
        np.testing.assert_allclose(ours.boxes[nonempty], theirs[:, :4], atol=1e-3)
        np.testing.assert_allclose(ours.scores[nonempty], theirs[:, 4], rtol=1e-6)
        assert np.array_equal(det.label_map.model_to_dataset[theirs[:, 5].astype(int)], ours.labels[nonempty])
        assert np.array_equal(our_masks[nonempty], their_masks)
    assert len(shapes) > 1


def test_rect_batch_of_mixed_shapes_is_square():
    """As ultralytics' predictor: the minimum rectangle only when a batch's images share a shape."""
    images = real_images(2)
    torch.manual_seed(0)
    from detectors.registry import build

    det = build("yolov8n-seg", CLASSES, weights="random", rect="true")
    assert det.describe()["rect"] is True
    assert tuple(det.preprocess(images).inputs.shape[2:]) == (640, 640)
    assert tuple(det.preprocess([images[0], images[0]]).inputs.shape[2:]) == rect_input(images[0].shape[:2], 640, 32)[0]
