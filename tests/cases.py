"""Seeded generators of small, nasty evaluation cases (ties, crowds, degenerate boxes, ...)."""

from __future__ import annotations

import numpy as np


def ids_and_categories(rng, n_img: int, n_cat: int, lvis: bool):
    """Non-contiguous image ids, category ids and category records (LVIS: with frequencies)."""
    img_ids = [int(v) for v in rng.choice(np.arange(1, 1000), n_img, replace=False)]
    cat_ids = [int(v) for v in rng.choice(np.arange(1, 100), n_cat, replace=False)]
    cats = [{"id": c, "name": f"cat{c}"} for c in cat_ids]
    if lvis:
        for c in cats:
            c["frequency"] = "rcf"[int(rng.integers(3))]
    return img_ids, cat_ids, cats


def federated_lists(rng, rec: dict, cat_ids: list, present: set) -> None:
    """LVIS image fields: some absent categories as negatives, some present ones not exhaustive."""
    absent = [c for c in cat_ids if c not in present]
    rec["neg_category_ids"] = [int(c) for c in rng.choice(absent, int(rng.integers(0, len(absent) + 1)), replace=False)] if absent else []
    rec["not_exhaustive_category_ids"] = [c for c in sorted(present) if rng.random() < 0.3]


def coco_case(seed: int, n_img: int = 4, n_cat: int = 3, scale: float = 1.0, tie_scores: bool = False,
              integer: bool = True, lvis: bool = False, max_gt: int = 6, max_dt: int = 14):  # fmt: skip
    """(gt dict, detections list) in COCO (or LVIS) form.

    Covers: non-contiguous ids, images without GT, categories without GT, crowd regions,
    areas that differ from box areas, degenerate boxes, detections of absent categories,
    tied scores, more detections than 10 per (image, category).
    """
    rng = np.random.default_rng(seed)
    img_ids, cat_ids, cats = ids_and_categories(rng, n_img, n_cat, lvis)
    images, anns, dets = [], [], []

    def box():
        s = scale * float(rng.choice([1, 4, 12]))
        x, y = (rng.integers(0, 40, 2) * s).tolist()
        w, h = (rng.integers(0, 12, 2) * s).tolist()
        if not integer:
            x, y, w, h = x + rng.random(), y + rng.random(), w * rng.uniform(0.9, 1.1), h * rng.uniform(0.9, 1.1)
        return [float(x), float(y), float(w), float(h)]

    def score():
        return float(rng.choice([0.25, 0.5, 0.75])) if tie_scores else float(rng.random())

    for img in img_ids:
        rec = {"id": img, "width": 640, "height": 480, "file_name": f"{img}.jpg"}
        present = set()
        for _ in range(int(rng.integers(0, max_gt + 1))):
            c = int(rng.choice(cat_ids[:-1] if n_cat > 1 else cat_ids))  # last category: never in GT
            b = box()
            area = b[2] * b[3] * (1.0 if rng.random() < 0.5 else float(rng.uniform(0.3, 1.0)))
            ann = {"id": len(anns) + 1, "image_id": img, "category_id": c, "bbox": b, "area": area}
            if lvis:
                if rng.random() < 0.1:
                    ann["area"] = 0.0  # lvis-api drops these
            else:
                ann["iscrowd"] = int(rng.random() < 0.15)
            anns.append(ann)
            present.add(c)
            for _ in range(int(rng.integers(0, 4))):  # near-duplicates of the GT
                j = (rng.integers(-2, 3, 4) * scale).tolist()
                db = [b[0] + j[0], b[1] + j[1], max(0.0, b[2] + j[2]), max(0.0, b[3] + j[3])]
                dets.append({"image_id": img, "category_id": c, "bbox": db, "score": score()})
        for _ in range(int(rng.integers(0, max_dt + 1))):
            dets.append({"image_id": img, "category_id": int(rng.choice(cat_ids)), "bbox": box(), "score": score()})
        if lvis:
            federated_lists(rng, rec, cat_ids, present)
        images.append(rec)
    order = rng.permutation(len(dets))
    dets = [dets[i] for i in order]
    return {"images": images, "categories": cats, "annotations": anns}, dets
