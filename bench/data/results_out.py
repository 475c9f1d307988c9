"""Writing detections: a :class:`DetectionTable` as a COCO results JSON file (the format
:mod:`bench.data.results` reads back), masks as compressed RLE.

May import: numpy, :mod:`bench.data.model`, :mod:`bench.jsonio`.
"""

from __future__ import annotations

import os

from bench.data.model import Dataset, DetectionTable
from bench.jsonio import dump_json


def results_to_json(det: DetectionTable, ds: Dataset) -> list[dict]:
    """COCO results records (``bbox`` as [x, y, w, h]) for a detection table; masks, where the
    table has them, as each record's ``segmentation`` (compressed RLE, counts as a str: what every
    framework writes and ``bench eval --iou-type segm`` reads)."""
    xyxy = det.xyxy
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    keys = ds.images.keys
    cat_ids = ds.categories.ids
    records = [
        {
            "image_id": keys[det.image_idx[j]],
            "category_id": int(cat_ids[det.category_idx[j]]),
            "bbox": [float(xyxy[j, 0]), float(xyxy[j, 1]), float(w[j]), float(h[j])],
            "score": float(det.scores[j]),
        }
        for j in range(len(det))
    ]
    if det.segmentation is not None:
        for r, m in zip(records, det.segmentation, strict=True):
            counts = m["counts"]
            r["segmentation"] = {"size": [int(v) for v in m["size"]], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}
    return records


def write_results(det: DetectionTable, ds: Dataset, path: str | os.PathLike) -> None:
    """Write detections as a COCO results JSON file (``.json.gz`` compresses), atomically."""
    dump_json(path, results_to_json(det, ds), indent=False)
