"""Predictions that cannot be right: flagged loudly, never scored as if they were.

A decoding bug (raw grid outputs read as pixels, a wrong layout, swapped colour order with a
wrong scale) usually gives no error, only a near-zero AP that looks like a real result. These
checks look at the predictions alone, before scoring:

- ``collapsed``: most boxes have (almost) no area, or most sit in one corner of the image;
- ``identical``: (nearly) all boxes are the same box;
- ``empty``: most images have no detection at all;
- ``unconfident``: no detection on any image reaches score 0.05.

Predictions that look varied can still be wrong (an export fed another colour order or
normalisation than it was made for). After scoring, a unit with real weights on a real dataset is
checked against what it should be near (:func:`implausible_findings`):

- ``implausible``: no true positive at IoU 0.5 over the scored images, though they hold objects
  of classes the detector can predict (its label map's other classes are not counted);
- ``implausible``: COCO AP under ``PLAUSIBLE_FRACTION`` of the detector's published AP, on at
  least ``MIN_IMAGES_FOR_FRACTION`` images (fewer images are too noisy to judge by).

Each finding is a sentence with its numbers (the implausible ones with the likely causes for
the detector's layout, and ``bench doctor`` to test them); a unit with any is marked
``degenerate`` in its record, the console, the leaderboard, the report and the gate.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PLAUSIBLE_FRACTION = 0.25  # of the published AP: a real export's AP on real images is well above it
MIN_IMAGES_FOR_FRACTION = 50


def degenerate_findings(dets: Sequence, sizes: Sequence[tuple[int, int]], min_boxes: int = 20) -> list[str]:
    """dets: one ``Detections`` per image (boxes XYXY absolute pixels); sizes: (height, width)."""
    if not len(dets):
        return []
    out = []
    empty = sum(len(d) == 0 for d in dets)
    if empty > len(dets) / 2:
        out.append(f"empty: {empty} of {len(dets)} images have no detection")
    boxes = [d.boxes for d in dets if len(d)]
    if not boxes:
        return out
    b = np.concatenate(boxes).astype(np.float64)
    scale = np.concatenate([np.tile([w, h, w, h], (len(d), 1)) for d, (h, w) in zip(dets, sizes) if len(d)]).astype(np.float64)
    n = len(b)
    scores = np.concatenate([d.scores for d in dets if len(d)])
    if float(scores.max()) < 0.05:
        out.append(f"unconfident: the highest score over {n} detections is {float(scores.max()):.4f} (< 0.05)")
    if n < min_boxes:
        return out
    rel = b / np.maximum(scale, 1.0)
    wh = np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
    tiny = float(np.mean((wh < 1.0).any(1) | ((rel[:, 2] - rel[:, 0]) * (rel[:, 3] - rel[:, 1]) < 1e-5)))
    if tiny > 0.5:
        out.append(f"collapsed: {100 * tiny:.0f}% of {n} boxes have under 1 pixel of width or height (or 0.001% of the image)")
    centre = np.stack([(rel[:, 0] + rel[:, 2]) / 2, (rel[:, 1] + rel[:, 3]) / 2], 1)
    for name, corner in (("top-left", (0, 0)), ("top-right", (1, 0)), ("bottom-left", (0, 1)), ("bottom-right", (1, 1))):
        near = float(np.mean(np.abs(centre - np.asarray(corner)).max(1) < 0.03))
        if near > 0.5:
            out.append(f"collapsed: {100 * near:.0f}% of {n} box centres lie within 3% of the image's {name} corner")
    unique = len(np.unique(np.round(rel, 3), axis=0))
    if unique <= max(2, n // 100):
        out.append(f"identical: {n} boxes take only {unique} distinct positions")
    return out


def likely_causes(describe: dict) -> str:
    """The preprocessing a detector was given (its ``describe()``), as the list of what to check."""
    pre, layout = describe.get("preprocessing"), describe.get("layout")
    if not pre:
        return "likely causes: the weights or label map do not fit this dataset, or the images reach the model in another form than in training"
    size = describe.get("input_size")
    norm = f"scale {pre['scale']:g}, mean {pre['mean']}, std {pre['std']}"
    place = f"{pre['resize']}{', kept ratio' if pre['keep_ratio'] else ', stretched'}{', centred' if pre.get('centred') else ', top-left'}"
    return (f"likely causes for a {layout} export: colour order (given {pre['colour'].upper()}), scale and mean/std ({norm}), "
            f"letterbox placement ({place}), input size ({'x'.join(map(str, size)) if size else '?'}); older exports of a family "
            "may take other values than its current exporter (e.g. YOLOX before 0.1.1: RGB, /255, ImageNet mean/std). "
            "Run `bench doctor --detector NAME [--weights FILE]` to try the variants")  # fmt: skip


def implausible_findings(result, describe: dict, dataset: str, images: int) -> list[str]:
    """Findings for a scored unit with real weights (``result``: its box EvalResult; ``describe``:
    the detector's ``describe()``; ``dataset``: its name; ``images``: how many were scored).
    Synthetic datasets are never judged (their shapes are not what detectors were trained on)."""
    from bench.fmt import pts
    from bench.metrics.codes import TP

    if dataset.startswith("synthetic") or images == 0:
        return []
    out = []
    t50 = result.protocol.iou_index(0.5)
    unpredictable = set(((describe.get("label_map") or {}).get("unpredictable_dataset_classes")) or [])
    objects = int(sum(n for name, n in zip(result.category_names, result.table.npos) if name not in unpredictable))
    if t50 is not None and objects > 0 and not (result.table.status[t50] == TP).any():
        out.append(f"implausible: no true positive at IoU 0.5 over {images} images holding {objects} objects of classes it predicts "
                   f"({result.counts.get('detections', len(result.table.scores))} detections)")  # fmt: skip
    published = (describe.get("published") or {}).get("box_map")
    ap = result.metrics.get("AP")
    if (published and ap is not None and result.protocol.name == "coco" and images >= MIN_IMAGES_FOR_FRACTION
            and ap < PLAUSIBLE_FRACTION * published / 100):  # fmt: skip
        out.append(f"implausible: AP {pts(ap)} on {images} images is under {PLAUSIBLE_FRACTION:.0%} of the published "
                   f"{published:.1f} ({(describe.get('published') or {}).get('source', 'registry')})")  # fmt: skip
    if out:
        out.append(likely_causes(describe))
    return out
