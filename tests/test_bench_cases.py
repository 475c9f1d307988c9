"""The evaluator matrix's generated workloads (benchmarks/workloads.py) and its parity comparison
(benchmarks/evaluator_matrix.py): seeded and reproducible, LVIS lists consistent with the
ground truth (negatives absent, not-exhaustive present, as LVIS defines them and vernier
checks), and the parity counts exact."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from workloads import BOX_CASES, box_case  # noqa: E402
from evaluator_matrix import compare  # noqa: E402


def test_same_seed_same_case_other_seed_other_case():
    a = box_case(BOX_CASES["o365"], scale=0.002)
    b = box_case(BOX_CASES["o365"], scale=0.002)
    c = box_case(BOX_CASES["o365"], scale=0.002, seed=1)
    assert a == b
    assert a[1] != c[1]


def test_o365_shape():
    gt, dets = box_case(BOX_CASES["o365"], scale=0.02)  # 1,600 images
    n_img = len(gt["images"])
    assert n_img == 1600 and len(gt["categories"]) == 365
    assert 11 < len(gt["annotations"]) / n_img < 15 and 11 < len(dets) / n_img < 15  # ~1.04 M and ~1.06 M at 80,000
    crowd = np.mean([a["iscrowd"] for a in gt["annotations"]])
    assert 0.005 < crowd < 0.03
    sizes = {(im["width"], im["height"]) for im in gt["images"]}
    assert len(sizes) > 3  # assorted image sizes
    for a in gt["annotations"][:500]:
        x, y, w, h = a["bbox"]
        im = gt["images"][a["image_id"] - 1]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= im["width"] + 0.01 and y + h <= im["height"] + 0.01


def test_lvis_lists_fit_the_ground_truth():
    gt, _ = box_case(BOX_CASES["lvis"], scale=0.01)
    present: dict[int, set] = {}
    for a in gt["annotations"]:
        present.setdefault(a["image_id"], set()).add(a["category_id"])
    for im in gt["images"]:
        pos = present.get(im["id"], set())
        assert not pos & set(im["neg_category_ids"])
        assert set(im["not_exhaustive_category_ids"]) <= pos


def test_compare_counts_cells():
    ref = {"stats": np.array([0.5, -1.0]), "precision": np.zeros((2, 3)), "recall": np.ones(4)}
    got = {"stats": np.array([0.5, -1.0]), "precision": np.zeros((2, 3)), "recall": np.ones(4)}
    got["precision"][1, 2] = 1e-3
    got["recall"][0] = -1.0
    out = compare(ref, {**got, "stats": np.array([0.5, 0.25])})
    assert out["stats"] == {"max_abs": 1.25, "cells": 1, "of": 2}
    assert out["precision"] == {"max_abs": 1e-3, "cells": 1, "of": 6}
    assert out["recall"] == {"max_abs": 2.0, "cells": 1, "of": 4}
    assert compare(ref, {**got, "precision": np.zeros(0)})["precision"] is None  # not exposed
