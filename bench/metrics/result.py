"""Named metrics from the accumulated arrays, and the :class:`EvalResult` they live in.

Values are fractions in [0, 1]; an undefined value (no ground truth to find) is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.data.model import Dataset
from bench.metrics.curves import PRCurve, best_f1_per_category, pr_curve
from bench.native.sort import argsort_desc
from bench.protocols import EvalProtocol

AREA_SUFFIX = {"small": "s", "medium": "m", "large": "l"}
TIE_WARNING_FRACTION = 0.05


@dataclass(frozen=True)
class MatchTable:
    """Per-detection results of the core: area "all", the largest max-dets setting.

    The analysis features (bootstrap, TIDE, confusion, operating points) read this table
    instead of matching again.

    status: int8 ``[T, D]`` in accumulation order (0 FP, 1 TP, 2 ignored); scores ``[D]``;
    category c owns ``cat_start[c]:cat_end[c]``; npos: int64 ``[K]`` ground truth to find.
    dt_rows: int64 ``[D]`` row of each detection in the :class:`DetectionTable` scored.
    image_idx: int64 ``[D]`` image index of each detection.
    gt_image_idx / gt_category_idx: int64 ``[G]`` image and category index of each ground
    truth box counted in ``npos`` (not ignored, area "all"), so per-image counts can be resampled.
    """

    status: np.ndarray
    scores: np.ndarray
    cat_start: np.ndarray
    cat_end: np.ndarray
    npos: np.ndarray
    dt_rows: np.ndarray | None = None
    image_idx: np.ndarray | None = None
    gt_image_idx: np.ndarray | None = None
    gt_category_idx: np.ndarray | None = None


@dataclass
class EvalResult:
    protocol: EvalProtocol
    metrics: dict[str, float | None]
    per_class: dict[str, dict]
    per_area: dict[str, dict]
    counts: dict[str, int]
    warnings: list[str]
    category_names: list[str]
    table: MatchTable = field(repr=False)
    precision: np.ndarray | None = field(default=None, repr=False)  # coco101: [T, R, K, A, M]
    recall: np.ndarray | None = field(default=None, repr=False)  # [T, K, A, M], NaN where undefined
    iou_type: str = "bbox"  # "segm": mask IoU

    def pr_curve(self, category: str | int, iou: float = 0.5) -> PRCurve:
        """The PR curve of one category (name or index) at IoU threshold ``iou``."""
        k = self.category_names.index(category) if isinstance(category, str) else int(category)
        t = self.protocol.iou_index(iou)
        if t is None:
            raise ValueError(f"IoU {iou} is not one of the protocol's thresholds {self.protocol.iou_thresholds}")
        s, e = self.table.cat_start[k], self.table.cat_end[k]
        return pr_curve(self.table.status[t, s:e], self.table.scores[s:e], int(self.table.npos[k]))

    def pooled_curve(self, iou: float = 0.5) -> PRCurve:
        """All categories' detections pooled in one score order (a micro-averaged curve)."""
        t = self.protocol.iou_index(iou)
        if t is None:
            raise ValueError(f"IoU {iou} is not one of the protocol's thresholds {self.protocol.iou_thresholds}")
        order = argsort_desc(self.table.scores)
        return pr_curve(self.table.status[t, order], self.table.scores[order], int(self.table.npos.sum()))

    def to_dict(self, curves: bool = False) -> dict:
        """JSON-ready: protocol, metrics, per_class, per_area, counts, warnings (and curves)."""
        out = {
            "protocol": self.protocol.name,
            "iou_type": self.iou_type,
            "protocol_settings": self.protocol.to_dict(),
            "metrics": self.metrics,
            "per_class": self.per_class,
            "per_area": self.per_area,
            "counts": self.counts,
            "warnings": self.warnings,
        }
        if curves:
            out["curves"] = {
                f"{t:g}": {name: self.pr_curve(k, t).to_dict() for k, name in enumerate(self.category_names)}
                for t in self.protocol.iou_thresholds
                if t in (0.5, 0.75)
            }
            out["pooled_curves"] = {k: self.pooled_curve(float(k)).to_dict() for k in out["curves"]}
        return out


def _mean(values: np.ndarray) -> float | None:
    """Mean of the defined entries (pycocotools' ``mean(s[s > -1])``); None if there are none."""
    v = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    return float(np.mean(v)) if v.size else None


def _nanmean_rows(values: np.ndarray) -> list[float | None]:
    """Per-column mean of the defined entries of a ``[T, K]`` array; None where none are."""
    defined = ~np.isnan(values)
    n = defined.sum(axis=0)
    total = np.where(defined, values, 0.0).sum(axis=0)
    return [float(total[k] / n[k]) if n[k] else None for k in range(values.shape[1])]


def summarize(
    ds: Dataset,
    p: EvalProtocol,
    precision: np.ndarray | None,
    ap: np.ndarray,
    recall: np.ndarray,
    npos: np.ndarray,
    table: MatchTable,
    n_detections: int,
) -> EvalResult:
    """Named metrics. ``ap``/``recall``: ``[T, K, A, M]`` with NaN where undefined."""
    areas = [a[0] for a in p.area_ranges]
    t50, t75 = p.iou_index(0.5), p.iou_index(0.75)
    m_last = len(p.max_dets) - 1

    def ap_of(t=None, a=0, cats=None) -> float | None:
        # pycocotools averages the precision table over (T, R, K) where defined; a defined
        # category has all R entries, so that equals the mean of the per-category APs
        # (mean over R) over (T, K): the same value up to floating-point rounding (~1e-16).
        s = ap[:, :, a, m_last] if t is None else ap[t, :, a, m_last]
        return _mean(s if cats is None else s[..., cats])

    def ar_of(a=0, m=m_last) -> float | None:
        return _mean(recall[:, :, a, m])

    metrics: dict[str, float | None] = {}
    if p.coco_style:
        metrics["AP"] = ap_of()
        metrics["AP50"] = ap_of(t50) if t50 is not None else None
        metrics["AP75"] = ap_of(t75) if t75 is not None else None
        for label, suffix in AREA_SUFFIX.items():
            metrics[f"AP{suffix}"] = ap_of(a=areas.index(label)) if label in areas else None
        if p.federated and ds.categories.frequency is not None:
            freq = np.array(ds.categories.frequency)
            for g in ("r", "c", "f"):
                metrics[f"AP{g}"] = ap_of(cats=np.flatnonzero(freq == g))
        if p.max_dets_per_image is not None:
            metrics[f"AR{p.max_dets_per_image}"] = ar_of()
        else:
            for m, md in enumerate(p.max_dets):
                metrics["AR" if md is None else f"AR{md}"] = ar_of(m=m)
        for label, suffix in AREA_SUFFIX.items():
            metrics[f"AR{suffix}"] = ar_of(a=areas.index(label)) if label in areas else None
    else:
        metrics["mAP"] = _mean(ap[t50 if t50 is not None else 0, :, 0, 0])

    t_cls = t50 if t50 is not None else 0
    coco_like = p.coco_style
    class_ap = _nanmean_rows(ap[:, :, 0, m_last] if coco_like else ap[t_cls : t_cls + 1, :, 0, m_last])
    class_ap50 = _nanmean_rows(ap[t50 : t50 + 1, :, 0, m_last]) if t50 is not None else [None] * len(ds.categories)
    class_ap75 = _nanmean_rows(ap[t75 : t75 + 1, :, 0, m_last]) if t75 is not None else [None] * len(ds.categories)
    class_ar = _nanmean_rows(recall[:, :, 0, m_last])
    per_class: dict[str, dict] = {}
    best = best_f1_per_category(table.status[t_cls], table.scores, table.cat_start, table.cat_end, npos[:, 0])
    for k, name in enumerate(ds.categories.names):
        s, e = table.cat_start[k], table.cat_end[k]
        entry = {
            "AP": class_ap[k],
            "AP50": class_ap50[k],
            "AP75": class_ap75[k],
            "AR": class_ar[k],
            "num_gt": int(npos[k, 0]),
            "num_detections": int(e - s),
            "best_f1": best[k],
        }
        if ds.categories.frequency is not None:
            entry["frequency"] = ds.categories.frequency[k]
        per_class[name] = entry

    per_area = {
        label: {"AP": ap_of(a=a) if p.coco_style else _mean(ap[t_cls, :, a, m_last]), "AR": ar_of(a=a), "num_gt": int(npos[:, a].sum())}
        for a, label in enumerate(areas)
    }
    warnings = list(ds.warnings) + _tie_warning(table)
    counts = {
        "images": len(ds.images),
        "categories": len(ds.categories),
        "ground_truth": len(ds.boxes),
        "detections": n_detections,
        "detections_evaluated": int(len(table.scores)),
    }
    return EvalResult(p, metrics, per_class, per_area, counts, warnings, list(ds.categories.names), table, precision, recall)


def _tie_warning(table: MatchTable) -> list[str]:
    """Warn when many detections share a score within a category (order then decides AP)."""
    s = table.scores
    if len(s) < 2:
        return []
    same_cat = np.ones(len(s) - 1, bool)
    starts = table.cat_start[(table.cat_start > 0) & (table.cat_start < len(s))]
    same_cat[starts - 1] = False  # category boundaries are not ties
    tied = np.zeros(len(s), bool)
    eq = (s[1:] == s[:-1]) & same_cat
    tied[1:] |= eq
    tied[:-1] |= eq
    frac = tied.mean()
    if frac <= TIE_WARNING_FRACTION:
        return []
    return [
        f"{frac:.0%} of detections share their score with another detection of the same category; "
        "their order in the results file then decides AP (detbench keeps the reference tools' stable order)"
    ]
