"""A protocol's category subset and its grouped metrics (:class:`bench.protocols.CategoryGroups`).

``restrict`` removes the categories outside the subset (their ground truth and detections) and,
under ``images="annotated"``, the images without any annotation of the subset, before the one
metric core matches anything; ``group_metrics`` averages per-class results per group. Nothing is
matched here.
"""

from __future__ import annotations

import numpy as np

from bench.data.model import Boxes, Categories, Dataset, DetectionTable, Images
from bench.errors import InputError
from bench.protocols import CategoryGroups


def subset_categories(ds: Dataset, groups: CategoryGroups) -> Dataset:
    """``ds`` with only the categories (and, under ``images="annotated"``, the images) that
    ``groups`` scores; category and image order are kept. A missing name is an InputError."""
    return _restrict(ds, None, groups)[0]


def restrict(ds: Dataset, det: DetectionTable, groups: CategoryGroups) -> tuple[Dataset, DetectionTable]:
    """(dataset, detections) restricted to the subset; detections of left-out categories or
    images are dropped and the others re-indexed."""
    out_ds, out_det = _restrict(ds, det, groups)
    assert out_det is not None
    return out_ds, out_det


def _restrict(ds: Dataset, det: DetectionTable | None, groups: CategoryGroups):
    names = list(ds.categories.names)
    missing = [n for n in groups.names if n not in names]
    if missing:
        raise InputError(ds.source, "categories", "name", f"protocol category groups {groups.name!r} need categories the dataset "
                         f"lacks: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''} ({len(missing)} missing)")  # fmt: skip
    wanted = set(groups.names)
    keep_cat = np.array([n in wanted for n in names], bool)
    cat_map = np.full(len(names), -1, np.int64)
    cat_map[keep_cat] = np.arange(int(keep_cat.sum()))
    b = ds.boxes
    keep_box = keep_cat[b.category_idx]
    keep_img = np.ones(len(ds.images), bool)
    if groups.images == "annotated":
        keep_img = np.zeros(len(ds.images), bool)
        keep_img[b.image_idx[keep_box]] = True
    if keep_cat.all() and keep_img.all():
        return ds, det
    img_map = np.full(len(ds.images), -1, np.int64)
    img_map[keep_img] = np.arange(int(keep_img.sum()))
    ii = np.flatnonzero(keep_img)
    im = ds.images

    def cats(lists):
        return None if lists is None else [cat_map[lists[i]][cat_map[lists[i]] >= 0] for i in ii]

    images = Images([im.keys[i] for i in ii], [im.files[i] for i in ii], im.widths[ii], im.heights[ii],
                    cats(im.neg_category_idx), cats(im.not_exhaustive_category_idx))  # fmt: skip
    c = ds.categories
    categories = Categories(c.ids[keep_cat], [n for n, k in zip(names, keep_cat) if k],
                            None if c.frequency is None else [f for f, k in zip(c.frequency, keep_cat) if k])  # fmt: skip
    kb = keep_box & keep_img[b.image_idx]
    boxes = Boxes(b.ids[kb], img_map[b.image_idx[kb]], cat_map[b.category_idx[kb]], b.xyxy[kb], b.box_area[kb], b.area[kb],
                  b.iscrowd[kb], b.ignore[kb], b.difficult[kb])  # fmt: skip
    out = Dataset(ds.name, ds.format, ds.source, images, categories, boxes, list(ds.warnings))
    if det is None:
        return out, None
    kd = keep_cat[det.category_idx] & keep_img[det.image_idx]
    return out, DetectionTable(img_map[det.image_idx[kd]], cat_map[det.category_idx[kd]], det.xyxy[kd], det.box_area[kd], det.scores[kd])


def _mean_defined(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def group_metrics(per_class: dict[str, dict], groups: CategoryGroups) -> dict[str, float | None]:
    """``{metric}_{label}`` per group and ``{metric}_{all_label}`` over the subset: the mean of
    the per-class values that are defined (as Detic's ``custom_coco_eval`` averages per-class AP50)."""
    out: dict[str, float | None] = {}
    for metric in groups.metrics:
        for label, names in groups.groups:
            out[f"{metric}_{label}"] = _mean_defined([per_class[n][metric] for n in names if n in per_class])
        out[f"{metric}_{groups.all_label}"] = _mean_defined([per_class[n][metric] for n in groups.names if n in per_class])
    return out
