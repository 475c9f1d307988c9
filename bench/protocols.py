"""Evaluation protocols: COCO, LVIS, VOC2007 and VOC2010+ as parameters of one metric core.

Every difference between the reference tools is a field here, read by
:mod:`bench.metrics`; there is no per-protocol copy of the algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


def coco_iou_thresholds() -> tuple[float, ...]:
    """pycocotools' ``np.linspace(.5, 0.95, 10)``: the exact float values matter for AP75."""
    return tuple(float(t) for t in np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True))


def coco_recall_thresholds() -> np.ndarray:
    """pycocotools' 101 recall points ``np.linspace(0, 1, 101)``."""
    return np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's ``start:step:stop``, value for value (the VOC2007 devkit's ``0:0.1:1``).

    MATLAB fills the first half as ``start + k*step`` and the second half as ``stop - k*step``
    (its documented colon algorithm), so e.g. the 4th value is 0.30000000000000004 but the
    8th is 0.7, not numpy's 0.7000000000000001.
    """
    n = int(np.floor((stop - start) / step + 0.5))
    out = np.empty(n + 1)
    k = np.arange(0, n // 2 + 1)
    out[k] = start + k * step
    out[n - k] = stop - k * step
    if n % 2 == 0:
        out[n // 2] = (start + stop) / 2
    return out


IOU_TYPES = ("bbox", "segm", "boundary")  # what the IoU of a match is computed on: boxes, instance masks (RLE), mask boundaries (Boundary IoU)

COCO_AREAS: tuple[tuple[str, float, float], ...] = (
    ("all", 0.0, 1e5**2),
    ("small", 0.0, 32.0**2),
    ("medium", 32.0**2, 96.0**2),
    ("large", 96.0**2, 1e5**2),
)


MATCHING = ("greedy", "argmax", "ultralytics")  # kernel mode = index in this tuple


@dataclass(frozen=True)
class EvalProtocol:
    """How detections are matched and AP is computed.

    iou_thresholds:     IoU thresholds; a detection matches at IoU >= t.
    area_ranges:        (label, lo, hi) in square pixels, both ends inclusive (as pycocotools);
                        the first must be the whole range ("all").
    max_dets:           detections kept per (image, category), by score, one result column each
                        (COCO's 1/10/100); ``None`` entry means unlimited.
    max_dets_per_image: LVIS' cap across categories (300), applied before anything else.
    matching:           "greedy" (pycocotools/lvis-api: best still-unmatched GT, non-ignored
                        GT preferred) or "argmax" (VOC devkit: the best-overlapping GT of all;
                        if it is taken the detection is a false positive).
    gt_ignore:          which ground-truth flag makes a box ignored: "iscrowd" (pycocotools
                        overwrites ``ignore`` with ``iscrowd``), "ignore" (lvis-api), "difficult" (VOC).
    crowd:              iscrowd boxes use intersection over detection area and match many times.
    federated:          LVIS: only detections of categories known present or known absent
                        (``neg_category_ids``) in an image count; unmatched detections of a
                        ``not_exhaustive`` category are ignored.
    drop_zero_area:     lvis-api drops every annotation and detection whose area is not > 0.
    interpolation:      "coco101" (pycocotools' 101-point step lookup), "voc11" (VOC2007's
                        11-point max-precision), "voc_all" (VOC2010+'s area under the envelope).
    tie_break:          equal scores are ordered by "image" (image order, then file order:
                        pycocotools and lvis-api) or by "file" order alone (the devkit).

    The fields below default to the reference tools' rules; ``bench explain`` changes them one
    at a time to attribute the gaps between tools (see :mod:`bench.analysis.explain`).
    iou_strict:         match at IoU > t instead of IoU >= t.
    area_source:        ground-truth area for the area ranges: "annotation" (its ``area`` field,
                        as pycocotools) or "box" (width*height, as torchmetrics without ``area``).
    drop_crowd:         iscrowd ground truth is removed before matching (ultralytics' converter).
    max_dets_scope:     "category": ``max_dets`` counts per (image, category) (pycocotools);
                        "image": per image across categories (the COCO challenge's stated rule).
    max_dets_per_category: a budget of detections per category over the whole dataset, by score
                        (Fixed AP, Dave et al. 2021: 10,000), applied before any other filter.
    matching "ultralytics": greedy in score order to the best unclaimed ground truth, the first
                        on IoU ties (ultralytics' ``match_predictions``); pycocotools takes the last.
    gt_ignore "none":   no ground truth is ignored (crowd flags unknown, torchmetrics' default).
    interpolation "continuous": ultralytics' ``compute_ap``: np.interp of the precision envelope
                        at 101 recall points, integrated by the trapezoid rule.
    """

    name: str
    iou_thresholds: tuple[float, ...]
    area_ranges: tuple[tuple[str, float, float], ...]
    max_dets: tuple[int | None, ...]
    max_dets_per_image: int | None
    matching: str
    gt_ignore: str
    crowd: bool
    federated: bool
    drop_zero_area: bool
    interpolation: str
    tie_break: str
    recall_thresholds: tuple[float, ...] = field(default_factory=lambda: tuple(coco_recall_thresholds()))
    iou_strict: bool = False
    area_source: str = "annotation"
    drop_crowd: bool = False
    max_dets_scope: str = "category"
    max_dets_per_category: int | None = None
    category_groups: "CategoryGroups | None" = None  # a scored category subset with grouped AP (OV-COCO); see below

    def __post_init__(self):
        for name, valid in (("matching", MATCHING), ("gt_ignore", ("iscrowd", "ignore", "difficult", "none")),
                            ("interpolation", ("coco101", "voc11", "voc_all", "continuous")),
                            ("area_source", ("annotation", "box")), ("max_dets_scope", ("category", "image"))):  # fmt: skip
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, valid))}, got {getattr(self, name)!r}")
        if self.max_dets_per_category is not None and self.max_dets_per_category <= 0:
            raise ValueError(f"max_dets_per_category must be positive, got {self.max_dets_per_category}")
        if self.tie_break not in ("image", "file"):
            raise ValueError(f"tie_break must be 'image' or 'file', got {self.tie_break!r}")
        rt = np.asarray(self.recall_thresholds, np.float64)  # the kernels walk them in order
        if rt.ndim != 1 or rt.size == 0 or np.isnan(rt).any() or (np.diff(rt) < 0).any():
            raise ValueError(f"recall_thresholds must be ascending numbers, got {self.recall_thresholds}")
        if not self.iou_thresholds or not all(0.0 < t <= 1.0 for t in self.iou_thresholds):
            raise ValueError(f"iou_thresholds must be in (0, 1], got {self.iou_thresholds}")
        if not self.area_ranges or self.area_ranges[0][0] != "all":
            raise ValueError("the first area range must be 'all'")
        finite = [m for m in self.max_dets if m is not None]
        if not self.max_dets or finite != sorted(finite) or any(m <= 0 for m in finite) or (
            None in self.max_dets and self.max_dets[-1] is not None
        ):
            raise ValueError(f"max_dets must be increasing positive numbers (None = unlimited, last), got {self.max_dets}")

    def with_(self, **changes) -> "EvalProtocol":
        """A copy with some fields changed, e.g. ``COCO.with_(max_dets=(1, 10, 300))``."""
        return replace(self, **changes)

    @property
    def coco_style(self) -> bool:
        """AP over IoU thresholds with COCO's metric names (coco101 or continuous interpolation)."""
        return self.interpolation in ("coco101", "continuous")

    @property
    def max_dets_last(self) -> int | None:
        return self.max_dets[-1]

    def iou_index(self, t: float) -> int | None:
        """Index of threshold ``t`` (exact float match, as pycocotools' ``iouThr == p.iouThrs``)."""
        for i, v in enumerate(self.iou_thresholds):
            if v == t:
                return i
        return None

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "recall_thresholds"}
        d["area_ranges"] = [list(a) for a in self.area_ranges]
        d["recall_points"] = len(self.recall_thresholds)
        d["category_groups"] = None if self.category_groups is None else self.category_groups.to_dict()
        return d


COCO = EvalProtocol(
    name="coco",
    iou_thresholds=coco_iou_thresholds(),
    area_ranges=COCO_AREAS,
    max_dets=(1, 10, 100),
    max_dets_per_image=None,
    matching="greedy",
    gt_ignore="iscrowd",
    crowd=True,
    federated=False,
    drop_zero_area=False,
    interpolation="coco101",
    tie_break="image",
)

LVIS = EvalProtocol(
    name="lvis",
    iou_thresholds=coco_iou_thresholds(),
    area_ranges=COCO_AREAS,
    max_dets=(None,),
    max_dets_per_image=300,
    matching="greedy",
    gt_ignore="ignore",
    crowd=False,
    federated=True,
    drop_zero_area=True,
    interpolation="coco101",
    tie_break="image",
)

VOC07 = EvalProtocol(
    name="voc07",
    iou_thresholds=(0.5,),
    area_ranges=COCO_AREAS,
    max_dets=(None,),
    max_dets_per_image=None,
    matching="argmax",
    gt_ignore="difficult",
    crowd=False,
    federated=False,
    drop_zero_area=False,
    interpolation="voc11",
    tie_break="file",
)

VOC12 = VOC07.with_(name="voc12", interpolation="voc_all")

PROTOCOLS: dict[str, EvalProtocol] = {"coco": COCO, "lvis": LVIS, "voc07": VOC07, "voc12": VOC12}


def get_protocol(name: str) -> EvalProtocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}") from None


@dataclass(frozen=True)
class CategoryGroups:
    """A category subset that is scored, and named groups of it averaged separately.

    groups:   (label, category names) pairs, e.g. ``(("base", (...48...)), ("novel", (...17...)))``;
              the subset scored is their union. Other categories (ground truth and detections)
              are left out before matching; a dataset lacking one of the names is an error.
    metrics:  per-class metrics averaged per group: ``{metric}_{label}`` (e.g. ``AP50_novel``)
              and ``{metric}_{all_label}`` over the whole subset; the mean of the classes
              whose value is defined (no ground truth: left out), None if none is.
    images:   "annotated": keep only images with at least one annotation of the subset (OVR-CNN's
              ``filter_annotation``, which made the OV-COCO json every later paper scores); "all":
              keep every image.
    source:   where the class lists come from (repository, commit, path).
    """

    name: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    metrics: tuple[str, ...] = ("AP50",)
    all_label: str = "all"
    images: str = "annotated"
    source: str = ""

    def __post_init__(self):
        labels = [g[0] for g in self.groups]
        if not self.groups or len(set(labels)) != len(labels) or self.all_label in labels:
            raise ValueError(f"category groups {self.name!r}: labels must be distinct and not {self.all_label!r}, got {labels}")
        members = [n for _, names in self.groups for n in names]
        if len(set(members)) != len(members):
            raise ValueError(f"category groups {self.name!r}: a category is in two groups")
        if self.images not in ("annotated", "all"):
            raise ValueError(f"category groups {self.name!r}: images must be 'annotated' or 'all', got {self.images!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """Every category scored, in group order."""
        return tuple(n for _, names in self.groups for n in names)

    def to_dict(self) -> dict:
        return {"name": self.name, "groups": {label: list(names) for label, names in self.groups}, "metrics": list(self.metrics),
                "all_label": self.all_label, "images": self.images, "source": self.source}  # fmt: skip


def _ov_coco_groups() -> CategoryGroups:
    from bench.ov_splits import OV_COCO_BASE, OV_COCO_NOVEL, OV_COCO_SOURCE

    return CategoryGroups("ov-coco-48-17", (("base", OV_COCO_BASE), ("novel", OV_COCO_NOVEL)), ("AP50",), "all", "annotated", OV_COCO_SOURCE)


# OV-COCO (generalised setting): COCO's matching, only the 65 split classes scored, AP50 per group.
OV_COCO = COCO.with_(name="ov-coco", category_groups=_ov_coco_groups())
# OV-LVIS: LVIS as it is; the rare classes are the novel ones, so APr is the novel AP.
OV_LVIS = LVIS.with_(name="ov-lvis")
PROTOCOLS["ov-coco"] = OV_COCO
PROTOCOLS["ov-lvis"] = OV_LVIS
