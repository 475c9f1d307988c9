"""YOLO-style pre- and post-processing in numpy, shared by the ONNX Runtime and ultralytics
adapters (no torch, no OpenCV).

Layouts of the raw network output (one image, ``N`` candidates, ``C`` classes), in input pixels:

- ``yolov8``:  [4 + C, N] (or [N, 4 + C]): cx, cy, w, h, class scores (YOLOv8 / YOLO11).
- ``yolov5``:  [N, 5 + C]: cx, cy, w, h, objectness, class scores; score = obj * cls.
- ``yolox``:   [N, 5 + C], as yolov5 (YOLOX exported with ``decode_in_inference``).
- ``nanodet``: [N, C + 4 * (reg_max + 1)]: sigmoid class scores, then the distance
  distributions of left / top / right / bottom, over centre priors of strides 8, 16, 32, 64.
- ``end2end``: [N, 6]: x1, y1, x2, y2, score, class, already NMS-free (YOLOv10 / YOLO26).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYOUTS = ("yolov8", "yolov5", "yolox", "nanodet", "end2end")


@dataclass(frozen=True)
class Preprocessing:
    """How a layout's images are prepared. ``colour``: channel order fed to the model;
    ``scale``: multiply pixels by it (1/255 or 1); ``mean``/``std`` in that channel order
    after scaling; ``letterbox``: keep the aspect ratio and pad (``centre`` or top-left) with
    ``pad_value``; otherwise stretch to the input size."""

    colour: str = "rgb"
    scale: float = 1 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    letterbox: bool = True
    centre: bool = True
    pad_value: float = 114.0


DEFAULTS = {  # the exporters' own conventions, and each project's default NMS IoU
    "yolov8": (Preprocessing(), 0.7),
    "yolov5": (Preprocessing(), 0.6),
    "yolox": (Preprocessing(colour="bgr", scale=1.0, centre=False), 0.65),
    "nanodet": (Preprocessing(colour="bgr", scale=1.0, mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395), letterbox=False), 0.6),
    "end2end": (Preprocessing(), None),
}


def resize_bilinear(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [h, w, 3], bilinear with half-pixel centres (OpenCV's
    INTER_LINEAR rule, no antialiasing)."""
    H, W = img.shape[:2]
    if (H, W) == (h, w):
        return img.astype(np.float32)
    ys = np.clip((np.arange(h) + 0.5) * (H / h) - 0.5, 0, H - 1)
    xs = np.clip((np.arange(w) + 0.5) * (W / w) - 0.5, 0, W - 1)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, H - 1), np.minimum(x0 + 1, W - 1)
    wy, wx = (ys - y0)[:, None, None].astype(np.float32), (xs - x0)[None, :, None].astype(np.float32)
    f = img.astype(np.float32)
    top = f[y0][:, x0] * (1 - wx) + f[y0][:, x1] * wx
    bottom = f[y1][:, x0] * (1 - wx) + f[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def prepare(img: np.ndarray, size: tuple[int, int], pre: Preprocessing) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """One uint8 RGB [H, W, 3] image -> float32 [3, h, w] input and the geometry
    (gain_x, gain_y, pad_x, pad_y) that maps input pixels back: orig = (inp - pad) / gain."""
    h, w = size
    H, W = img.shape[:2]
    if pre.letterbox:
        gain = min(h / H, w / W)
        nh, nw = max(1, round(H * gain)), max(1, round(W * gain))
        px, py = ((w - nw) / 2, (h - nh) / 2) if pre.centre else (0.0, 0.0)
        canvas = np.full((h, w, 3), pre.pad_value, dtype=np.float32)
        top, left = int(round(py - 0.1)), int(round(px - 0.1))
        canvas[top: top + nh, left: left + nw] = resize_bilinear(img, nh, nw)
        geometry = (nw / W, nh / H, float(left), float(top))
    else:
        canvas = resize_bilinear(img, h, w)
        geometry = (w / W, h / H, 0.0, 0.0)
    if pre.colour == "bgr":
        canvas = canvas[:, :, ::-1]
    x = (canvas * pre.scale - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32), geometry


def nanodet_priors(size: tuple[int, int], strides=(8, 16, 32, 64)) -> tuple[np.ndarray, np.ndarray]:
    """Centre priors (x, y) [N, 2] and their strides [N] for a NanoDet(-Plus) input size."""
    h, w = size
    centres, per = [], []
    for s in strides:
        fh, fw = int(np.ceil(h / s)), int(np.ceil(w / s))
        yy, xx = np.meshgrid(np.arange(fh) * s, np.arange(fw) * s, indexing="ij")
        centres.append(np.stack([xx.ravel(), yy.ravel()], 1))
        per.append(np.full(fh * fw, s))
    return np.concatenate(centres).astype(np.float32), np.concatenate(per).astype(np.float32)


def candidates(raw: np.ndarray, layout: str, num_classes: int, size: tuple[int, int]):
    """Raw output of one image -> (xyxy [N, 4] input pixels, class scores [N, C])."""
    raw = np.asarray(raw, dtype=np.float32)
    if layout == "yolov8":
        if raw.shape[0] == 4 + num_classes and raw.shape[1] != 4 + num_classes:
            raw = raw.T
        box, cls = raw[:, :4], raw[:, 4:]
    elif layout in ("yolov5", "yolox"):
        box, cls = raw[:, :4], raw[:, 5:] * raw[:, 4:5]
    elif layout == "nanodet":
        cls, dist = raw[:, :num_classes], raw[:, num_classes:]
        bins = dist.shape[1] // 4
        d = dist.reshape(-1, 4, bins)
        d = np.exp(d - d.max(-1, keepdims=True))
        d = (d / d.sum(-1, keepdims=True)) @ np.arange(bins, dtype=np.float32)
        centres, strides = nanodet_priors(size)
        if len(centres) != len(raw):
            raise ValueError(f"nanodet output has {len(raw)} rows but input size {size} gives {len(centres)} priors")
        d = d * strides[:, None]
        xyxy = np.concatenate([centres - d[:, :2], centres + d[:, 2:]], 1)
        return xyxy, cls
    else:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    xyxy = np.concatenate([box[:, :2] - box[:, 2:] / 2, box[:, :2] + box[:, 2:] / 2], 1)
    return xyxy, cls


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one XYXY box with [N, 4] boxes (continuous coordinates, no +1)."""
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float, max_keep: int) -> np.ndarray:
    """Class-aware greedy NMS; indices kept, by descending score (ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")
    offset = boxes + (labels.astype(np.float32) * (boxes.max() + 1.0 if len(boxes) else 0.0))[:, None]
    keep = []
    while order.size and len(keep) < max_keep:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou_one_to_many(offset[i], offset[rest]) <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode(raw: np.ndarray, layout: str, num_classes: int, size: tuple[int, int], geometry, orig: tuple[int, int],
           conf: float, iou: float | None, max_det: int, multi_label: bool = True, max_candidates: int = 30000):
    """Raw output of one image -> (xyxy in ORIGINAL pixels, scores, model class indices).

    ``multi_label``: a box may yield one detection per class above ``conf`` (ultralytics'
    validation default); otherwise only its best class."""
    if layout == "end2end":
        raw = np.asarray(raw, dtype=np.float32)
        keep = raw[:, 4] >= conf
        boxes, scores, labels = raw[keep, :4], raw[keep, 4], raw[keep, 5].astype(np.int64)
    else:
        xyxy, cls = candidates(raw, layout, num_classes, size)
        if multi_label:
            i, j = np.nonzero(cls > conf)
            boxes, scores, labels = xyxy[i], cls[i, j], j.astype(np.int64)
        else:
            j = cls.argmax(1)
            s = cls[np.arange(len(cls)), j]
            keep = s > conf
            boxes, scores, labels = xyxy[keep], s[keep], j[keep].astype(np.int64)
        if len(scores) > max_candidates:
            top = np.argsort(-scores, kind="stable")[:max_candidates]
            boxes, scores, labels = boxes[top], scores[top], labels[top]
        keep = nms(boxes, scores, labels, iou, max_det)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    gx, gy, px, py = geometry
    out = (boxes - np.array([px, py, px, py], np.float32)) / np.array([gx, gy, gx, gy], np.float32)
    h, w = orig
    out[:, 0::2] = out[:, 0::2].clip(0, w)
    out[:, 1::2] = out[:, 1::2].clip(0, h)
    return out, scores, labels


class YoloBase:
    """Mixin for YOLO-style adapters: letterbox ``preprocess`` and NMS ``postprocess``.
    Needs ``input_size`` (h, w), ``layout``, ``pre`` (Preprocessing), ``iou``, ``multi_label``,
    ``num_model_classes`` and ``label_map`` set by the adapter."""

    def preprocess(self, images):
        from detectors.base import Batch, to_hwc_uint8

        arrays = to_hwc_uint8(images)
        prepared = [prepare(a, self.input_size, self.pre) for a in arrays]
        x = np.stack([p[0] for p in prepared])
        return Batch(self.to_input(x), [a.shape[:2] for a in arrays], {"geometry": [p[1] for p in prepared]})

    def to_input(self, x: np.ndarray):
        return x

    def postprocess(self, raw, batch):
        from detectors.base import finalize

        raw = np.asarray(raw)
        out = []
        for i, size in enumerate(batch.sizes):
            boxes, scores, labels = decode(raw[i], self.layout, self.num_model_classes, self.input_size, batch.meta["geometry"][i],
                                           size, self.score_threshold, self.iou, self.max_detections * self.cap_factor, self.multi_label)  # fmt: skip
            out.append(finalize(boxes, scores, labels, size, self.score_threshold, self.max_detections, self.label_map.model_to_dataset))
        return out

    def yolo_describe(self) -> dict:
        return {
            "layout": self.layout, "input_size": list(self.input_size),
            "preprocessing": {"colour": self.pre.colour, "scale": self.pre.scale, "mean": list(self.pre.mean), "std": list(self.pre.std),
                              "letterbox": self.pre.letterbox, "centred": self.pre.centre, "pad_value": self.pre.pad_value},
            "postprocess": {"nms_iou": self.iou, "multi_label": self.multi_label, "nms": "class-aware greedy (numpy)",
                            "max_candidates": 30000, "clip_boxes": True},
            "label_map": self.label_map.describe(),
        }  # fmt: skip
