"""Running a detector over dataset images and scoring what it predicts.

``detections_table`` turns per-image ``Detections`` (dataset class indices, XYXY pixels, and
instance masks as compressed RLE where the detector predicts them) into the metric core's
``DetectionTable``; ``accuracy`` runs a detector at batch 1 over chosen
images and scores them under the dataset's protocol, restricted to those images.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Sequence

import numpy as np

from bench.data.model import Dataset, DetectionTable, subset


def detections_table(per_image: Sequence, image_idx: Sequence[int]) -> DetectionTable:
    """per_image[k]: Detections of dataset image ``image_idx[k]``. The table's ``segmentation``
    (one RLE per row) is set when the detections carry masks, else None."""
    from bench.run.iou_types import detections_have_masks

    masks = detections_have_masks(per_image)
    tables = []
    for d, i in zip(per_image, image_idx):
        xyxy = d.boxes.astype(np.float64)
        area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
        seg = (list(d.masks) if d.masks is not None else []) if masks else None
        tables.append(DetectionTable(np.full(len(d), i, np.int64), d.labels.astype(np.int64), xyxy, area, d.scores.astype(np.float64),
                                     segmentation=seg))  # fmt: skip
    table = DetectionTable.concat(tables)
    if masks and table.segmentation is None:  # no image at all: an empty mask list, not "no masks"
        table = DetectionTable(*(getattr(table, f.name) for f in fields(table) if f.name != "segmentation"), segmentation=[])
    return table


def score(ds: Dataset, idx: Sequence[int], dets: Sequence, protocol, iou_type: str = "bbox"):
    """(subset, its DetectionTable, EvalResult) for ``dets[k]`` predicted on dataset image ``idx[k]``;
    ``iou_type``: "bbox" (box IoU) or "segm" (mask IoU)."""
    from bench.metrics.core import evaluate

    sub = subset(ds, idx)
    table = detections_table(dets, range(len(idx)))
    return sub, table, evaluate(sub, table, protocol, **({"iou_type": iou_type} if iou_type != "bbox" else {}))


def accuracy(detector, ds: Dataset, images: Sequence[np.ndarray], idx: Sequence[int], protocol) -> dict:
    """Metrics of ``detector`` on dataset images ``idx`` (``images`` already loaded), batch 1."""
    dets = [detector.predict([im])[0] for im in images]
    return {"protocol": protocol.name, "images": len(idx), "metrics": score(ds, idx, dets, protocol)[2].metrics}
