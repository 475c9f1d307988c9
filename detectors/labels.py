"""Mapping a model's label space onto a dataset's categories, by name.

One explicit alias table, no fuzzy matching. Names are normalised (lower case, ``_``/``-``
as spaces, single spaces) and then looked up in ``ALIASES`` so that e.g. VOC's ``aeroplane``
and COCO's ``airplane`` meet. A model class with no dataset counterpart is dropped
(a COCO model on VOC keeps the 20 VOC classes); a dataset class the model cannot predict is
listed in ``LabelMap.missing`` and reported as such, never silently scored as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# normalised name -> canonical name (the COCO spelling)
ALIASES: dict[str, str] = {
    "aeroplane": "airplane",
    "tvmonitor": "tv",
    "tv monitor": "tv",
    "tvmonitors": "tv",
    "motorbike": "motorcycle",
    "sofa": "couch",
    "diningtable": "dining table",
    "pottedplant": "potted plant",
}

# Placeholders in model label spaces that never name a real class.
NOT_A_CLASS = {"__background__", "n/a", "background", "no object", ""}


def canonical(name: str) -> str:
    """Normalised, alias-resolved form of a class name."""
    n = " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())
    return ALIASES.get(n, n)


@dataclass(frozen=True)
class LabelMap:
    """``model_to_dataset``: int64 [num_model_classes], dataset index or -1.
    ``missing``: dataset class names no model class maps to."""

    model_to_dataset: np.ndarray
    missing: tuple[str, ...]

    @property
    def mapped(self) -> int:
        return int((self.model_to_dataset >= 0).sum())

    def describe(self) -> dict:
        return {"mapped_model_classes": self.mapped, "unpredictable_dataset_classes": list(self.missing)}


def build_label_map(model_names: Sequence[str], dataset_names: Sequence[str]) -> LabelMap:
    """Map model class index -> dataset class index by canonical name."""
    index: dict[str, int] = {}
    for i, name in enumerate(dataset_names):
        key = canonical(name)
        if key in index:
            raise ValueError(f"dataset classes {dataset_names[index[key]]!r} and {name!r} are the same class after normalisation")
        index[key] = i
    out = np.full(len(model_names), -1, dtype=np.int64)
    for j, name in enumerate(model_names):
        key = canonical(name)
        if key not in NOT_A_CLASS:
            out[j] = index.get(key, -1)
    covered = set(out[out >= 0].tolist())
    missing = tuple(name for i, name in enumerate(dataset_names) if i not in covered)
    return LabelMap(out, missing)


def identity_map(n: int) -> LabelMap:
    """For models built for the dataset's own classes (random weights, open vocabulary)."""
    return LabelMap(np.arange(n, dtype=np.int64), ())


def names_from_id2label(id2label: dict) -> list[str]:
    """HF ``config.id2label`` as a dense list (gaps become "N/A")."""
    ids = {int(k): v for k, v in id2label.items()}
    return [ids.get(i, "N/A") for i in range(max(ids) + 1)] if ids else []


# The 80 COCO classes in contiguous order (YOLO / RT-DETR label spaces), COCO spelling.
COCO80 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip
