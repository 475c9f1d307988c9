"""A COCO-scale instance-mask case for bench_metrics.py (segm): generated polygons and RLE.

Ground truth: polygons (1-2 parts, 6-16 vertices) at 640 x 480, about 1 % crowd regions as
uncompressed RLE. Detections: compressed RLE (the results-file form) with their boxes, half of them masks of
jittered copies of a ground-truth polygon (some mislabelled), half clutter polygons.
Uses pycocotools.mask to rasterise (the benchmark's writer, not a tool being timed).
"""

from __future__ import annotations

import numpy as np


def _polygon(rng, cx, cy, rx, ry, n):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.6, 1.0, n)
    return np.stack([cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang)], 1)


def make_segm_case(n_img: int, n_cat: int, gt_per_img: float, dt_per_img: int, seed: int = 0):
    """(ground truth dict, detection records) of :func:`iter_segm_case`, all in memory."""
    images, anns, dets = [], [], []
    for image, image_anns, image_dets in iter_segm_case(n_img, n_cat, gt_per_img, dt_per_img, seed):
        images.append(image)
        anns.extend(image_anns)
        dets.extend(image_dets)
    return {"images": images, "annotations": anns, "categories": categories(n_cat)}, dets


def categories(n_cat: int) -> list[dict]:
    return [{"id": c + 1, "name": f"c{c}"} for c in range(n_cat)]


def iter_segm_case(n_img: int, n_cat: int, gt_per_img: float, dt_per_img: int, seed: int = 0):
    """The case image by image: (image record, its annotations, its detections), so that a large
    case can be written without holding every detection (same draws as :func:`make_segm_case`)."""
    from pycocotools import mask as cmask

    rng = np.random.default_rng(seed)
    w, h = 640, 480
    popularity = 1.0 / np.arange(1, n_cat + 1) ** 0.5
    popularity /= popularity.sum()
    n_anns = 0
    for i in range(1, n_img + 1):
        image, anns, dets = {"id": i, "width": w, "height": h, "file_name": f"{i:012d}.jpg"}, [], []
        n = max(1, int(rng.poisson(gt_per_img)))
        c = rng.choice(n_cat, n, p=popularity) + 1
        side = np.exp(rng.uniform(np.log(8), np.log(300), n))
        cx, cy = rng.uniform(0, w, n), rng.uniform(0, h, n)
        shapes = []
        for j in range(n):
            poly = _polygon(rng, cx[j], cy[j], side[j] / 2, side[j] / 2 * rng.uniform(0.5, 1.5), int(rng.integers(6, 17)))
            shapes.append(poly)
            segm = [[round(float(v), 2) for v in poly.ravel()]]
            rle = cmask.merge(cmask.frPyObjects(segm, h, w))
            crowd = int(rng.random() < 0.01)
            if crowd:
                m = cmask.decode(rle).ravel(order="F")
                change = np.flatnonzero(m[1:] != m[:-1]) + 1
                runs = np.diff(np.r_[0, change, h * w]).tolist()
                segm = {"size": [h, w], "counts": ([0] if m[0] else []) + runs}
            n_anns += 1
            anns.append({"id": n_anns, "image_id": i, "category_id": int(c[j]), "segmentation": segm,
                         "area": float(cmask.area(rle)), "bbox": [float(v) for v in cmask.toBbox(rle)], "iscrowd": crowd})  # fmt: skip
        k = dt_per_img
        src = rng.integers(0, n, k)
        near = rng.random(k) < 0.5
        polys = []
        for j in range(k):
            if near[j]:
                p = shapes[src[j]] * rng.normal(1, 0.02, 2) + rng.normal(0, 0.05 * side[src[j]], 2)
            else:
                p = _polygon(rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 150), rng.uniform(4, 150), 8)
            polys.append([float(v) for v in p.ravel()])
        rles = cmask.frPyObjects(polys, h, w)
        dc = np.where(near & (rng.random(k) < 0.8), c[src], rng.choice(n_cat, k, p=popularity) + 1)
        sc = np.where(near, rng.beta(4, 2, k), rng.beta(1, 4, k))
        boxes = cmask.toBbox(rles)
        for j in range(k):  # with its box, as detectron2/mmdetection write them (vernier needs it)
            dets.append({"image_id": i, "category_id": int(dc[j]), "bbox": [float(v) for v in boxes[j]], "score": round(float(sc[j]), 4),
                         "segmentation": {"size": [h, w], "counts": rles[j]["counts"].decode("ascii")}})  # fmt: skip
        yield image, anns, dets
