"""The built-in synthetic dataset: deterministic from a seed, no download needed.

Images show filled shapes of several classes on a smooth textured background, at COCO's
small / medium / large sizes, with occlusion. Annotations are exact (box and area of the
visible pixels) and are written in three layouts:

- ``coco``: ``annotations.json`` + ``images/`` with crowd regions (iscrowd=1 clusters),
- ``lvis``: ``annotations.json`` in LVIS v1 form: many classes with long-tailed frequencies
  (r/c/f), per-image ``neg_category_ids`` and ``not_exhaustive_category_ids`` (instances of
  those classes are drawn but deliberately left unannotated),
- ``voc``:  a VOCdevkit year folder with ``difficult`` flags on heavily occluded or tiny objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.coco import write_coco
from bench.data.model import Boxes, Categories, Dataset, Images
from bench.data.png import write_png
from bench.data.voc import write_voc

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring", "bar", "saltire")
COLOURS = {
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230), "yellow": (235, 215, 40),
    "magenta": (210, 50, 200), "cyan": (40, 200, 210), "orange": (240, 140, 30), "white": (245, 245, 245),
}  # fmt: skip
SHAPE_COLOUR = dict(zip(SHAPES, COLOURS))
SIZE_RANGES = {"small": (10, 30), "medium": (34, 90), "large": (100, 220)}
VERSION = "1"  # bump when the generated data changes


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. ``layout``: "coco", "lvis" or "voc"."""

    layout: str = "coco"
    seed: int = 0
    num_images: int = 48
    max_objects: int = 8

    def classes(self) -> list[tuple[str, str, tuple[int, int, int]]]:
        """(name, shape, colour) per class: 8 shapes, or 40 shape-colour pairs for LVIS."""
        if self.layout == "lvis":
            return [(f"{c}_{s}", s, COLOURS[c]) for s in SHAPES for c in list(COLOURS)[:5]]
        return [(s, s, COLOURS[SHAPE_COLOUR[s]]) for s in SHAPES]


def shape_mask(shape: str, w: int, h: int) -> np.ndarray:
    """bool ``[h, w]`` mask of ``shape`` filling a w x h box."""
    y, x = np.mgrid[0:h, 0:w]
    u = (x + 0.5) / w * 2 - 1  # [-1, 1]
    v = (y + 0.5) / h * 2 - 1
    if shape == "circle":
        m = u**2 + v**2 <= 1
    elif shape in ("square", "bar"):
        m = np.ones((h, w), bool)
    elif shape == "triangle":
        m = np.abs(u) <= (v + 1) / 2
    elif shape == "diamond":
        m = np.abs(u) + np.abs(v) <= 1
    elif shape == "cross":
        m = (np.abs(u) <= 0.3) | (np.abs(v) <= 0.3)
    elif shape == "ring":
        r = u**2 + v**2
        m = (r <= 1) & (r >= 0.35)
    elif shape == "saltire":
        m = (np.abs(u - v) <= 0.4) | (np.abs(u + v) <= 0.4)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return m


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.uniform(40, 140, 3)
    grad = rng.uniform(-40, 40, 3)
    y = np.linspace(0, 1, h)[:, None, None]
    blocks = rng.normal(0, 12, (h // 16 + 1, w // 16 + 1, 3)).repeat(16, 0).repeat(16, 1)[:h, :w]
    return np.clip(base + grad * y + blocks, 0, 255)


def _scene(rng: np.random.Generator, spec: SyntheticSpec, weights: np.ndarray):
    """One image: (rgb uint8 [H, W, 3], objects) with objects as dicts of class, box, area, flags."""
    classes = spec.classes()
    w = int(rng.integers(320, 641))
    h = int(rng.integers(240, 481))
    img = _background(rng, h, w)
    owner = np.full((h, w), -1, np.int64)
    placed = []
    for _ in range(int(rng.integers(1, spec.max_objects + 1))):
        k = int(rng.choice(len(classes), p=weights))
        lo, hi = SIZE_RANGES[rng.choice(list(SIZE_RANGES), p=[0.4, 0.4, 0.2])]
        side = int(rng.integers(lo, min(hi, w - 2, h - 2) + 1))
        aspect = 3.0 if classes[k][1] == "bar" else float(rng.uniform(0.7, 1.4))
        bw = max(4, min(w - 2, int(round(side * np.sqrt(aspect)))))
        bh = max(4, min(h - 2, int(round(side / np.sqrt(aspect)))))
        x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        placed.append((k, x0, y0, shape_mask(classes[k][1], bw, bh), False))
    if spec.layout == "coco" and rng.random() < 0.25:  # a crowd: many tiny shapes of one class
        k = int(rng.choice(len(classes), p=weights))
        cw, ch = int(rng.integers(60, 121)), int(rng.integers(40, 91))
        cx, cy = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crowd = np.zeros((ch, cw), bool)
        for _ in range(int(rng.integers(6, 13))):
            s = int(rng.integers(6, 12))
            px, py = int(rng.integers(0, cw - s + 1)), int(rng.integers(0, ch - s + 1))
            crowd[py : py + s, px : px + s] |= shape_mask(classes[k][1], s, s)
        placed.append((k, cx, cy, crowd, True))
    for idx, (k, x0, y0, m, _) in enumerate(placed):
        region = owner[y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]]
        region[m] = idx
        shade = np.array(classes[k][2], np.float64) * rng.uniform(0.85, 1.0)
        img[y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]][m] = shade
    objects = []
    for idx, (k, x0, y0, m, crowd) in enumerate(placed):
        ys, xs = np.nonzero(owner == idx)
        if len(xs) < 6:
            continue
        visible = len(xs) / m.sum()
        objects.append(
            {
                "class": k,
                "xyxy": (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
                "area": float(len(xs)),
                "iscrowd": crowd,
                "difficult": (not crowd) and (visible < 0.4 or len(xs) < 64),
            }
        )
    return np.clip(img, 0, 255).astype(np.uint8), objects


def build(spec: SyntheticSpec, image_dir: str | os.PathLike | None = None) -> Dataset:
    """Generate the dataset in memory; write the PNG images to ``image_dir`` when given."""
    rng = np.random.default_rng([spec.seed, {"coco": 0, "lvis": 1, "voc": 2}[spec.layout]])
    classes = spec.classes()
    weights = 1.0 / np.arange(1, len(classes) + 1) ** (1.3 if spec.layout == "lvis" else 0.3)
    weights = weights[rng.permutation(len(classes))]
    weights /= weights.sum()
    rows, widths, heights, neg, not_exh = [], [], [], [], []
    keys = list(range(1, spec.num_images + 1)) if spec.layout != "voc" else [f"{i:06d}" for i in range(1, spec.num_images + 1)]
    files = [f"{k:012d}.png" if isinstance(k, int) else f"{k}.png" for k in keys]
    for i in range(spec.num_images):
        img, objects = _scene(rng, spec, weights)
        heights.append(img.shape[0])
        widths.append(img.shape[1])
        if image_dir is not None:
            write_png(Path(image_dir) / files[i], img)
        if spec.layout == "lvis":
            present = sorted({o["class"] for o in objects})
            partial = [k for k in present if rng.random() < 0.2 and sum(o["class"] == k for o in objects) > 1]
            for k in partial:  # leave some instances unannotated: the class is not exhaustive here
                first = True
                for o in objects:
                    if o["class"] == k and not first and rng.random() < 0.6:
                        o["drop"] = True
                    first = first and o["class"] != k
            absent = np.setdiff1d(np.arange(len(classes)), present)
            neg.append(np.sort(rng.choice(absent, size=min(len(absent), int(rng.integers(1, 6))), replace=False)).astype(np.int64))
            not_exh.append(np.array(partial, np.int64))
        rows.extend((i, o) for o in objects if not o.get("drop"))
    n = len(rows)
    xyxy = np.array([o["xyxy"] for _, o in rows], np.float64).reshape(n, 4)
    box_area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    cat_idx = np.array([o["class"] for _, o in rows], np.int64)
    frequency = None
    if spec.layout == "lvis":
        img_count = np.array([len({i for i, o in rows if o["class"] == k}) for k in range(len(classes))])
        rare, common = max(1, spec.num_images // 20), max(2, spec.num_images // 5)
        frequency = ["r" if c <= rare else "c" if c <= common else "f" for c in img_count]
    boxes = Boxes(
        ids=np.arange(1, n + 1, dtype=np.int64),
        image_idx=np.array([i for i, _ in rows], np.int64),
        category_idx=cat_idx,
        xyxy=xyxy,
        box_area=box_area,
        area=np.array([o["area"] for _, o in rows], np.float64),
        iscrowd=np.array([o["iscrowd"] for _, o in rows], bool),
        ignore=np.zeros(n, bool),
        difficult=np.array([o["difficult"] for _, o in rows], bool) if spec.layout == "voc" else np.zeros(n, bool),
    )
    images = Images(keys, files, np.array(widths, np.int64), np.array(heights, np.int64),
                    neg if spec.layout == "lvis" else None, not_exh if spec.layout == "lvis" else None)  # fmt: skip
    categories = Categories(np.arange(1, len(classes) + 1, dtype=np.int64), [c[0] for c in classes], frequency)
    name = f"synthetic-{spec.layout}-s{spec.seed}-n{spec.num_images}-v{VERSION}"
    return Dataset(name, spec.layout, "synthetic", images, categories, boxes)


def write(spec: SyntheticSpec, out_dir: str | os.PathLike, images: bool = True) -> Path:
    """Write the dataset under ``out_dir``; returns the annotation file (COCO/LVIS) or the
    VOCdevkit year folder (VOC). Images go to ``images/`` (VOC: ``JPEGImages/``, as PNG)."""
    out = Path(out_dir)
    if spec.layout == "voc":
        root = out / "VOCdevkit" / "VOC2007"
        img_dir = root / "JPEGImages"
        img_dir.mkdir(parents=True, exist_ok=True)
        ds = build(spec, img_dir if images else None)
        write_voc(ds, root, "test")
        return root
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    ds = build(spec, img_dir if images else None)
    path = out / "annotations.json"
    write_coco(ds, path)
    return path
