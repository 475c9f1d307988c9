"""The ``tidecv`` package as a test oracle (tests only).

tidecv 1.0.1 is unmaintained: it imports matplotlib, seaborn and OpenCV at import time for its
plots and creates a plotter in ``TIDE()``. With numpy 2 it imports and runs as is (it uses none
of the removed aliases such as ``np.float`` on the paths used here); the only shim needed is a
non-interactive matplotlib backend chosen before the import, so no display is needed. Tests
skip when tidecv is not installed.
"""

from __future__ import annotations

import pytest


def load_tidecv():
    """The imported ``tidecv`` module (skips the test when it is not installed)."""
    import matplotlib

    matplotlib.use("Agg")
    return pytest.importorskip("tidecv")


def tidecv_main_errors(gt: dict, dets: list, max_dets: int = 100) -> tuple[float, dict]:
    """(AP50, main errors) from tidecv for a COCO ground-truth dict and results list.

    Images are registered in image-id order (detbench's evaluation order, so tied scores are
    ordered alike); crowd boxes are ignore regions, as tidecv's own COCO loader makes them."""
    tidecv = load_tidecv()
    data = tidecv.Data("gt", max_dets=max_dets)
    for im in sorted(gt["images"], key=lambda r: r["id"]):
        data.add_image(im["id"], im.get("file_name", str(im["id"])))
    for c in gt["categories"]:
        data.add_class(c["id"], c["name"])
    for a in gt["annotations"]:
        if a.get("iscrowd"):
            data.add_ignore_region(a["image_id"], a["category_id"], list(a["bbox"]))
        else:
            data.add_ground_truth(a["image_id"], a["category_id"], list(a["bbox"]))
    preds = tidecv.Data("dt", max_dets=max_dets)
    for d in dets:
        preds.add_detection(d["image_id"], d["category_id"], d["score"], list(d["bbox"]))
    t = tidecv.TIDE()
    run = t.evaluate(data, preds, mode=tidecv.TIDE.BOX)
    return run.ap, t.get_main_errors()["dt"]
