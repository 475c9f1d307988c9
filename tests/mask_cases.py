"""Seeded generators of small instance-mask evaluation cases (test-only; uses pycocotools.mask).

Ground truth mixes polygons (several parts, tiny, crossing the border, outside the image),
uncompressed RLE (crowd regions), compressed RLE and empty masks; ``area`` is mostly the
mask's area and sometimes not (the references read the field). Detections are compressed
RLE: shifted and noisy copies of ground truth, random blobs, empty masks; with ``bbox``
fields or without (which decides the detection's area in the references).
"""

from __future__ import annotations

import numpy as np
from cases import federated_lists, ids_and_categories
from pycocotools import mask as cmask


def _polygon(rng, h, w, kind):
    cx, cy = rng.uniform(-0.2 * w, 1.2 * w), rng.uniform(-0.2 * h, 1.2 * h)
    r = {"tiny": rng.uniform(0.1, 1.5), "big": rng.uniform(0.3, 0.9) * max(h, w)}.get(kind, rng.uniform(1, 0.4 * max(h, w)))
    n = int(rng.integers(3, 9))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.4, 1.0, n)
    xy = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    if rng.random() < 0.3:
        xy = np.round(xy)  # integer vertices, the common case in COCO files
    return [float(v) for v in xy.ravel()]


def _as_json(r: dict) -> dict:
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def _noisy(rng, m: np.ndarray) -> np.ndarray:
    """A detection's mask from a ground-truth mask: shifted, with pixels flipped at random."""
    out = np.roll(m, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
    flip = rng.random(m.shape) < rng.choice([0.0, 0.02, 0.1])
    return np.asfortranarray((out ^ flip).astype(np.uint8))


def _blob(rng, h, w) -> np.ndarray:
    m = np.zeros((h, w), np.uint8, order="F")
    kind = rng.choice(["rect", "noise", "empty", "full", "border"])
    if kind == "rect":
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        m[y0:int(rng.integers(y0, h + 1)), x0:int(rng.integers(x0, w + 1))] = 1
    elif kind == "noise":
        m[:] = rng.random((h, w)) < 0.3
    elif kind == "full":
        m[:] = 1
    elif kind == "border":
        m[:, : int(rng.integers(1, w + 1))] = 1
    return m


def mask_case(seed: int, n_img: int = 3, n_cat: int = 3, lvis: bool = False, max_gt: int = 6, max_dt: int = 8,
              crowded: int = 0, bbox: str | None = None, tie_scores: bool = False):  # fmt: skip
    """(gt dict, results list). ``bbox``: "all" (every detection has one), "none", or None
    (chosen by the seed). ``crowded``: that many ground-truth instances in the first image."""
    rng = np.random.default_rng(seed)
    img_ids, cat_ids, cats = ids_and_categories(rng, n_img, n_cat, lvis)
    with_bbox = {"all": True, "none": False}.get(bbox, bool(rng.random() < 0.5))
    images, anns, dets = [], [], []

    def score():
        return float(rng.choice([0.25, 0.5, 0.75])) if tie_scores else float(rng.random())

    for n, img in enumerate(img_ids):
        h, w = int(rng.integers(6, 48)), int(rng.integers(6, 48))
        rec = {"id": img, "width": w, "height": h, "file_name": f"{img}.jpg"}
        present = set()
        for _ in range(crowded if n == 0 and crowded else int(rng.integers(0, max_gt + 1))):
            c = int(rng.choice(cat_ids[:-1] if n_cat > 1 else cat_ids))
            kind = rng.choice(["poly", "poly", "multi", "tiny", "big", "rle", "uncompressed", "empty"])
            crowd = 0
            if kind in ("poly", "tiny", "big", "multi"):
                parts = [_polygon(rng, h, w, kind) for _ in range(int(rng.integers(2, 4)) if kind == "multi" else 1)]
                segm = parts
                r = cmask.merge(cmask.frPyObjects(parts, h, w))
            else:
                m = _blob(rng, h, w) if kind != "empty" else np.zeros((h, w), np.uint8, order="F")
                r = cmask.encode(m)
                if kind == "uncompressed":
                    flat = m.ravel(order="F")
                    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
                    runs = np.diff(np.r_[0, change, h * w]).tolist()
                    segm = {"size": [h, w], "counts": ([0] if flat[0] else []) + [int(v) for v in runs]}
                    crowd = int(not lvis and rng.random() < 0.7)
                else:
                    segm = _as_json(r)
            area = float(cmask.area(r))
            if rng.random() < 0.2:
                area = float(area * rng.uniform(0.3, 3.0) + rng.choice([0, 2000]))  # the field, not the mask
            if lvis and rng.random() < 0.1:
                area = 0.0  # lvis-api drops these
            ann = {"id": len(anns) + 1, "image_id": img, "category_id": c, "segmentation": segm,
                   "area": area, "bbox": [float(v) for v in cmask.toBbox(r)]}  # fmt: skip
            if not lvis:
                ann["iscrowd"] = crowd
            anns.append(ann)
            present.add(c)
            gm = cmask.decode(r)
            for _ in range(int(rng.integers(0, 4))):
                dets.append((img, c, _noisy(rng, gm)))
        for _ in range(int(rng.integers(0, max_dt + 1))):
            dets.append((img, int(rng.choice(cat_ids)), _blob(rng, h, w)))
        if lvis:
            federated_lists(rng, rec, cat_ids, present)
        images.append(rec)
    results = []
    for i in rng.permutation(len(dets)):
        img, c, m = dets[i]
        r = cmask.encode(np.asfortranarray(m))
        d = {"image_id": img, "category_id": c, "segmentation": _as_json(r), "score": score()}
        if with_bbox:
            b = cmask.toBbox(r)
            if rng.random() < 0.3:
                b = b + rng.uniform(-2, 2, 4).clip(-b[2:].min(), None)
            d["bbox"] = [float(v) for v in np.maximum(b, [-5, -5, 0, 0])]
        results.append(d)
    return {"images": images, "categories": cats, "annotations": anns}, results
