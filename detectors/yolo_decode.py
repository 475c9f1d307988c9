"""YOLO-style pre- and post-processing in numpy, shared by the ONNX Runtime and ultralytics
adapters (no torch). Each layout follows its exporter's DEFAULT output and its project's own
demo / evaluation pipeline (see ``LAYOUTS``).

Raw network output per image (``N`` candidates, ``C`` classes); coordinates in input pixels:

- ``yolov8``:  [4 + C, N] (or [N, 4 + C]): cx, cy, w, h, class scores (ultralytics YOLOv8 / YOLO11).
- ``yolov5``:  [N, 5 + C]: cx, cy, w, h, objectness, class scores; score = obj * cls.
- ``yolox``:   [N, 5 + C], the RAW head of the official ``tools/export_onnx.py`` (its
  ``decode_in_inference`` is off): x, y are offsets in grid cells, w, h are log sizes in
  strides, over grids of strides 8, 16, 32 (64 for P6): cx = (x + j) * s, w = exp(w) * s.
  Score = obj * best class (YOLOX's ``postprocess`` keeps one class per box).
- ``yolox-decoded``: [N, 5 + C], YOLOX exported with ``--decode_in_inference``: cx, cy, w, h in pixels.
- ``nanodet``: NanoDet v0.x export, six outputs ``cls_pred_stride_S`` [N_S, C] (sigmoid) and
  ``dis_pred_stride_S`` [N_S, 4 * 8] (distance distributions), strides 8, 16, 32, priors at
  ((j + 0.5) * S, (i + 0.5) * S). The adapter joins them into [N, C + 32] in stride order.
- ``nanodet-plus``: one output [N, C + 32], strides 8, 16, 32, 64, priors at (j * S, i * S).
- ``end2end``: [N, 6]: x1, y1, x2, y2, score, class, already NMS-free (YOLOv10 / YOLO26).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detectors.image_ops import backend, resize_uint8, warp_scale_translate
from detectors.nms import backend as nms_backend
from detectors.nms import nms


@dataclass(frozen=True)
class Preprocessing:
    """How a layout's images are prepared (uint8 RGB in).

    ``resize``: ``letterbox`` (cv2.resize to the kept-ratio size, then pad: centred with
    ultralytics' rounding, or at the top-left as YOLOX does) or ``warp`` (NanoDet's
    warpPerspective; with ``keep_ratio`` the image is scaled to fit and centred, zero border).
    ``keep_ratio=False`` stretches to the input size. ``size_rounding``: how the kept-ratio size
    is made whole (``round``: ultralytics; ``floor``: YOLOX's ``int(w * r)``).
    ``colour``: channel order fed to the model; ``scale``: multiply pixels by it (divide by 1 / scale
    where that is whole, as ultralytics' ``im / 255``, which rounds differently); ``mean`` /
    ``std`` in that channel order after scaling; ``pad_value``: grey level of the padding."""

    colour: str = "rgb"
    scale: float = 1 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: str = "letterbox"
    keep_ratio: bool = True
    centre: bool = True
    pad_value: float = 114.0
    size_rounding: str = "round"

    def __post_init__(self):
        """Every value checked where it is defined, so no adapter or override can set one that
        ``prepare`` would silently misread; ``mean`` / ``std`` become tuples."""
        for key, allowed in {"colour": ("rgb", "bgr"), "resize": ("letterbox", "warp"), "size_rounding": ("round", "floor")}.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} must be {' or '.join(allowed)}, got {getattr(self, key)!r}")
        for key in ("scale", "pad_value"):
            if isinstance(getattr(self, key), bool) or not isinstance(getattr(self, key), (int, float)):
                raise ValueError(f"{key} must be a number, got {getattr(self, key)!r}")
        for key in ("mean", "std"):
            value = getattr(self, key)
            if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(isinstance(v, (int, float)) for v in value):
                raise ValueError(f"{key} must be three numbers (one per channel), got {value!r}")
            object.__setattr__(self, key, tuple(value))

    def describe(self) -> dict:
        return {"colour": self.colour, "scale": self.scale, "mean": list(self.mean), "std": list(self.std), "resize": self.resize,
                "keep_ratio": self.keep_ratio, "centred": self.centre, "pad_value": self.pad_value,
                "size_rounding": self.size_rounding, "resize_backend": backend()}  # fmt: skip


@dataclass(frozen=True)
class PreNmsCaps:
    """The candidates an upstream passes to NMS. ``per_level``: per pyramid level, the rows of
    highest best-class score (before the score threshold and the class split); ``total``: after
    the class split, the candidates of highest score; None: no cap. ``source``: where upstream does it."""

    per_level: int | None = None
    total: int | None = None
    source: str = "no pre-NMS cap upstream"

    def describe(self) -> dict:
        return {"per_level": self.per_level, "total": self.total, "source": self.source}


@dataclass(frozen=True)
class Layout:
    """An exporter's output convention and its project's evaluation defaults."""

    pre: Preprocessing
    nms_iou: float | None  # None: NMS is in the graph
    multi_label: bool  # one detection per (box, class) above the threshold, or the best class only
    source: str
    caps: PreNmsCaps = PreNmsCaps()


_ULTRA = Preprocessing()
_NANO_NORM = dict(colour="bgr", scale=1.0, mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395), pad_value=0.0, resize="warp")
_YOLOX = Preprocessing(colour="bgr", scale=1.0, centre=False, size_rounding="floor")
_MAX_NMS = "max_nms=30000 in {} non_max_suppression (top 30000 candidates by score after the class split)"
_NANO_V0_CAP = PreNmsCaps(per_level=1000, source="RangiLyu/nanodet v0.x gfl_head.get_bboxes_single: nms_pre = 1000 rows per level by "
                                                 "best-class score (commit d7caaca, the embedded NanoDet-m's; dropped in v1.0)")
_YOLOX_CAPS = PreNmsCaps(source="Megvii YOLOX yolox/utils/boxes.py postprocess: every candidate above conf goes to batched_nms (no cap)")
LAYOUTS: dict[str, Layout] = {
    "yolov8": Layout(_ULTRA, 0.7, True, "ultralytics export; `yolo val` defaults: conf 0.001, NMS IoU 0.7, multi-label, 300 detections",
                     PreNmsCaps(total=30000, source=_MAX_NMS.format("ultralytics/utils/nms.py"))),
    "yolov5": Layout(_ULTRA, 0.6, True, "ultralytics/yolov5 export.py; val.py defaults: conf 0.001, NMS IoU 0.6, multi-label",
                     PreNmsCaps(total=30000, source=_MAX_NMS.format("ultralytics/yolov5 utils/general.py"))),
    "yolox": Layout(_YOLOX, 0.65, False, "Megvii YOLOX tools/export_onnx.py (raw head); preproc + demo_postprocess; COCO eval NMS 0.65",
                    _YOLOX_CAPS),
    "yolox-decoded": Layout(_YOLOX, 0.65, False, "YOLOX export_onnx.py --decode_in_inference; COCO eval NMS 0.65", _YOLOX_CAPS),
    "nanodet": Layout(Preprocessing(**_NANO_NORM, keep_ratio=True), 0.6, True, "RangiLyu/nanodet v0.x export (six outputs); keep-ratio centred warp; NMS 0.6",
                      _NANO_V0_CAP),
    "nanodet-plus": Layout(Preprocessing(**_NANO_NORM, keep_ratio=False), 0.6, True, "RangiLyu/nanodet >= v1.0 (NanoDet-Plus) export; stretch warp; NMS 0.6",
                           PreNmsCaps(source="RangiLyu/nanodet v1.x head get_bboxes: every prior goes to multiclass_nms (no cap)")),
    "end2end": Layout(_ULTRA, None, False, "NMS-free export: x1, y1, x2, y2, score, class"),
}
DEFAULTS = {name: (spec.pre, spec.nms_iou) for name, spec in LAYOUTS.items()}  # (pre-processing, NMS IoU)


def prepare(img: np.ndarray, size: tuple[int, int], pre: Preprocessing,
            gain: float | None = None) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """One uint8 RGB [H, W, 3] image -> float32 [3, h, w] input and the geometry
    (gain_x, gain_y, pad_x, pad_y) that maps input pixels back: orig = (inp - pad) / gain.
    ``gain``: the kept-ratio scale when ``size`` was derived from it (``rect_input``), instead of
    min(h / H, w / W), which can differ from it by rounding."""
    h, w = size
    H, W = img.shape[:2]
    gx, gy = (gain if gain is not None else min(h / H, w / W),) * 2 if pre.keep_ratio else (w / W, h / H)
    if pre.resize == "warp":
        tx, ty = ((w - W * gx) / 2, (h - H * gy) / 2) if pre.keep_ratio else (0.0, 0.0)
        canvas = warp_scale_translate(img, gx, gy, tx, ty, h, w, int(pre.pad_value))
        geometry = (gx, gy, tx, ty)
    elif pre.keep_ratio:
        whole = round if pre.size_rounding == "round" else int
        nh, nw = max(1, whole(H * gx)), max(1, whole(W * gx))
        left, top = (int(round((w - nw) / 2 - 0.1)), int(round((h - nh) / 2 - 0.1))) if pre.centre else (0, 0)
        canvas = np.full((h, w, 3), int(pre.pad_value), dtype=np.uint8)
        canvas[top: top + nh, left: left + nw] = resize_uint8(img, nh, nw)
        # back-projection as each upstream does it: ultralytics' scale_boxes divides by the rounded
        # size's own ratio per axis (nw / W, nh / H); YOLOX divides by r
        geometry = (nw / W, nh / H, float(left), float(top)) if pre.size_rounding == "round" else (gx, gx, float(left), float(top))
    else:
        canvas = resize_uint8(img, h, w)
        geometry = (gx, gy, 0.0, 0.0)
    if pre.colour == "bgr":
        canvas = canvas[:, :, ::-1]
    x = canvas.astype(np.float32)
    divisor = 1.0 / pre.scale
    if divisor == round(divisor):  # ultralytics' `im / 255`: dividing, as upstream, rounds as upstream
        x = x / np.float32(divisor)  # (x * (1/255) differs by one float32 ulp for half the pixel values)
    else:
        x = x * np.float32(pre.scale)
    x = (x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32), geometry


def rect_input(shape: tuple[int, int], imgsz: int, stride: int) -> tuple[tuple[int, int], float]:
    """ultralytics' minimum-rectangle letterbox (``LetterBox(auto=True)``, ``model.predict``'s
    default ``rect=True``) for an [H, W] image: the input (h, w), the kept-ratio size padded up to
    a multiple of ``stride``, and its scale r = min(imgsz / H, imgsz / W)."""
    H, W = shape
    r = min(imgsz / H, imgsz / W)
    nh, nw = max(round(H * r), 1), max(round(W * r), 1)
    return (nh + (imgsz - nh) % stride, nw + (imgsz - nw) % stride), r


def grid_priors(size: tuple[int, int], strides, offset: float = 0.0, ceil: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Grid cells (x, y) [N, 2], as ((j + offset) * s, (i + offset) * s) per stride, row-major,
    and their strides [N]. ``ceil``: feature maps of ceil(h / s) (NanoDet) or floor (YOLOX)."""
    h, w = size
    centres, per = [], []
    for s in strides:
        fh, fw = (math.ceil(h / s), math.ceil(w / s)) if ceil else (h // s, w // s)
        yy, xx = np.meshgrid((np.arange(fh) + offset) * s, (np.arange(fw) + offset) * s, indexing="ij")
        centres.append(np.stack([xx.ravel(), yy.ravel()], 1))
        per.append(np.full(fh * fw, s))
    return np.concatenate(centres).astype(np.float32), np.concatenate(per).astype(np.float32)


def nanodet_priors(size: tuple[int, int], strides=(8, 16, 32, 64), offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Centre priors (x, y) [N, 2] and strides [N]: NanoDet-Plus (offset 0), v0.x (offset 0.5)."""
    return grid_priors(size, strides, offset, ceil=True)


def yolox_strides(size: tuple[int, int], rows: int) -> tuple[int, ...]:
    """The YOLOX strides (P5 or P6) whose grids give ``rows`` cells at input ``size``."""
    for strides in ((8, 16, 32), (8, 16, 32, 64)):
        if sum((size[0] // s) * (size[1] // s) for s in strides) == rows:
            return strides
    raise ValueError(f"a YOLOX raw head at input {size[0]}x{size[1]} has {sum((size[0] // s) * (size[1] // s) for s in (8, 16, 32))} "
                     f"rows (strides 8/16/32), not {rows}: is this a YOLOX export, and is the input size right?")


def _probabilities(x: np.ndarray) -> np.ndarray:
    """Class / objectness scores: exports apply the sigmoid in the graph; logits get it here."""
    return x if x.size == 0 or (x.min() >= 0.0 and x.max() <= 1.0) else 1.0 / (1.0 + np.exp(-x))


def _distance_boxes(raw: np.ndarray, num_classes: int, size: tuple[int, int], strides, offset: float):
    cls, dist = _probabilities(raw[:, :num_classes]), raw[:, num_classes:]
    bins = dist.shape[1] // 4
    d = dist.reshape(-1, 4, bins)
    d = np.exp(d - d.max(-1, keepdims=True))
    d = (d / d.sum(-1, keepdims=True)) @ np.arange(bins, dtype=np.float32)
    centres, per = nanodet_priors(size, strides, offset)
    if len(centres) != len(raw):
        raise ValueError(f"NanoDet output has {len(raw)} rows but input {size[0]}x{size[1]} with strides {list(strides)} "
                         f"gives {len(centres)} priors: wrong layout (nanodet = v0.x, nanodet-plus = v1.x) or input size?")
    d = d * per[:, None]
    h, w = size
    xyxy = np.concatenate([centres - d[:, :2], centres + d[:, 2:]], 1)
    xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, w)  # distance2bbox(max_shape=input)
    xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, h)
    return xyxy, cls


def candidates(raw: np.ndarray, layout: str, num_classes: int, size: tuple[int, int], strides=None):
    """Raw output of one image -> (xyxy [N, 4] input pixels, class scores [N, C])."""
    raw = np.asarray(raw, dtype=np.float32)
    if layout == "yolov8":
        if raw.shape[0] == 4 + num_classes and raw.shape[1] != 4 + num_classes:
            raw = raw.T
        box, cls = raw[:, :4], raw[:, 4:]
    elif layout in ("yolov5", "yolox", "yolox-decoded"):
        box, cls = raw[:, :4], _probabilities(raw[:, 5:]) * _probabilities(raw[:, 4:5])
        if layout == "yolox":
            cells, per = grid_priors(size, strides or yolox_strides(size, len(raw)), 0.0, ceil=False)  # cells = (j * s, i * s)
            box = np.concatenate([box[:, :2] * per[:, None] + cells, np.exp(np.minimum(box[:, 2:], 20.0)) * per[:, None]], 1)
    elif layout == "nanodet":
        return _distance_boxes(raw, num_classes, size, strides or (8, 16, 32), 0.5)
    elif layout == "nanodet-plus":
        return _distance_boxes(raw, num_classes, size, strides or (8, 16, 32, 64), 0.0)
    else:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    xyxy = np.concatenate([box[:, :2] - box[:, 2:] / 2, box[:, :2] + box[:, 2:] / 2], 1)
    return xyxy, cls


def level_rows(layout: str, size: tuple[int, int], strides=None) -> list[int]:
    """Rows per pyramid level, in stride order, of a NanoDet output at input ``size`` (its grids are ceil(h / s) x ceil(w / s))."""
    default = (8, 16, 32) if layout == "nanodet" else (8, 16, 32, 64)
    return [math.ceil(size[0] / s) * math.ceil(size[1] / s) for s in (strides or default)]


def top_rows_per_level(cls: np.ndarray, counts: list[int], k: int) -> np.ndarray:
    """Row indices kept by a per-level pre-NMS cap: in each level the ``k`` rows of highest best-class
    score (NanoDet v0.x's ``nms_pre``: ``scores.max(1).topk(k)``; ties: lower row first), in row order."""
    keep, start = [], 0
    best = cls.max(1) if cls.size else np.zeros(len(cls), np.float32)
    for n in counts:
        rows = np.arange(start, start + n)
        keep.append(rows if n <= k else np.sort(rows[np.argsort(-best[start: start + n], kind="stable")[:k]]))
        start += n
    return np.concatenate(keep) if keep else np.zeros(0, np.int64)


def decode(raw: np.ndarray, layout: str, num_classes: int, size: tuple[int, int], geometry, orig: tuple[int, int],
           conf: float, iou: float | None, max_det: int, multi_label: bool = True, caps: PreNmsCaps | None = None, strides=None,
           wanted: np.ndarray | None = None, extra: np.ndarray | None = None, nms_impl: str = "auto"):
    """Raw output of one image -> (xyxy in ORIGINAL pixels, scores, model class indices), and
    with ``extra`` ([N, K] per-candidate values, e.g. mask coefficients) a fourth element: the
    kept detections' rows of ``extra``, carried through the class split, the cap and NMS.

    ``multi_label``: a box may yield one detection per class above ``conf`` (ultralytics'
    validation default); otherwise only its best class (YOLOX). ``wanted``: bool [C], the model
    classes the dataset has; the others are dropped before NMS and the cap, so they never
    crowd out the dataset's classes (with ``multi_label=False`` a box keeps its best class,
    and is dropped if that class is unwanted, as the model's own output would be). ``caps``: the
    pre-NMS candidate caps (default: the layout's upstream ones, ``LAYOUTS[layout].caps``);
    ``nms_impl``: ``detectors.nms.nms``'s (``"auto"``: the C kernel where built; ``"numpy"``)."""
    caps = LAYOUTS[layout].caps if caps is None else caps
    if layout == "end2end":
        if extra is not None:
            raise ValueError("extra per-candidate values are not supported for end2end (NMS-free) outputs")
        raw = np.asarray(raw, dtype=np.float32)
        keep = (raw[:, 4] >= conf) & (raw[:, 4] > 0)  # in-graph NMS pads its fixed K rows with zeros
        keep &= True if wanted is None else wanted[raw[:, 5].astype(np.int64).clip(0, len(wanted) - 1)]
        boxes, scores, labels = raw[keep, :4], raw[keep, 4], raw[keep, 5].astype(np.int64)
    else:
        xyxy, cls = candidates(raw, layout, num_classes, size, strides)
        rows = np.arange(len(cls))
        if caps.per_level is not None:
            rows = top_rows_per_level(cls, level_rows(layout, size, strides), caps.per_level)
            xyxy, cls = xyxy[rows], cls[rows]
        if wanted is not None and multi_label:
            cls = np.where(wanted[None, :], cls, -1.0)
        if multi_label:
            i, j = np.nonzero(cls > conf)
            boxes, scores, labels = xyxy[i], cls[i, j], j.astype(np.int64)
        else:
            j = cls.argmax(1) if len(cls) else np.zeros(0, np.int64)
            s = cls[np.arange(len(cls)), j]
            keep = (s >= conf) & (True if wanted is None else wanted[j])
            i = np.flatnonzero(keep)
            boxes, scores, labels = xyxy[keep], s[keep], j[keep].astype(np.int64)
        if caps.total is not None and len(scores) > caps.total:
            top = np.argsort(-scores, kind="stable")[: caps.total]
            boxes, scores, labels, i = boxes[top], scores[top], labels[top], i[top]
        keep = nms(boxes, scores, labels, iou, max_det, nms_impl)
        boxes, scores, labels, i = boxes[keep], scores[keep], labels[keep], rows[i[keep]]
    gx, gy, px, py = geometry
    out = (boxes - np.array([px, py, px, py], np.float32)) / np.array([gx, gy, gx, gy], np.float32)
    h, w = orig
    out[:, 0::2] = out[:, 0::2].clip(0, w)
    out[:, 1::2] = out[:, 1::2].clip(0, h)
    return (out, scores, labels) if extra is None else (out, scores, labels, np.asarray(extra)[i])


class YoloBase:
    """Mixin for YOLO-style adapters: ``preprocess`` and NMS ``postprocess``. Needs
    ``input_size`` (h, w), ``layout``, ``pre`` (Preprocessing), ``iou``, ``multi_label``,
    ``num_model_classes`` and ``label_map`` set by the adapter; ``strides`` (optional)
    overrides the layout's."""

    strides = None
    pre_nms_caps: PreNmsCaps | None = None  # None: the layout's upstream caps (LAYOUTS[layout].caps)
    nms_impl = "auto"  # detectors.nms.nms: the C kernel where built, else numpy ("numpy" forces it)
    masks = False  # segmentation adapters: raw = (pred [B, 4 + C + K, N], prototypes [B, K, h, w]) and ``mask_maker``

    def batch_input(self, shapes: list[tuple[int, int]]) -> tuple[tuple[int, int], float | None]:
        """The input (h, w) of a batch of [H, W] images, and the letterbox scale when it is
        fixed by that size (else None): ``input_size`` here; adapters may size it per batch."""
        return self.input_size, None

    def preprocess(self, images):
        from detectors.base import Batch, to_hwc_uint8

        arrays = to_hwc_uint8(images)
        size, gain = self.batch_input([a.shape[:2] for a in arrays])
        prepared = [prepare(a, size, self.pre, gain) for a in arrays]
        x = np.stack([p[0] for p in prepared])
        return Batch(self.to_input(x), [a.shape[:2] for a in arrays], {"geometry": [p[1] for p in prepared], "input_size": size})

    def to_input(self, x: np.ndarray):
        return x

    def postprocess(self, raw, batch):
        from detectors.base import finalize

        raw, protos = raw if self.masks else (raw, None)
        raw, nc = np.asarray(raw), self.num_model_classes
        out = []
        for i, size in enumerate(batch.sizes):
            scores_rows = raw[i] if protos is None else raw[i][: 4 + nc]  # segmentation: mask coefficients after the classes
            found = decode(scores_rows, self.layout, nc, batch.meta.get("input_size", self.input_size), batch.meta["geometry"][i], size,
                           self.score_threshold, self.iou, self.max_detections, self.multi_label, strides=self.strides,
                           wanted=self.label_map.model_to_dataset >= 0, extra=None if protos is None else raw[i][4 + nc:].T,
                           caps=self.pre_nms_caps, nms_impl=self.nms_impl)  # fmt: skip
            boxes, scores, labels = found[:3]
            masks = None if protos is None else self.mask_maker(protos[i], found[3], boxes, size)
            out.append(finalize(boxes, scores, labels, size, self.score_threshold, self.max_detections, self.label_map.model_to_dataset,
                                masks=masks))  # fmt: skip
        return out

    def yolo_describe(self) -> dict:
        return {
            "layout": self.layout, "layout_source": LAYOUTS[self.layout].source, "input_size": list(self.input_size),
            "preprocessing": self.pre.describe(),
            "postprocess": {"nms_iou": self.iou, "multi_label": self.multi_label, "nms": f"class-aware greedy ({nms_backend() if self.nms_impl == 'auto' else self.nms_impl})",
                            "pre_nms_caps": (self.pre_nms_caps or LAYOUTS[self.layout].caps).describe(), "clip_boxes": True},
            "label_map": self.label_map.describe(),
        }  # fmt: skip
