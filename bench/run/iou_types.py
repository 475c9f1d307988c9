"""Which IoU types (``bbox``: box AP, ``segm``: mask AP) a unit of ``bench run`` / ``bench all``
scores, and the checks made before anything runs.

``--iou-type`` unset (the default): box AP always, and mask AP too where the dataset has
segmentations and the detector predicts masks. ``--iou-type bbox``: box AP only.
``--iou-type segm``: box AP and mask AP, and it is an error (exit 2, before any run folder is
made) for a detector that predicts no masks or a dataset without segmentations.

Records keep the two apart: ``metrics.json`` / ``metrics_summary`` hold box metrics,
``metrics_segm.json`` / ``metrics_segm_summary`` mask metrics; each metrics file states its
``iou_type`` and the record lists ``iou_types`` scored.
"""

from __future__ import annotations

from typing import Sequence

from bench.errors import ArgumentError
from bench.protocols import IOU_TYPES

METRICS_FILE = {"bbox": "metrics.json", "segm": "metrics_segm.json"}
SUMMARY_KEY = {"bbox": "metrics_summary", "segm": "metrics_segm_summary"}


def dataset_has_masks(ds) -> bool:
    """Whether the ground truth carries instance segmentations (COCO / LVIS polygons or RLE)."""
    seg = getattr(ds.boxes, "segmentation", None)
    return seg is not None and (len(ds.boxes) == 0 or len(seg) == len(ds.boxes))


def detections_have_masks(dets: Sequence) -> bool:
    """Whether per-image ``Detections`` carry masks (every image with detections must)."""
    with_masks = [d.masks is not None for d in dets if len(d)]
    if any(with_masks) and not all(with_masks):
        raise ValueError("some images' detections carry masks and others do not: a detector predicts masks for every image or none")
    return any(with_masks)


def iou_types_to_score(requested: str | None, ds, dets: Sequence) -> list[str]:
    """The IoU types a unit scores (``requested``: None, "bbox" or "segm")."""
    if requested not in (None, *IOU_TYPES) or requested == "boundary":  # Boundary AP: bench eval only, for now
        raise ValueError(f"iou_type must be bbox or segm, got {requested!r}")
    masks = detections_have_masks(dets)
    if requested == "segm":
        if not dataset_has_masks(ds):
            raise ValueError(f"--iou-type segm: dataset {ds.name} has no instance segmentations")
        if not masks and any(len(d) for d in dets):
            raise ValueError("--iou-type segm: the detector predicted no masks")
        return ["bbox", "segm"]
    if requested is None and masks and dataset_has_masks(ds):
        return ["bbox", "segm"]
    return ["bbox"]


def check_iou_type(iou_type: str | None, detectors: Sequence[str], datasets: Sequence[tuple[str, object]]) -> None:
    """Before anything runs: ``--iou-type segm`` needs detectors that predict masks and datasets
    with segmentations (``datasets``: (name, loaded Dataset) pairs). ArgumentError (exit 2) otherwise."""
    if iou_type != "segm":
        return
    from detectors.registry import produces_masks

    no_masks = [d for d in detectors if not produces_masks(d)]
    if no_masks:
        with_masks = ", ".join(d for d in _registered() if produces_masks(d))
        raise ArgumentError(f"--iou-type segm: {', '.join(no_masks)} predict(s) no instance masks (detectors with masks: {with_masks})")
    bare = [name for name, ds in datasets if not dataset_has_masks(ds)]
    if bare:
        raise ArgumentError(f"--iou-type segm: dataset(s) {', '.join(bare)} have no instance segmentations "
                            f"(COCO / LVIS ground truth with a segmentation field is needed)")  # fmt: skip


def mask_detectors(detectors: Sequence[str]) -> list[str]:
    """The detectors of ``detectors`` that predict masks (``bench all --iou-type segm`` without --detectors)."""
    from detectors.registry import produces_masks

    return [d for d in detectors if produces_masks(d)]


def _registered() -> list[str]:
    from detectors.registry import REGISTRY

    return list(REGISTRY)
