"""COCO instances JSON and LVIS v1 JSON: ground-truth loading and writing.

Both formats share one parser; LVIS adds per-image ``neg_category_ids`` /
``not_exhaustive_category_ids`` and per-category ``frequency``.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.data import columns as col
from bench.data.model import Boxes, Categories, Dataset, Images
from bench.errors import InputError
from bench.jsonio import dump_json, load_json

if TYPE_CHECKING:
    from bench.data.segmentation import GtMasks

FREQUENCIES = ("r", "c", "f")


def _section(obj: dict, key: str, file: str) -> list:
    if key not in obj:
        raise InputError(file, None, key, "missing top-level field")
    value = obj[key]
    if not isinstance(value, list):
        raise InputError(file, None, key, f"expected a list, got {type(value).__name__}")
    return value


def _category_list(records: list, i: int, key: str, file: str, cat_ids: np.ndarray) -> np.ndarray:
    value = records[i].get(key) if isinstance(records[i], dict) else None
    if not isinstance(value, list):
        raise InputError(file, f"images[{i}]", key, f"expected a list of category ids, got {value!r}")
    ids = col.int_column([{"v": v} for v in value], "v", file, f"images[{i}].{key}")
    return col.id_lookup(cat_ids, ids, file, f"images[{i}].{key}", "", "category id")


def _category_lists(records: list, key: str, file: str, cat_ids: np.ndarray) -> list[np.ndarray]:
    """Every image's ``key`` list as category indices, looked up in one pass; any irregular
    value falls back to the per-image path, which names the image and field."""
    try:
        values = [r[key] for r in records]
        lengths = np.fromiter(map(len, values), np.int64, count=len(values))
        flat = np.fromiter(itertools.chain.from_iterable(values), np.int64, count=int(lengths.sum()))
        if all(type(v) is list for v in values) and all(type(x) is int for v in values for x in v):
            idx = np.searchsorted(cat_ids, flat)
            ok = (idx < len(cat_ids)) & (cat_ids[np.minimum(idx, len(cat_ids) - 1)] == flat)
            if ok.all():
                return np.split(idx.astype(np.int64), np.cumsum(lengths)[:-1])
    except (KeyError, TypeError, ValueError, OverflowError):
        pass
    return [_category_list(records, i, key, file, cat_ids) for i in range(len(records))]


def is_lvis(obj: dict) -> bool:
    """LVIS files carry federated lists on images and frequencies on categories."""
    images = obj.get("images") or [{}]
    cats = obj.get("categories") or [{}]
    return (isinstance(images[0], dict) and "neg_category_ids" in images[0]) or (
        isinstance(cats[0], dict) and "frequency" in cats[0]
    )


def parse_gt(obj, file: str, fmt: str | None = None, name: str | None = None, columns: dict | None = None) -> Dataset:
    """Build a :class:`Dataset` from a parsed COCO or LVIS JSON object.

    ``fmt`` is "coco", "lvis" or ``None`` (detect). Images and categories are sorted by id,
    the order pycocotools and lvis-api evaluate in. Annotations keep file order.
    ``columns``: the annotations already read into columns (see
    :func:`bench.native.results.parse_gt_annotations`; ``obj["annotations"]`` is then empty
    and the annotations' masks are not kept: box scoring only).
    """
    if not isinstance(obj, dict):
        raise InputError(file, None, None, f"expected a JSON object at top level, got {type(obj).__name__}")
    fmt = fmt or ("lvis" if is_lvis(obj) else "coco")
    warnings: list[str] = []

    imgs = _section(obj, "images", file)
    img_ids = col.int_column(imgs, "id", file, "images")
    col.check_unique(img_ids, file, "images")
    widths = col.int_column(imgs, "width", file, "images", default=0)
    heights = col.int_column(imgs, "height", file, "images", default=0)
    files = [str(r.get("file_name", r.get("coco_url", "").rsplit("/", 1)[-1] or r["id"])) for r in imgs]
    img_order = np.argsort(img_ids, kind="stable")
    sorted_img_ids = img_ids[img_order]

    cats = _section(obj, "categories", file)
    cat_ids = col.int_column(cats, "id", file, "categories")
    col.check_unique(cat_ids, file, "categories")
    for i, c in enumerate(cats):
        if not isinstance(c.get("name"), str):
            raise InputError(file, f"categories[{i}]", "name", f"expected a string, got {c.get('name')!r}")
    cat_order = np.argsort(cat_ids, kind="stable")
    sorted_cat_ids = cat_ids[cat_order]
    frequency = None
    if fmt == "lvis":
        for i, c in enumerate(cats):
            if c.get("frequency") not in FREQUENCIES:
                raise InputError(file, f"categories[{i}]", "frequency", f"expected 'r', 'c' or 'f', got {c.get('frequency')!r}")
        frequency = [cats[i]["frequency"] for i in cat_order]

    anns = _section(obj, "annotations", file)
    column = columns.__getitem__ if columns is not None else lambda key: _annotation_column(anns, key, file)  # in error order
    ann_ids = column("id")
    col.check_unique(ann_ids, file, "annotations")
    image_idx = col.id_lookup(sorted_img_ids, column("image_id"), file, "annotations", "image_id", "image id")
    category_idx = col.id_lookup(sorted_cat_ids, column("category_id"), file, "annotations", "category_id", "category id")
    no_box = _mask_only_rows(anns)  # none when the columns came from the C reader (it needs every bbox)
    xywh = column("xywh") if not no_box else col.xywh_column(
        [{**anns[i], "bbox": [0, 0, 0, 0]} if i in no_box else anns[i] for i in range(len(anns))], "bbox", file, "annotations")  # fmt: skip
    # the C reader's columns come without the masks (box scoring): no GtMasks then
    segmentation = _gt_masks(anns, file, image_idx, heights[img_order], widths[img_order]) if anns or not len(ann_ids) else None
    if no_box:  # mask AP never reads them; box AP is refused (bench.data.inputs) or warned about
        rows = np.fromiter(sorted(no_box), np.int64, count=len(no_box))
        xywh[rows] = segmentation.take(rows).packed().bbox()
        warnings.append(f"{file}: {len(rows)} annotations have a 'segmentation' and no 'bbox' (first: annotations[{int(rows[0])}]); "
                        "their boxes are the masks' bounding boxes, so only mask AP (--iou-type segm) is what pycocotools scores")  # fmt: skip
    box_area = xywh[:, 2] * xywh[:, 3]
    area = column("area")
    missing = np.isnan(area)
    if (area[~missing] < 0).any():
        i = int(np.flatnonzero((area < 0) & ~missing)[0])
        raise InputError(file, f"annotations[{i}]", "area", f"must not be negative, got {area[i]!r}")
    if missing.any():
        area[missing] = box_area[missing]
        warnings.append(
            f"{file}: {int(missing.sum())} annotations have no 'area' field (first: annotations[{int(np.flatnonzero(missing)[0])}]); "
            "their box area is used for the small/medium/large ranges (pycocotools would fail on them)"
        )

    neg = not_exh = None
    if fmt == "lvis":
        neg_by_row = _category_lists(imgs, "neg_category_ids", file, sorted_cat_ids)
        ne_by_row = _category_lists(imgs, "not_exhaustive_category_ids", file, sorted_cat_ids)
        neg = [neg_by_row[i] for i in img_order]
        not_exh = [ne_by_row[i] for i in img_order]

    images = Images(
        keys=[int(k) for k in sorted_img_ids],
        files=[files[i] for i in img_order],
        widths=widths[img_order],
        heights=heights[img_order],
        neg_category_idx=neg,
        not_exhaustive_category_idx=not_exh,
    )
    categories = Categories(ids=sorted_cat_ids, names=[cats[i]["name"] for i in cat_order], frequency=frequency)
    boxes = Boxes(
        ids=ann_ids,
        image_idx=image_idx,  # rows of the id-sorted image table
        category_idx=category_idx,
        xyxy=col.xywh_to_xyxy(xywh),
        box_area=box_area,
        area=area,
        iscrowd=column("iscrowd"),
        ignore=column("ignore"),
        difficult=np.zeros(len(ann_ids), bool),
        segmentation=segmentation,
    )
    missing_fields = {"area": int(missing.sum())}
    if no_box:
        missing_fields["bbox"] = len(no_box)
    if fmt == "coco":  # LVIS has no iscrowd field by design
        missing_fields["iscrowd"] = int((~column("has_iscrowd")).sum())
    return Dataset(name or Path(file).stem, fmt, file, images, categories, boxes, warnings, missing_fields)


def _annotation_column(anns: list, key: str, file: str) -> np.ndarray:
    """One of the annotations' columns (the keys of :func:`parse_gt`'s ``columns``); a bad value
    raises :class:`InputError` naming the record and field."""
    if key in ("id", "image_id", "category_id"):
        return col.int_column(anns, key, file, "annotations")
    if key == "xywh":
        return col.xywh_column(anns, "bbox", file, "annotations")
    if key == "area":  # NaN where missing
        return col.optional_float_column(anns, "area", file, "annotations")[0]
    if key == "has_iscrowd":
        return np.array([not isinstance(r, dict) or "iscrowd" in r for r in anns], bool)
    return col.flag_column(anns, key, file, "annotations")  # iscrowd, ignore


def _mask_only_rows(anns: list) -> set[int]:
    """Annotations with a ``segmentation`` and no ``bbox`` (mask-only ground truth, which
    pycocotools scores under iouType='segm'); one with neither keeps the missing-bbox error."""
    if all(isinstance(a, dict) and "bbox" in a for a in anns):
        return set()
    return {i for i, a in enumerate(anns) if isinstance(a, dict) and "bbox" not in a and a.get("segmentation") is not None}


def _gt_masks(anns: list, file: str, image_idx: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> GtMasks | None:
    """The annotations' ``segmentation`` values (converted to RLE when a mask evaluation asks),
    or None when annotations exist and none has one. ``heights``/``widths`` are per image row."""
    raw = [a.get("segmentation") for a in anns]
    if raw and not any(r is not None for r in raw):
        return None
    from bench.data.segmentation import GtMasks  # the RLE kernels only where masks exist

    return GtMasks(raw, file, heights[image_idx], widths[image_idx])


def load_coco(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Load a COCO instances JSON file."""
    return parse_gt(load_json(path), str(path), "coco", name)


def load_lvis(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Load an LVIS v1 JSON file."""
    return parse_gt(load_json(path), str(path), "lvis", name)


def dataset_to_json(ds: Dataset) -> dict:
    """The COCO (or LVIS, for an LVIS dataset) JSON object of a dataset."""
    lvis = ds.format == "lvis"
    images = []
    for i, key in enumerate(ds.images.keys):
        rec = {"id": key, "file_name": ds.images.files[i], "width": int(ds.images.widths[i]), "height": int(ds.images.heights[i])}
        if lvis:
            rec["neg_category_ids"] = [int(ds.categories.ids[k]) for k in ds.images.neg_category_idx[i]]
            rec["not_exhaustive_category_ids"] = [int(ds.categories.ids[k]) for k in ds.images.not_exhaustive_category_idx[i]]
        images.append(rec)
    categories = []
    for k, name in enumerate(ds.categories.names):
        rec = {"id": int(ds.categories.ids[k]), "name": name}
        if lvis:
            rec["frequency"] = ds.categories.frequency[k]
        categories.append(rec)
    b = ds.boxes
    xywh = np.stack([b.xyxy[:, 0], b.xyxy[:, 1], b.xyxy[:, 2] - b.xyxy[:, 0], b.xyxy[:, 3] - b.xyxy[:, 1]], axis=1)
    annotations = []
    masks = None if b.segmentation is None else [
        {"size": r["size"], "counts": r["counts"].decode("ascii")} for r in b.segmentation.to_dicts()
    ]
    for j in range(len(b)):
        rec = {
            "id": int(b.ids[j]),
            "image_id": ds.images.keys[b.image_idx[j]],
            "category_id": int(ds.categories.ids[b.category_idx[j]]),
            "bbox": [float(v) for v in xywh[j]],
            "area": float(b.area[j]),
        }
        if masks is not None:
            rec["segmentation"] = masks[j]
        if not lvis:
            rec["iscrowd"] = int(b.iscrowd[j])
        if b.ignore[j]:
            rec["ignore"] = 1
        annotations.append(rec)
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco(ds: Dataset, path: str | os.PathLike) -> None:
    """Write the dataset as COCO (or LVIS) JSON, atomically."""
    dump_json(path, dataset_to_json(ds), indent=False)
