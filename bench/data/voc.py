"""Pascal VOC: VOCdevkit year folders (``Annotations/``, ``ImageSets/Main/``, ``JPEGImages/``).

Boxes in the XML files are the devkit's 1-based inclusive pixel indices; they are converted
once, here, to continuous XYXY (``xmin - 1, ymin - 1, xmax, ymax``). Continuous IoU on these
equals the devkit's "+1" IoU on its own coordinates (exactly, for integer coordinates).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from bench.data.model import Boxes, Categories, Dataset, Images
from bench.errors import InputError
from bench.jsonio import read_text

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip


def default_split(root: str | os.PathLike) -> str:
    """``test`` where the folder has a test list, else ``val``."""
    main = Path(root) / "ImageSets" / "Main"
    return "test" if (main / "test.txt").exists() else "val"


def read_split(root: str | os.PathLike, split: str) -> list[str]:
    path = Path(root) / "ImageSets" / "Main" / f"{split}.txt"
    if not path.exists():
        raise InputError(str(path), None, None, f"no image list for split {split!r} (expected ImageSets/Main/{split}.txt)")
    stems: list[str] = []
    first: dict[str, int] = {}
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        stem = line.split()[0]
        if stem in first:
            # scoring an image twice would count its boxes twice: a silently wrong mAP
            raise InputError(str(path), f"line {n}", None, f"image {stem!r} is listed twice (also line {first[stem]})")
        first[stem] = n
        stems.append(stem)
    return stems


def class_names(root: str | os.PathLike, split: str, found: set[str]) -> list[str]:
    """The category list: the devkit's 20 classes when the data uses them, else the per-class
    lists ``ImageSets/Main/<class>_<split>.txt``, else the sorted names found in the XML."""
    if found <= set(VOC_CLASSES):
        return list(VOC_CLASSES)
    main = Path(root) / "ImageSets" / "Main"
    suffix = f"_{split}.txt"
    listed = sorted(p.name[: -len(suffix)] for p in main.glob(f"*{suffix}"))
    if listed and found <= set(listed):
        return listed
    return sorted(found)


def _text(node, tag: str, file: str, record: str):
    child = node.find(tag)
    if child is None or child.text is None:
        raise InputError(file, record, tag, "missing element")
    return child.text.strip()


def _number(node, tag: str, file: str, record: str) -> float:
    text = _text(node, tag, file, record)
    try:
        value = float(text)
    except ValueError:
        raise InputError(file, record, tag, f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise InputError(file, record, tag, f"must be finite, got {text!r}")
    return value


def parse_annotation(path: Path) -> tuple[int, int, list[tuple[str, float, float, float, float, bool]]]:
    """(width, height, objects) of one devkit XML file; objects are (name, xmin, ymin, xmax, ymax, difficult)."""
    file = str(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise InputError(file, None, None, "annotation file not found") from None
    except ET.ParseError as err:
        raise InputError(file, None, None, f"malformed XML: {err}") from None
    size = root.find("size")
    width = int(_number(size, "width", file, "size")) if size is not None else 0
    height = int(_number(size, "height", file, "size")) if size is not None else 0
    objects = []
    for j, obj in enumerate(root.findall("object")):
        rec = f"object[{j}]"
        name = _text(obj, "name", file, rec)
        bnd = obj.find("bndbox")
        if bnd is None:
            raise InputError(file, rec, "bndbox", "missing element")
        x1, y1, x2, y2 = (_number(bnd, t, file, f"{rec}.bndbox") for t in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 - 1 or y2 < y1 - 1:
            raise InputError(file, f"{rec}.bndbox", None, f"negative size: xmin={x1}, ymin={y1}, xmax={x2}, ymax={y2}")
        diff = obj.find("difficult")
        difficult = diff is not None and diff.text is not None and diff.text.strip() not in ("", "0")
        objects.append((name, x1, y1, x2, y2, difficult))
    return width, height, objects


def load_voc(root: str | os.PathLike, split: str | None = None, name: str | None = None) -> Dataset:
    """Load a VOCdevkit year folder's ``split`` (default: ``test``, or ``val`` without a test list)."""
    root = Path(root)
    if not (root / "Annotations").is_dir():
        raise InputError(str(root), None, None, "not a VOCdevkit year folder (no Annotations/ folder)")
    split = split or default_split(root)
    stems = read_split(root, split)
    widths, heights, rows = [], [], []
    for i, stem in enumerate(stems):
        w, h, objects = parse_annotation(root / "Annotations" / f"{stem}.xml")
        widths.append(w)
        heights.append(h)
        rows.extend((i, *o) for o in objects)
    names = class_names(root, split, {r[1] for r in rows})
    cat_of = {n: k for k, n in enumerate(names)}
    n = len(rows)
    raw = np.array([r[2:6] for r in rows], dtype=np.float64).reshape(n, 4)
    xyxy = np.stack([raw[:, 0] - 1.0, raw[:, 1] - 1.0, raw[:, 2], raw[:, 3]], axis=1)
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    boxes = Boxes(
        ids=np.arange(1, n + 1, dtype=np.int64),
        image_idx=np.array([r[0] for r in rows], dtype=np.int64),
        category_idx=np.array([cat_of[r[1]] for r in rows], dtype=np.int64),
        xyxy=xyxy,
        box_area=area,
        area=area.copy(),
        iscrowd=np.zeros(n, bool),
        ignore=np.zeros(n, bool),
        difficult=np.array([r[6] for r in rows], dtype=bool),
    )
    images = Images(
        keys=list(stems),
        files=[f"{s}.jpg" if (root / "JPEGImages" / f"{s}.jpg").exists() else _image_file(root, s) for s in stems],
        widths=np.array(widths, np.int64),
        heights=np.array(heights, np.int64),
    )
    categories = Categories(ids=np.arange(1, len(names) + 1, dtype=np.int64), names=names)
    return Dataset(name or f"{root.name}-{split}", "voc", str(root), images, categories, boxes)


def _image_file(root: Path, stem: str) -> str:
    for ext in (".jpg", ".jpeg", ".png"):
        if (root / "JPEGImages" / f"{stem}{ext}").exists():
            return f"{stem}{ext}"
    return f"{stem}.jpg"


def _num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


def write_voc(ds: Dataset, root: str | os.PathLike, split: str = "test") -> None:
    """Write a dataset as a VOCdevkit year folder: XML annotations, the split list and the
    per-class lists ``<class>_<split>.txt`` (1 present, -1 absent, 0 only difficult)."""
    root = Path(root)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    b = ds.boxes
    names = ds.categories.names
    for i, key in enumerate(ds.images.keys):
        rows = np.flatnonzero(b.image_idx == i)
        objs = []
        for j in rows:
            x1, y1, x2, y2 = b.xyxy[j]
            coords = "".join(f"<{t}>{_num(v)}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), (x1 + 1, y1 + 1, x2, y2)))
            objs.append(
                f"  <object>\n    <name>{names[b.category_idx[j]]}</name>\n"
                f"    <difficult>{int(b.difficult[j])}</difficult>\n"
                f"    <bndbox>{coords}</bndbox>\n  </object>\n"
            )
        xml = (
            f"<annotation>\n  <filename>{ds.images.files[i]}</filename>\n"
            f"  <size><width>{int(ds.images.widths[i])}</width><height>{int(ds.images.heights[i])}</height><depth>3</depth></size>\n"
            + "".join(objs)
            + "</annotation>\n"
        )
        (root / "Annotations" / f"{key}.xml").write_text(xml)
    (main / f"{split}.txt").write_text("".join(f"{k}\n" for k in ds.images.keys))
    for k, cname in enumerate(names):
        lines = []
        for i, key in enumerate(ds.images.keys):
            sel = (b.image_idx == i) & (b.category_idx == k)
            label = 1 if (sel & ~b.difficult).any() else (0 if sel.any() else -1)
            lines.append(f"{key} {label:2d}\n")
        (main / f"{cname}_{split}.txt").write_text("".join(lines))
