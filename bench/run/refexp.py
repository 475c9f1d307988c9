"""Referring expressions (RefCOCO / RefCOCO+ / RefCOCOg style): top-1 accuracy at IoU >= 0.5.

Each expression is one query: the detector's vocabulary is that expression alone, its
top-scoring box is the answer, and the answer is right when its IoU with the referred object's
box is >= 0.5 (continuous coordinates, no +1). Accuracy = right / expressions; an expression
with no box predicted counts as wrong.

Input: a COCO-style JSON whose ``images[]`` carry the expression in ``caption`` (MDETR's
``final_refcoco*.json`` has this shape: one image record per expression) and whose
``annotations[]`` hold the referred box(es) of that record (``bbox`` XYWH pixels); an
expression is right when the answer matches any of its boxes. Open-vocabulary detectors only
(``set_vocabulary``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import InputError
from bench.fmt import pts

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Expression:
    """One query: image file (relative to the image folder), text, referred boxes XYXY float64 ``[M, 4]``."""

    key: int
    file: str
    text: str
    boxes: np.ndarray


def load_expressions(path: str | Path) -> list[Expression]:
    """Expressions of a COCO-style JSON (see the module doc); bad records name file, record and field."""
    from bench.jsonio import load_json

    obj = load_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("images"), list) or not isinstance(obj.get("annotations"), list):
        raise InputError(str(path), None, None, "expected a JSON object with 'images' and 'annotations' lists")
    boxes: dict = {}
    for i, a in enumerate(obj["annotations"]):
        b = a.get("bbox") if isinstance(a, dict) else None
        if not isinstance(b, list) or len(b) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b):
            raise InputError(str(path), f"annotations[{i}]", "bbox", "expected [x, y, w, h] numbers")
        if b[2] < 0 or b[3] < 0:
            raise InputError(str(path), f"annotations[{i}]", "bbox", "width and height must be >= 0")
        boxes.setdefault(a.get("image_id"), []).append([b[0], b[1], b[0] + b[2], b[1] + b[3]])
    out = []
    for i, im in enumerate(obj["images"]):
        text = im.get("caption") if isinstance(im, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InputError(str(path), f"images[{i}]", "caption", "the referring expression (a non-empty string) is required")
        if im.get("id") not in boxes:
            raise InputError(str(path), f"images[{i}]", "id", "no annotation holds the referred box of this expression")
        out.append(Expression(im["id"], str(im.get("file_name")), text, np.asarray(boxes[im["id"]], np.float64)))
    return out


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one XYXY box with each of ``boxes`` ``[M, 4]`` (continuous coordinates)."""
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def top1_hits(answers: list[np.ndarray | None], expressions: list[Expression]) -> np.ndarray:
    """bool ``[N]``: the answer (XYXY, or None for no box) overlaps a referred box at IoU >= 0.5."""
    return np.array([a is not None and bool((iou(np.asarray(a, np.float64), e.boxes) >= IOU_THRESHOLD).any())
                     for a, e in zip(answers, expressions)], bool)  # fmt: skip


def run_refexp(detector, expressions: list[Expression], image_root: Path) -> dict:
    """Top-1 accuracy of an open-vocabulary ``detector`` (with ``set_vocabulary``) on ``expressions``.
    Returns {"top1_accuracy", "expressions", "correct", "iou_threshold", "answers": [{key, box, score, hit}]}."""
    from bench.data.images import load_image

    if not hasattr(detector, "set_vocabulary"):
        raise ValueError("referring expressions need an open-vocabulary detector (one with set_vocabulary)")
    answers, scores = [], []
    for e in expressions:
        detector.set_vocabulary([e.text])
        (d,) = detector.predict([load_image(Path(image_root) / e.file)])
        best = int(np.argmax(d.scores)) if len(d.scores) else None
        answers.append(None if best is None else np.asarray(d.boxes[best], np.float64))
        scores.append(None if best is None else float(d.scores[best]))
    hits = top1_hits(answers, expressions)
    return {"top1_accuracy": float(hits.mean()) if len(hits) else None, "expressions": len(expressions), "correct": int(hits.sum()),
            "iou_threshold": IOU_THRESHOLD,
            "answers": [{"key": e.key, "box": None if a is None else a.tolist(), "score": s, "hit": bool(h)}
                        for e, a, s, h in zip(expressions, answers, scores, hits)]}  # fmt: skip


def cmd_refexp(args, detector_args: dict) -> int:
    """``bench refexp``: one open-vocabulary detector on a referring-expression file."""
    import time

    from bench.errors import ArgumentError
    from bench.jsonio import dump_json
    from detectors.registry import build, family

    if family(args.detector) != "hf-open-vocabulary":
        raise ArgumentError(f"refexp: {args.detector} is not an open-vocabulary detector")
    exprs = load_expressions(args.gt)[: args.max_images or None]
    if not exprs:
        raise InputError(args.gt, "images", None, "no expressions")
    kw = {**detector_args, "device": args.device, "score_threshold": 0.0, "max_detections": 1}
    if args.prompt_template:
        kw["prompt"] = args.prompt_template
    if args.weights:
        kw["weights"] = args.weights
    det = build(args.detector, [exprs[0].text], **kw)
    t0 = time.perf_counter()
    out = run_refexp(det, exprs, Path(args.images))
    out.update(detector=args.detector, gt=str(args.gt), weights=args.weights or "pretrained", seconds=time.perf_counter() - t0,
               describe=det.describe())  # fmt: skip
    acc = out["top1_accuracy"]
    print(f"{args.detector}: top-1 accuracy @IoU>=0.5 {pts(acc)} ({out['correct']} of {out['expressions']})")
    if args.out:
        dump_json(args.out, out)
        print(f"wrote {args.out}")
    return 0
