"""Instance masks of the segmentation adapters against their library's own output.

- Mask R-CNN v1 / v2 (torchvision): on the SAME seeded random-weight model instance, detbench's
  masks (RLE, decoded by pycocotools, the independent oracle) equal ``model(images)[i]["masks"]
  > 0.5`` (torchvision's reference COCO evaluation threshold) bit for bit, row for row with the
  boxes, on real photos of the embedded COCO val2017 subset.
- ultralytics segmentation models (optional [yolo] extra): see ``test_ultralytics_seg``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
mask_api = pytest.importorskip("pycocotools.mask")

from PIL import Image  # noqa: E402

from detectors.registry import build, produces_masks  # noqa: E402

MINI = Path(__file__).resolve().parents[1] / "bench" / "embedded" / "coco_val2017_mini"
CLASSES = ["person", "car", "dog", "chair", "cup", "bottle"]


def real_images(n: int = 2) -> list[np.ndarray]:
    """The first ``n`` photos of distinct sizes in the embedded COCO subset."""
    files = sorted(p["file_name"] for p in json.loads((MINI / "instances_val2017_mini.json").read_text())["images"])
    out, sizes = [], set()
    for f in files:
        arr = np.asarray(Image.open(MINI / "images" / f).convert("RGB"))
        if arr.shape[:2] not in sizes:
            out.append(arr)
            sizes.add(arr.shape[:2])
        if len(out) == n:
            break
    return out


def decode(rles: list[dict]) -> np.ndarray:
    """Compressed RLE (counts as str) -> bool [N, H, W], with pycocotools."""
    coco = [{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in rles]
    return np.asarray(mask_api.decode(coco), bool).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def images():
    return real_images()


@pytest.mark.parametrize("name", ["maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2"])
def test_maskrcnn_masks_equal_torchvision(name, images):
    assert produces_masks(name)
    torch.manual_seed(0)
    det = build(name, CLASSES, weights="random", tiny=True, score_threshold=0.0, max_detections=100)
    ours = det.predict(images)
    ims = [torch.from_numpy(im).permute(2, 0, 1).float() / 255.0 for im in images]
    with torch.inference_mode():
        refs = det.model(ims)  # torchvision's own pipeline: transform, heads, NMS, mask pasting
    compared = 0
    for d, ref, im in zip(ours, refs, images):
        h, w = im.shape[:2]
        assert d.masks is not None and len(d.masks) == len(d)
        assert all(r["size"] == [h, w] and isinstance(r["counts"], str) for r in d.masks)
        labels = det.label_map.model_to_dataset[ref["labels"].numpy()]
        keep = np.flatnonzero(labels >= 0)
        order = keep[np.argsort(-ref["scores"].numpy()[keep], kind="stable")][:100]
        assert len(order) == len(d) > 0
        np.testing.assert_allclose(d.scores, ref["scores"].numpy()[order], rtol=1e-6)
        ref_boxes = ref["boxes"].numpy()[order].copy()
        ref_boxes[:, 0::2] = ref_boxes[:, 0::2].clip(0, w)
        ref_boxes[:, 1::2] = ref_boxes[:, 1::2].clip(0, h)
        np.testing.assert_allclose(d.boxes, ref_boxes, atol=1e-3)
        ref_masks = (ref["masks"][:, 0] > 0.5).numpy()[order]
        ours_masks = decode(d.masks)
        assert ours_masks.shape == ref_masks.shape == (len(d), h, w)
        assert np.array_equal(ours_masks, ref_masks)
        compared += int(ref_masks.any(axis=(1, 2)).sum())
    assert compared > 0  # some non-empty masks were compared, not only empty ones


def test_box_detectors_produce_no_masks(images):
    assert not produces_masks("fasterrcnn_resnet50_fpn")
    torch.manual_seed(0)
    det = build("fasterrcnn_resnet50_fpn", CLASSES, weights="random", tiny=True)
    assert det.predict(images[:1])[0].masks is None
