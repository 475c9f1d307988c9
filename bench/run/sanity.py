"""Predictions that cannot be right: flagged loudly, never scored as if they were.

A decoding bug (raw grid outputs read as pixels, a wrong layout, swapped colour order with a
wrong scale) usually gives no error, only a near-zero AP that looks like a real result. These
checks look at the predictions alone, before scoring:

- ``collapsed``: most boxes have (almost) no area, or most sit in one corner of the image;
- ``identical``: (nearly) all boxes are the same box;
- ``empty``: most images have no detection at all;
- ``unconfident``: no detection on any image reaches score 0.05.

Each finding is a sentence with its numbers; a unit with any is marked ``degenerate`` in its
record, the console, the leaderboard and the report.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


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
