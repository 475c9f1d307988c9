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

MINI = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "coco_val2017_mini"
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


def seg_detector(name: str, multi_label: bool, images, need: int = 20):
    """The first seeded random initialisation (seeds 0-9) whose masks are non-empty for at least
    ``need`` detections on every photo: many initialisations (yolo11n-seg's first seeds) give mask
    logits that are negative inside almost every box, and comparing empty masks proves nothing."""
    for seed in range(10):
        torch.manual_seed(seed)
        det = build(name, CLASSES, weights="random", max_detections=100, multi_label=multi_label)
        if all(int(decode(d.masks).any(axis=(1, 2)).sum()) >= need for d in det.predict(images)):
            return det
    pytest.fail(f"{name}: no random initialisation among seeds 0-9 gives {need} non-empty masks per image")


@pytest.mark.parametrize("name", ["yolov8n-seg", "yolo11n-seg"])
@pytest.mark.parametrize("multi_label", [False, True])
def test_ultralytics_seg_masks_equal_the_segment_predictor(name, multi_label, images):
    """ultralytics' own ``SegmentationPredictor.postprocess`` (``retina_masks=True``: its NMS,
    ``scale_boxes``, ``process_mask_native``) on the SAME raw network output as detbench's
    adapter (random weights from the model's YAML, real photos; the network input is proven equal
    to the predictor's in test_ultralytics_vs_library). With ``multi_label=False`` (the
    predictor's NMS) every detection of ours is one of theirs with a bit-equal mask, except those
    whose mask is empty, which the predictor drops and detbench keeps (as ultralytics' validator
    does). With ``multi_label=True`` (``yolo val``'s NMS, detbench's default) the predictor's
    detections are a subset of ours, with bit-equal masks."""
    pytest.importorskip("ultralytics")
    from types import SimpleNamespace

    from ultralytics.models.yolo.segment.predict import SegmentationPredictor

    assert produces_masks(name)
    det = seg_detector(name, multi_label, images)
    predictor = SegmentationPredictor(overrides=dict(retina_masks=True, conf=det.score_threshold, iou=det.iou, max_det=100, verbose=False))
    predictor.model = SimpleNamespace(names=dict(enumerate(CLASSES)), end2end=False)
    predictor.batch = (["image.jpg"],)
    for img in images:
        batch = det.preprocess([img])
        raw = det.forward(batch)
        (ours,) = det.postprocess(raw, batch)
        (res,) = predictor.postprocess((torch.from_numpy(raw[0]), raw[1]), batch.inputs, [img[:, :, ::-1]])
        theirs, their_masks = res.boxes.data.numpy(), res.masks.data.numpy().astype(bool)
        our_masks = decode(ours.masks)
        assert our_masks.shape == (len(ours), *img.shape[:2]) and their_masks.shape[1:] == img.shape[:2]
        matched = []
        for row, mask in zip(theirs, their_masks):
            gap = np.abs(ours.scores - row[4]) + 10.0 * (ours.labels != row[5]) + np.abs(ours.boxes - row[:4]).max(1)
            j = int(np.argmin(gap))
            assert gap[j] < 1e-3, f"{name}: the predictor's detection {row[:6]} is not among ours"
            assert np.array_equal(our_masks[j], mask), f"{name}: mask of detection {j} differs in {(our_masks[j] ^ mask).sum()} px"
            matched.append(j)
        assert len(set(matched)) == len(theirs) > 20
        unmatched = np.setdiff1d(np.arange(len(ours)), matched)
        if not multi_label:  # the same NMS: ours = theirs + the empty-mask detections the predictor drops
            assert not our_masks[unmatched].any()
