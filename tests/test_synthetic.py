"""The built-in synthetic dataset: deterministic, valid in all three layouts, realistic enough."""

import hashlib

import numpy as np
import pytest

from bench.cli.run_all import perfect_detections
from bench.data.coco import load_coco, load_lvis
from bench.data.png import decode_png, encode_png
from bench.data.synthetic import SyntheticSpec, build, write
from bench.data.voc import load_voc
from bench.metrics.core import evaluate
from bench.protocols import COCO, LVIS, VOC07


def digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    spec = SyntheticSpec(layout="coco", num_images=6)
    write(spec, tmp_path / "a")
    write(spec, tmp_path / "b")
    write(SyntheticSpec(layout="coco", num_images=6, seed=1), tmp_path / "c")
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_png_round_trip():
    img = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(img)), img)


def test_images_show_the_annotated_objects(tmp_path):
    path = write(SyntheticSpec(layout="coco", num_images=4), tmp_path)
    ds = load_coco(path)
    img = decode_png((tmp_path / "images" / ds.images.files[0]).read_bytes())
    assert img.shape == (ds.images.heights[0], ds.images.widths[0], 3)
    b = ds.boxes
    j = int(np.flatnonzero(b.image_idx == 0)[0])
    x1, y1, x2, y2 = b.xyxy[j].astype(int)
    assert 0 <= x1 < x2 <= img.shape[1] and 0 <= y1 < y2 <= img.shape[0]
    assert b.area[j] <= b.box_area[j]  # visible pixels, not the box


def test_layouts_cover_what_the_protocols_need(tmp_path):
    coco = load_coco(write(SyntheticSpec(layout="coco"), tmp_path / "coco", images=False))
    areas = coco.boxes.area
    assert (areas < 32**2).any() and ((areas > 32**2) & (areas < 96**2)).any() and (areas > 96**2).any()
    assert coco.boxes.iscrowd.any() and len(coco.categories) == 8

    lvis = load_lvis(write(SyntheticSpec(layout="lvis"), tmp_path / "lvis", images=False))
    assert set(lvis.categories.frequency) == {"r", "c", "f"} and len(lvis.categories) == 40
    assert any(len(n) for n in lvis.images.neg_category_idx) and any(len(n) for n in lvis.images.not_exhaustive_category_idx)

    voc = load_voc(write(SyntheticSpec(layout="voc"), tmp_path / "voc", images=False))
    assert voc.boxes.difficult.any() and not voc.boxes.difficult.all()
    assert np.array_equal(voc.boxes.xyxy, build(SyntheticSpec(layout="voc")).boxes.xyxy)

    for ds, p, key in ((coco, COCO, "AP"), (lvis, LVIS, "AP"), (voc, VOC07, "mAP")):
        assert evaluate(ds, perfect_detections(ds), p).metrics[key] == pytest.approx(1.0, abs=1e-12)
