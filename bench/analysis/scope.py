"""What the analyses work on: the images, categories and detections a protocol scores.

A protocol with ``category_groups`` (OV-COCO) scores a restricted dataset
(:func:`bench.metrics.groups.restrict`); its result's MatchTable indexes the caller's full
dataset for images while ``counts["images"]`` counts the kept ones. Every analysis (bootstrap,
paired bootstrap, TIDE, confusion matrix, operating points, linter) must see the scored subset
instead, i.e. the same numbers as the plain protocol on files filtered by hand.
"""

from __future__ import annotations

import dataclasses

from bench.data.model import Dataset, DetectionTable
from bench.metrics.result import EvalResult


def scored_inputs(result: EvalResult, ds: Dataset | None, det: DetectionTable | None) -> tuple[EvalResult, Dataset | None, DetectionTable | None]:
    """(result, ds, det) restricted to what ``result.protocol`` scores, re-scored under the same
    protocol without its category groups; unchanged for a protocol without groups. ``ds``/``det``
    are the inputs ``result`` was scored on (required when the protocol has groups)."""
    groups = result.protocol.category_groups
    if groups is None:
        return result, ds, det
    if ds is None or det is None:
        raise ValueError(f"protocol {result.protocol.name!r} scores a category subset: the analyses need its dataset and detections")
    from bench.metrics.core import evaluate
    from bench.metrics.groups import restrict

    plain = result.protocol.with_(category_groups=None)
    sub_ds, sub_det = restrict(ds, det, groups)
    if sub_ds is ds and sub_det is det:  # already the subset (bench run restricts first): the table indexes these inputs
        return dataclasses.replace(result, protocol=plain), ds, det
    return evaluate(sub_ds, sub_det, plain, result.iou_type), sub_ds, sub_det
