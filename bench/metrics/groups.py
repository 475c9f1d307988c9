"""A protocol's category subset and its grouped metrics (:class:`bench.protocols.CategoryGroups`).

``evaluate_subset`` (called by :func:`bench.metrics.core.evaluate` for such a protocol) removes
the categories outside the subset (their ground truth and detections) and, under
``images="annotated"``, the images without any annotation of the subset, scores the rest with
the one core, and adds ``{metric}_{group}`` to the metrics. Nothing is matched here.

The result's MatchTable refers to the caller's inputs for rows and images (``dt_rows`` index the
DetectionTable passed in, ``image_idx`` / ``gt_image_idx`` the dataset passed in), and to the
scored subset for categories (``cat_start``, ``npos``, ``gt_category_idx`` follow
``result.category_names``, as every per-class result does).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.data.model import Categories, Dataset, DetectionTable, Images, take_rows
from bench.errors import InputError
from bench.protocols import CategoryGroups, EvalProtocol


def subset_categories(ds: Dataset, groups: CategoryGroups) -> Dataset:
    """``ds`` with only the categories (and, under ``images="annotated"``, the images) that
    ``groups`` scores; category and image order are kept. A missing name is an InputError."""
    return _restrict(ds, None, groups)[0]


def restrict(ds: Dataset, det: DetectionTable | None, groups: CategoryGroups) -> tuple[Dataset, DetectionTable | None]:
    """(dataset, detections) that ``groups`` scores: what :func:`evaluate_subset` matches. Scoring
    them under ``p.with_(category_groups=None)`` gives a result whose MatchTable indexes these
    inputs (images, rows, categories), which the analyses (bootstrap, TIDE, confusion) need."""
    sub_ds, sub_det, _ = _restrict(ds, det, groups)
    return sub_ds, sub_det


def evaluate_subset(ds: Dataset, det: DetectionTable, p: EvalProtocol, iou_type: str = "bbox"):
    """The core's EvalResult on the scored subset, with the grouped metrics added (see above)."""
    from bench.metrics.core import evaluate

    sub_ds, sub_det, (kept_images, kept_rows) = _restrict(ds, det, p.category_groups)
    result = evaluate(sub_ds, sub_det, p.with_(category_groups=None), iou_type)
    result.metrics.update(group_metrics(result.per_class, p.category_groups))
    t = result.table
    table = dataclasses.replace(t, dt_rows=None if t.dt_rows is None else kept_rows[t.dt_rows],
                                image_idx=None if t.image_idx is None else kept_images[t.image_idx],
                                gt_image_idx=None if t.gt_image_idx is None else kept_images[t.gt_image_idx])  # fmt: skip
    return dataclasses.replace(result, protocol=p, table=table)


def _restrict(ds: Dataset, det: DetectionTable | None, groups: CategoryGroups):
    """(dataset, detections, (kept image indices, kept detection rows)) restricted to the subset:
    detections of left-out categories or images dropped, the others re-indexed."""
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
        return ds, det, (np.arange(len(ds.images)), None if det is None else np.arange(len(det)))
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
    kb = np.flatnonzero(keep_box & keep_img[b.image_idx])
    boxes = take_rows(b, kb, image_idx=img_map[b.image_idx[kb]], category_idx=cat_map[b.category_idx[kb]])
    out = Dataset(ds.name, ds.format, ds.source, images, categories, boxes, list(ds.warnings), dict(ds.missing_fields))
    if det is None:
        return out, None, (ii, None)
    kd = np.flatnonzero(keep_cat[det.category_idx] & keep_img[det.image_idx])
    table = take_rows(det, kd, image_idx=img_map[det.image_idx[kd]], category_idx=cat_map[det.category_idx[kd]])
    return out, table, (ii, kd)


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
