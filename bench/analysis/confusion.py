"""A detection confusion matrix with an explicit background row and column.

Definition (also in the README): rows are the ground-truth class, columns the predicted class,
both with a last "background" entry; ``matrix[g, p]`` counts detections of class p paired with a
ground truth of class g.

1. Only detections with score >= ``score_threshold`` count (default 0.25); the others are not
   in the matrix at all (a ground truth only they would find is missed).
2. A detection of the right class at IoU >= ``iou`` is paired with its ground truth by the metric
   core's own matching (greedy by score, one ground truth per detection and per ground truth):
   the diagonal is exactly the core's true positives at that threshold among the counted
   detections.
3. Each remaining counted detection, in score order (image by image), is paired with the free
   ground truth of another class it overlaps most, if that IoU >= ``iou``: cell [gt class, its class].
4. Every other counted detection is a false positive on background: cell [background, its class]
   (this includes extra detections on images with ground truth and every detection on images
   without ground truth). Detections the core ignores (on a crowd region) are not counted.
5. Every non-ignored ground truth left unpaired is missed: cell [its class, background].
   ``matrix[background, background]`` is 0 (nothing is counted there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from bench.analysis.pairing import image_ious, image_spans, single_threshold, take_true_positives
from bench.data.model import Dataset, DetectionTable
from bench.metrics.codes import FP, TP
from bench.metrics.core import evaluate, ignore_flag
from bench.protocols import COCO, EvalProtocol

DEFAULT_IOU = 0.5
DEFAULT_SCORE = 0.25
DENSE_MAX = 100  # classes up to which the JSON holds the dense matrix


@njit(cache=True, error_model="numpy")
def _fill(d_xyxy, d_barea, d_cat, d_status, d_start, d_end, g_xyxy, g_barea, g_cat, g_start, g_end, iou_thr, n_cat):
    m = np.zeros((n_cat + 1, n_cat + 1), np.int64)
    used = np.zeros(g_cat.shape[0], np.bool_)
    for i in range(d_start.shape[0]):
        ds, de, gs, ge = d_start[i], d_end[i], g_start[i], g_end[i]
        iou = image_ious(ds, de, gs, ge, d_xyxy, d_barea, g_xyxy, g_barea)
        take_true_positives(iou, ds, de, gs, ge, d_cat, d_status, g_cat, used)
        for d in range(ds, de):
            if d_status[d] == TP:
                m[d_cat[d], d_cat[d]] += 1
            elif d_status[d] == FP:
                best, v = -1, iou_thr
                for g in range(gs, ge):
                    if not used[g] and g_cat[g] != d_cat[d] and iou[d - ds, g - gs] >= v:
                        if best < 0 or iou[d - ds, g - gs] > v:
                            best, v = g, iou[d - ds, g - gs]
                if best >= 0:
                    used[best] = True
                    m[g_cat[best], d_cat[d]] += 1
                else:
                    m[n_cat, d_cat[d]] += 1
        for g in range(gs, ge):
            if not used[g]:
                m[g_cat[g], n_cat] += 1
    return m


@dataclass
class Confusion:
    """matrix: int64 ``[K+1, K+1]`` (rows ground truth, columns prediction, last = background)."""

    matrix: np.ndarray
    labels: list[str]
    iou: float
    score_threshold: float

    def to_dict(self) -> dict:
        """JSON: ``matrix`` (dense rows) up to ``DENSE_MAX`` classes; beyond (LVIS), ``cells``:
        ``[[row, column, count], ...]`` for the non-zero cells only."""
        out = {"labels": self.labels + ["background"], "rows": "ground truth", "columns": "prediction",
               "iou": self.iou, "score_threshold": self.score_threshold}  # fmt: skip
        if len(self.labels) <= DENSE_MAX:
            out["matrix"] = self.matrix.tolist()
        else:
            g, p = np.nonzero(self.matrix)
            out["cells"] = [[int(a), int(b), int(self.matrix[a, b])] for a, b in zip(g, p)]
        return out


def confusion_matrix(ds: Dataset, det: DetectionTable, base: EvalProtocol = COCO, iou: float = DEFAULT_IOU,
                     score_threshold: float = DEFAULT_SCORE) -> Confusion:  # fmt: skip
    """The confusion matrix of ``det`` on ``ds`` (see the module docstring for the definition).

    Example::

        cm = confusion_matrix(ds, det, iou=0.5, score_threshold=0.25)
        cm.matrix[cm.labels.index("dog"), cm.labels.index("cat")]   # dogs detected as cats
    """
    if not 0.0 < iou <= 1.0 or not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"iou must be in (0, 1] and score_threshold in [0, 1], got {iou}, {score_threshold}")
    keep = np.flatnonzero(det.scores >= score_threshold)
    counted = DetectionTable(det.image_idx[keep], det.category_idx[keep], det.xyxy[keep], det.box_area[keep], det.scores[keep])
    table = evaluate(ds, counted, single_threshold(base, iou, "confusion", None)).table
    rows, img = table.dt_rows, table.image_idx
    order = np.lexsort((rows, -table.scores, img))
    rows, img, status = rows[order], img[order], table.status[0][order]
    b = ds.boxes
    g_rows = np.flatnonzero(~ignore_flag(ds, base))
    g_rows = g_rows[np.argsort(b.image_idx[g_rows], kind="stable")]
    spans = image_spans(img, b.image_idx[g_rows], len(ds.images))
    m = _fill(np.ascontiguousarray(counted.xyxy[rows]), counted.box_area[rows], counted.category_idx[rows], status, spans[0], spans[1],
              np.ascontiguousarray(b.xyxy[g_rows]), b.box_area[g_rows], b.category_idx[g_rows], spans[2], spans[3], iou,
              len(ds.categories))  # fmt: skip
    return Confusion(m, list(ds.categories.names), iou, score_threshold)
