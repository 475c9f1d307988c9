"""The ultralytics adapter against ultralytics' own pipeline, stage by stage.

The oracle is ultralytics' predictor with ``rect=False``: ``LetterBox`` (cv2.resize on 8-bit
pixels, centred 114 padding) for the input, ``non_max_suppression(conf=0.001, iou=0.7,
multi_label=True)`` and ``scale_boxes`` for the output. The stages are compared apart: a
randomly initialised head scores every anchor almost the same, and greedy NMS keeps an
arbitrary one of tied boxes, so an end-to-end comparison on random weights proves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")

from PIL import Image  # noqa: E402

from detectors.registry import build  # noqa: E402

MINI = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "coco_val2017_mini"
CLASSES = ["person", "car", "dog", "chair", "cup"]


def real_images(n: int = 2) -> list[np.ndarray]:
    files = sorted(p["file_name"] for p in json.loads((MINI / "instances_val2017_mini.json").read_text())["images"])[:n]
    return [np.asarray(Image.open(MINI / "images" / f).convert("RGB")) for f in files]


@pytest.mark.parametrize("shape", [(480, 640), (700, 500)])
def test_decode_and_nms_equal_ultralytics(shape):
    """ultralytics' own ``non_max_suppression`` (multi-label, conf 0.001, IoU 0.7) and
    ``scale_boxes`` on a raw [4 + C, 8400] output with distinct scores, against detbench's decode."""
    from ultralytics.utils.nms import non_max_suppression
    from ultralytics.utils.ops import scale_boxes

    from detectors.yolo_decode import LAYOUTS, decode, prepare

    rng = np.random.default_rng(shape[0])
    n, c = 8400, len(CLASSES)
    cxcy, wh = rng.uniform(0, 640, (n, 2)), rng.uniform(4, 200, (n, 2))
    raw = np.concatenate([cxcy, wh, rng.uniform(0, 0.3, (n, c)) ** 3], 1).T.astype(np.float32)  # [4 + C, N], few above 0.001
    _, geometry = prepare(np.zeros((*shape, 3), np.uint8), (640, 640), LAYOUTS["yolov8"].pre)
    boxes, scores, labels = decode(raw, "yolov8", c, (640, 640), geometry, shape, 0.001, 0.7, 100, multi_label=True)
    (theirs,) = non_max_suppression(torch.from_numpy(raw[None]), conf_thres=0.001, iou_thres=0.7, multi_label=True, max_det=100)
    theirs[:, :4] = scale_boxes((640, 640), theirs[:, :4], shape)
    t = theirs.numpy()
    assert len(scores) == len(t) == 100
    a, b = _canonical(boxes, scores, labels), _canonical(t[:, :4], t[:, 4], t[:, 5])
    np.testing.assert_allclose(a[:, 0], b[:, 0], rtol=1e-4, atol=1e-6)  # scores
    np.testing.assert_array_equal(a[:, 1], b[:, 1])  # labels
    np.testing.assert_allclose(a[:, 2:], b[:, 2:], atol=0.5)  # boxes, pixels of the original image


@pytest.mark.parametrize("name", ["yolov8n", "yolo11n"])
def test_adapter_network_input_equals_ultralytics_preprocess(name):
    """The adapter feeds the model exactly what ultralytics' predictor feeds it."""
    from ultralytics.data.augment import LetterBox

    torch.manual_seed(0)
    ours = build(name, CLASSES, weights="random")
    for img in real_images(2):
        batch = ours.preprocess([img])
        theirs = LetterBox((640, 640), auto=False, stride=32)(image=img[:, :, ::-1].copy())[:, :, ::-1]
        expected = torch.from_numpy(np.ascontiguousarray(theirs.transpose(2, 0, 1))).float()[None]
        expected /= 255  # ultralytics' BasePredictor.preprocess: im.float(), then im /= 255
        assert torch.equal(batch.inputs, expected)  # bit for bit (x * (1/255) was one ulp off for half the values)
        assert ours.forward(batch).shape[1] == 4 + len(CLASSES)


def _canonical(boxes, scores, labels) -> np.ndarray:
    """Rows (score, label, box) in one order: by score, then label and box among (near-)equal
    scores, whose order NMS leaves to the sort's tie-breaking."""
    rows = np.column_stack([scores, labels, boxes]).astype(np.float64)
    key = np.round(rows[:, 0], 5)
    return rows[np.lexsort((rows[:, 3], rows[:, 2], rows[:, 1], -key))]


def test_letterbox_pixels_equal_ultralytics():
    from ultralytics.data.augment import LetterBox

    from detectors.yolo_decode import LAYOUTS, prepare

    for img in real_images(3):  # non-square: padding above and below, or left and right
        theirs = LetterBox((640, 640), auto=False, stride=32)(image=img[:, :, ::-1].copy())[:, :, ::-1]  # BGR in, as cv2.imread
        expected = theirs.transpose(2, 0, 1).astype(np.float32) / 255.0
        x, _ = prepare(img, (640, 640), LAYOUTS["yolov8"].pre)
        assert np.abs(x - expected).max() < 1e-6
