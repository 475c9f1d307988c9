"""Score a results file against a ground-truth file or folder: what ``bench eval`` and the Python
API (:func:`evaluate_files`) run. Loading is :mod:`bench.data.inputs`; scoring is the core's.

No model dependencies: this path imports numpy, numba and orjson only.
"""

from __future__ import annotations

from bench.data.inputs import load_inputs
from bench.data.model import Dataset, DetectionTable
from bench.metrics.core import evaluate
from bench.metrics.result import EvalResult
from bench.protocols import EvalProtocol


def score_inputs(ds: Dataset, det: DetectionTable, p: EvalProtocol, results: str, iou_type: str = "bbox") -> EvalResult:
    """:func:`evaluate`, with a warning when ``results`` (the file's name) holds no detections."""
    result = evaluate(ds, det, p, iou_type)
    if len(det.scores) == 0:  # scored (AP 0), as the references would, but never silently
        result.warnings.append(f"{results}: the results hold no detections, so every AP is 0")
    return result


def evaluate_files(gt: str, results: str, protocol: str | None = None, split: str | None = None,
                   iou_type: str = "bbox") -> EvalResult:  # fmt: skip
    """Load both files, check they fit together, and score them (``iou_type`` "bbox" or
    "segm": masks, which both files must carry)."""
    ds, det, p = load_inputs(gt, results, protocol, split, iou_type)
    return score_inputs(ds, det, p, results, iou_type)
