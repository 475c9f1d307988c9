"""The in-memory model of a dataset's ground truth and of a set of detections.

Everything is flat numpy arrays (one row per image / category / box), never one Python
object per annotation, so that large datasets load and score quickly.

Box convention: XYXY float64 in absolute, continuous pixel coordinates of the original
image (see :mod:`bench.boxes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Sequence

import numpy as np


def _take(value, rows: np.ndarray):
    """``value`` restricted to ``rows``: an array, an object with ``take`` (ground-truth masks) or a list."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value[rows]
    if hasattr(value, "take"):
        return value.take(rows)
    return [value[i] for i in rows]


def take_rows(table, rows: np.ndarray, **replaced):
    """A copy of a per-row dataclass (:class:`Boxes`, :class:`DetectionTable`) keeping ``rows``
    (int64 indices, in that order), every column restricted, ``replaced`` columns given as is."""
    return type(table)(**{f.name: replaced[f.name] if f.name in replaced else _take(getattr(table, f.name), rows) for f in fields(table)})


@dataclass(frozen=True)
class Images:
    """One row per image, in evaluation order (sorted by id for COCO/LVIS, like pycocotools).

    keys:    the image's id as the source format names it (int for COCO/LVIS, the file
             stem str for VOC); results files refer to images by it.
    files:   file name relative to the dataset's image folder.
    widths, heights: int64 ``[I]`` pixels.
    neg_category_idx / not_exhaustive_category_idx: LVIS federated lists, per image an int64
             array of *category indices* (not ids); ``None`` for non-LVIS data.
    """

    keys: list
    files: list[str]
    widths: np.ndarray
    heights: np.ndarray
    neg_category_idx: list[np.ndarray] | None = None
    not_exhaustive_category_idx: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Categories:
    """One row per category, sorted by id.

    ids: int64 ``[K]`` (VOC: 1..K in devkit order); names: ``K`` strings;
    frequency: LVIS frequency group per category ("r", "c" or "f"), else ``None``.
    """

    ids: np.ndarray
    names: list[str]
    frequency: list[str] | None = None

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Boxes:
    """Ground-truth boxes, one row each, in source order.

    ids:            int64 ``[N]`` annotation ids.
    image_idx:      int64 ``[N]`` row in :class:`Images`.
    category_idx:   int64 ``[N]`` row in :class:`Categories`.
    xyxy:           float64 ``[N, 4]`` absolute continuous pixels.
    box_area:       float64 ``[N]`` width*height of the box as the source gave it (IoU uses it,
                    exactly as pycocotools does with its xywh boxes).
    area:           float64 ``[N]`` the annotation's own ``area`` field where the format has
                    one (COCO/LVIS: the mask area, which pycocotools uses for area ranges),
                    else the box area.
    iscrowd, ignore, difficult: bool ``[N]`` flags as the source states them.
    segmentation:   the annotations' masks (:class:`bench.data.segmentation.GtMasks`):
                    ``.packed()`` gives them as RLE (polygons and uncompressed RLE turned into
                    RLE exactly as pycocotools' annToRLE, on first use), ``.to_dicts()`` as
                    compressed RLE dicts; ``None`` when the source has no masks (VOC, box-only).
    """

    ids: np.ndarray
    image_idx: np.ndarray
    category_idx: np.ndarray
    xyxy: np.ndarray
    box_area: np.ndarray
    area: np.ndarray
    iscrowd: np.ndarray
    ignore: np.ndarray
    difficult: np.ndarray
    segmentation: object | None = None  # GtMasks

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Dataset:
    """A dataset's ground truth. ``format`` is "coco", "lvis" or "voc"; ``source`` the path."""

    name: str
    format: str
    source: str
    images: Images
    categories: Categories
    boxes: Boxes
    warnings: list[str] = field(default_factory=list)
    missing_fields: dict = field(default_factory=dict)  # field -> annotations of the source lacking it (COCO: area, iscrowd)

    def image_index(self) -> dict:
        """Map from image key to row."""
        return {k: i for i, k in enumerate(self.images.keys)}


@dataclass(frozen=True)
class DetectionTable:
    """Detections for a whole dataset, one row each, in file order (order breaks score ties).

    image_idx, category_idx: int64 ``[D]``; xyxy: float64 ``[D, 4]`` absolute continuous
    pixels; box_area: float64 ``[D]`` width*height as the source gave it; scores: float64 ``[D]``.
    segmentation: optional masks, one compressed RLE dict ``{"size": [h, w], "counts": str or
    bytes}`` per row (the COCO results JSON form, in original image pixels), or ``None``.
    For ``iou_type="segm"`` the detection's area (area ranges, LVIS' zero-area drop) is
    ``box_area``, as pycocotools/lvis-api take it: the box's w*h when the results give boxes,
    else the mask area (the results loader sets it so).
    """

    image_idx: np.ndarray
    category_idx: np.ndarray
    xyxy: np.ndarray
    box_area: np.ndarray
    scores: np.ndarray
    segmentation: list[dict] | None = None

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> "DetectionTable":
        return DetectionTable(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0)
        )

    @staticmethod
    def concat(tables: list["DetectionTable"]) -> "DetectionTable":
        if not tables:
            return DetectionTable.empty()
        with_masks = [t.segmentation is not None for t in tables if len(t) or t.segmentation is not None]
        if any(with_masks) and not all(with_masks):  # an empty table without masks joins either kind
            raise ValueError("cannot concatenate detection tables with and without segmentation")
        return DetectionTable(
            np.concatenate([t.image_idx for t in tables]),
            np.concatenate([t.category_idx for t in tables]),
            np.concatenate([t.xyxy for t in tables]).reshape(-1, 4),
            np.concatenate([t.box_area for t in tables]),
            np.concatenate([t.scores for t in tables]),
            [r for t in tables for r in (t.segmentation or [])] if any(with_masks) else None,
        )


def subset(ds: Dataset, idx: Sequence[int]) -> Dataset:
    """The dataset restricted to images ``idx``; image ``idx[k]`` becomes image ``k``."""
    idx = np.asarray(idx, dtype=np.int64)
    remap = np.full(len(ds.images), -1, np.int64)
    remap[idx] = np.arange(len(idx))
    im = ds.images
    images = Images(
        [im.keys[i] for i in idx], [im.files[i] for i in idx], im.widths[idx], im.heights[idx],
        None if im.neg_category_idx is None else [im.neg_category_idx[i] for i in idx],
        None if im.not_exhaustive_category_idx is None else [im.not_exhaustive_category_idx[i] for i in idx],
    )  # fmt: skip
    b = ds.boxes
    keep = remap[b.image_idx] >= 0
    rows = np.flatnonzero(keep)
    boxes = take_rows(b, rows, image_idx=remap[b.image_idx[rows]])  # every column, segmentations too
    return Dataset(f"{ds.name}[{len(idx)} images]", ds.format, ds.source, images, ds.categories, boxes, list(ds.warnings),
                   dict(ds.missing_fields))  # fmt: skip
