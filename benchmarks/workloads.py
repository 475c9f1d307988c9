"""Seeded, generated evaluation cases for the evaluator matrix (``benchmarks/evaluator_matrix.py``).

Each case is a COCO (or LVIS) ground-truth file and a results file, written by
``write_case(name, folder, scale)``. The same name, scale and seed always give the same files.
Boxes are COCO ``[x, y, w, h]`` in pixels; detections carry two decimals, scores four.

Box cases (one vectorised generator, :func:`box_case`, with the settings in :data:`BOX_CASES`):

- ``coco-sparse``: COCO val2017's shape: 5,000 images, 80 classes (popularity ~ 1/rank**0.5),
  Poisson(7.3) ground truth per image, 100 detections per image (500k): half jittered copies of a
  ground-truth box (80 % keep its class), half clutter with a class drawn from all 80, so the
  detections spread over many (image, class) groups of one or two.
- ``coco-dense``: the same ground truth, ~140 detections per image (~700k, about what a two-stage
  detector writes at score threshold 0.05): 85 % near a ground-truth box and 90 % of those keep its
  class, so each image's few classes hold tens of detections each (large IoU matrices).
- ``lvis``: LVIS's shape at 2,000 images: 1,203 classes (popularity ~ 1/rank, frequency r/c/f),
  Poisson(12) ground truth, 300 detections per image (600k), ``neg_category_ids`` (20 absent
  classes per image) and ``not_exhaustive_category_ids`` (10 % of the present ones).
- ``o365``: Objects365-val's shape: 80,000 images of assorted sizes (1024 x 768 and the like),
  365 classes (popularity ~ 1/rank**1.1: the largest class holds ~ 18 %), a heavy-tailed count of
  ground truth per image (1 + Poisson of a Gamma with mean 12: ~ 1.04 M boxes), 1.5 % crowd, box
  sides log-normal around 50 px (COCO's small/medium/large split: ~ 1/3 each); detections: 78 %
  of the ground truth found (jittered, 88 % right class) plus Poisson(3.1) clutter per image
  (~ 1.06 M).

Mask cases reuse ``segm_case.make_segm_case`` (polygons, uncompressed-RLE crowd, RLE detections):

- ``coco-segm``: 5,000 images, 80 classes, Poisson(7) ground truth, 100 detections per image.
- ``lvis-segm``: 2,000 images, 1,203 classes, Poisson(12), 100 detections per image, with the
  LVIS fields added (frequency, negative and not-exhaustive lists as in ``lvis``).
- ``lvis-val-segm`` (memory case, not in the matrix's default list): LVIS val's shape: 19,809
  images, 1,203 classes, Poisson(2.5) ground truth per image (at least one: ~51k polygons),
  300 RLE detections per image (~5.9 M, a ~2 GB results file; LVIS keeps 300 per image). Written
  image by image (``segm_case.iter_segm_case``), never all in memory.

``scale`` (default 1.0) multiplies the number of images: ``--quick`` runs use 0.02.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 0
SIZES = np.array([[1024, 768], [768, 1024], [1024, 683], [683, 1024], [1024, 576], [800, 600], [1024, 1024]])


@dataclass(frozen=True)
class BoxCase:
    """Settings of one generated box case (see the module docstring)."""

    n_img: int
    n_cat: int
    gt_mean: float  # mean ground truth per image
    dt_fixed: int  # detections per image (0: found ground truth + clutter instead)
    near: float  # share of fixed detections near a ground-truth box
    keep_label: float  # share of near detections that keep the box's class
    cat_power: float  # class popularity ~ 1 / rank ** cat_power
    crowd: float = 0.01
    lvis: bool = False
    o365: bool = False  # image sizes, heavy-tailed counts, log-normal sides, found + clutter


BOX_CASES = {
    "coco-sparse": BoxCase(5000, 80, 7.3, 100, 0.5, 0.8, 0.5),
    "coco-dense": BoxCase(5000, 80, 7.3, 140, 0.85, 0.9, 0.5),
    "lvis": BoxCase(2000, 1203, 12.0, 300, 0.5, 0.8, 1.0, crowd=0.0, lvis=True),
    "o365": BoxCase(80000, 365, 13.0, 0, 0.78, 0.88, 1.1, crowd=0.015, o365=True),
}
SEGM_CASES = {"coco-segm": (5000, 80, 7, 100, False), "lvis-segm": (2000, 1203, 12, 100, True),
              "lvis-val-segm": (19809, 1203, 2.5, 300, True)}  # fmt: skip
STREAMED = {"lvis-val-segm"}  # written image by image
CASES = [*BOX_CASES, "coco-segm", "lvis-segm"]
LVIS_CASES = {"lvis", "lvis-segm", "lvis-val-segm"}


def _popularity(n_cat: int, power: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n_cat + 1) ** power
    return p / p.sum()


def _lvis_fields(rng, images: list[dict], cats: list[dict], gt_img: np.ndarray, gt_cat: np.ndarray) -> None:
    """Add LVIS's frequency and per-image negative / not-exhaustive lists, in place. ``gt_img``:
    each annotation's row in ``images``; negatives are absent classes, not-exhaustive ones present."""
    n_cat = len(cats)
    for c, f in zip(cats, rng.choice(["r", "c", "f"], n_cat, p=[0.3, 0.4, 0.3])):
        c["frequency"] = str(f)
    order = np.argsort(gt_img, kind="stable")
    bounds = np.searchsorted(gt_img[order], np.arange(len(images) + 1), "left")
    for i, rec in enumerate(images):
        present = np.unique(gt_cat[order[bounds[i] : bounds[i + 1]]])
        absent = np.setdiff1d(np.arange(1, n_cat + 1), present)
        rec["neg_category_ids"] = [int(v) for v in rng.choice(absent, min(len(absent), 20), replace=False)]
        rec["not_exhaustive_category_ids"] = [int(v) for v in present if rng.random() < 0.1]


def box_case(spec: BoxCase, scale: float = 1.0, seed: int = SEED) -> tuple[dict, list[dict]]:
    """(ground truth dict, detections list) for ``spec`` with ``scale`` times its images."""
    rng = np.random.default_rng(seed)
    n_img = max(1, int(round(spec.n_img * scale)))
    pop = _popularity(spec.n_cat, spec.cat_power)
    if spec.o365:
        wh = SIZES[rng.integers(0, len(SIZES), n_img)].astype(np.float64)
        n_gt = 1 + rng.poisson(rng.gamma(1.5, (spec.gt_mean - 1) / 1.5, n_img))
    else:
        wh = np.tile([640.0, 480.0], (n_img, 1))
        n_gt = np.maximum(1, rng.poisson(spec.gt_mean, n_img))
    g_img = np.repeat(np.arange(n_img), n_gt)
    n = len(g_img)
    W, H = wh[g_img, 0], wh[g_img, 1]
    g_cat = rng.choice(spec.n_cat, n, p=pop) + 1
    if spec.o365:
        side = np.exp(rng.normal(np.log(50.0), 1.1, n))
    else:
        side = np.exp(rng.uniform(np.log(8), np.log(400), n))
    ar = np.exp(rng.uniform(-0.7, 0.7, n))
    bw, bh = np.clip(side * ar, 1.0, W - 1), np.clip(side / ar, 1.0, H - 1)
    x, y = rng.uniform(0, W - bw), rng.uniform(0, H - bh)
    x, y, bw, bh = (np.round(v, 2) for v in (x, y, bw, bh))  # as annotation files carry them
    crowd = rng.random(n) < spec.crowd
    area = np.round(bw * bh * rng.uniform(0.5, 0.9, n), 2)

    if spec.dt_fixed:  # a fixed number per image: near a ground-truth box of the image, or clutter
        d_img = np.repeat(np.arange(n_img), spec.dt_fixed)
        first = np.r_[0, np.cumsum(n_gt)[:-1]]
        src = first[d_img] + (rng.random(len(d_img)) * n_gt[d_img]).astype(np.int64)
        near = rng.random(len(d_img)) < spec.near
    else:  # found ground truth plus clutter
        found = np.flatnonzero(rng.random(n) < spec.near)
        clutter = rng.poisson(3.1, n_img)
        c_img = np.repeat(np.arange(n_img), clutter)
        first = np.r_[0, np.cumsum(n_gt)[:-1]]
        c_src = first[c_img] + (rng.random(len(c_img)) * n_gt[c_img]).astype(np.int64)
        d_img = np.r_[g_img[found], c_img]
        src = np.r_[found, c_src]
        near = np.r_[np.ones(len(found), bool), np.zeros(len(c_img), bool)]
        order = np.argsort(d_img, kind="stable")  # the file lists each image's detections together
        d_img, src, near = d_img[order], src[order], near[order]
    k = len(d_img)
    DW, DH = wh[d_img, 0], wh[d_img, 1]
    jit = rng.normal(0, 0.1, (k, 4)) * np.stack([bw[src], bh[src], bw[src], bh[src]], 1)
    cw, ch = np.minimum(rng.uniform(4, 300, k), DW - 1), np.minimum(rng.uniform(4, 300, k), DH - 1)
    dx = np.where(near, x[src] + jit[:, 0], rng.uniform(0, DW - cw))
    dy = np.where(near, y[src] + jit[:, 1], rng.uniform(0, DH - ch))
    dw = np.where(near, np.abs(bw[src] + jit[:, 2]), cw)
    dh = np.where(near, np.abs(bh[src] + jit[:, 3]), ch)
    dc = np.where(near & (rng.random(k) < spec.keep_label), g_cat[src], rng.choice(spec.n_cat, k, p=pop) + 1)
    sc = np.where(near, rng.beta(4, 2, k), rng.beta(1, 4, k))

    cats = [{"id": c + 1, "name": f"c{c}"} for c in range(spec.n_cat)]
    images = [{"id": i + 1, "width": int(wh[i, 0]), "height": int(wh[i, 1]), "file_name": f"{i + 1:012d}.jpg"} for i in range(n_img)]
    if spec.lvis:
        _lvis_fields(rng, images, cats, g_img, g_cat)
    anns = [
        {"id": j + 1, "image_id": int(i) + 1, "category_id": int(c), "bbox": [float(a), float(b), float(w), float(h)],
         "area": float(s), "iscrowd": int(cr)}
        for j, (i, c, a, b, w, h, s, cr) in enumerate(zip(g_img.tolist(), g_cat.tolist(), x.tolist(), y.tolist(), bw.tolist(),
                                                           bh.tolist(), area.tolist(), crowd.tolist()))
    ]  # fmt: skip
    xywh = np.round(np.stack([dx, dy, dw, dh], 1), 2).tolist()
    dets = [{"image_id": int(i) + 1, "category_id": int(c), "bbox": b, "score": s}
            for i, c, b, s in zip(d_img.tolist(), dc.tolist(), xywh, np.round(sc, 4).tolist())]  # fmt: skip
    return {"images": images, "annotations": anns, "categories": cats}, dets


def segm_case(name: str, scale: float = 1.0, seed: int = SEED) -> tuple[dict, list[dict]]:
    """A mask case (``segm_case.make_segm_case``), LVIS fields added for ``lvis-segm``."""
    from segm_case import make_segm_case

    n_img, n_cat, g, d, lvis = SEGM_CASES[name]
    gt, dets = make_segm_case(max(1, int(round(n_img * scale))), n_cat, g, d, seed)
    if lvis:
        _add_lvis_fields(gt, seed)
    return gt, dets


def _add_lvis_fields(gt: dict, seed: int) -> None:
    anns = gt["annotations"]
    img = np.array([a["image_id"] for a in anns], np.int64) - 1  # ids are 1..n in image order
    cat = np.array([a["category_id"] for a in anns], np.int64)
    _lvis_fields(np.random.default_rng(seed + 1), gt["images"], gt["categories"], img, cat)


def _write_streamed(name: str, folder: Path, scale: float, seed: int = SEED) -> tuple[dict, int]:
    """A mask case written image by image: the detections go to ``{name}_dt.json`` as they are
    drawn (the same records :func:`segm_case` would return); (ground truth dict, detection count)."""
    import orjson
    from segm_case import categories, iter_segm_case

    n_img, n_cat, g, d, lvis = SEGM_CASES[name]
    images, anns, n_dt = [], [], 0
    with open(folder / f"{name}_dt.json", "wb") as f:
        f.write(b"[")
        for image, image_anns, dets in iter_segm_case(max(1, int(round(n_img * scale))), n_cat, g, d, seed):
            images.append(image)
            anns.extend(image_anns)
            for rec in dets:
                f.write(b"," if n_dt else b"")
                f.write(orjson.dumps(rec))
                n_dt += 1
        f.write(b"]")
    gt = {"images": images, "annotations": anns, "categories": categories(n_cat)}
    if lvis:
        _add_lvis_fields(gt, seed)
    return gt, n_dt


def write_case(name: str, folder: str | Path, scale: float = 1.0) -> dict:
    """Write ``{name}_gt.json`` and ``{name}_dt.json`` into ``folder``; their counts."""
    import orjson

    folder = Path(folder)
    if name in STREAMED:
        gt, n_dt = _write_streamed(name, folder, scale)
    else:
        gt, dets = box_case(BOX_CASES[name], scale) if name in BOX_CASES else segm_case(name, scale)
        (folder / f"{name}_dt.json").write_bytes(orjson.dumps(dets, option=orjson.OPT_SERIALIZE_NUMPY))
        n_dt = len(dets)
    (folder / f"{name}_gt.json").write_bytes(orjson.dumps(gt, option=orjson.OPT_SERIALIZE_NUMPY))
    counts = {"images": len(gt["images"]), "categories": len(gt["categories"]), "gt": len(gt["annotations"]),
              "crowd": sum(a["iscrowd"] for a in gt["annotations"]), "dt": n_dt}  # fmt: skip
    (folder / f"{name}_counts.json").write_text(json.dumps(counts))
    return counts
