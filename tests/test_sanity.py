"""Degenerate predictions are flagged, never scored as if they were real: hand-made
``Detections`` for each failure mode (collapsed at the origin, in the bottom-right corner, all
identical, most images empty, no confident score) versus a healthy set, and a real unit whose
decode is deliberately wrong (the raw YOLOX-Nano head read as decoded boxes), which the record
and the report leaderboard mark."""

from __future__ import annotations

import numpy as np
import pytest

from bench.run.sanity import degenerate_findings
from detectors.base import Detections

SIZES = [(480, 640), (427, 640), (640, 427), (200, 640)] * 10  # (height, width); varied and non-square


def dets_from(boxes_per_image, scores_per_image=None):
    out = []
    for k, boxes in enumerate(boxes_per_image):
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        s = np.linspace(0.9, 0.1, len(b), dtype=np.float32) if scores_per_image is None else np.asarray(scores_per_image[k], np.float32)
        out.append(Detections(b, s, np.zeros(len(b), np.int64)))
    return out


def healthy(rng, sizes=SIZES, per_image=10):
    boxes = []
    for h, w in sizes:
        x1, y1 = rng.uniform(0, w * 0.7, per_image), rng.uniform(0, h * 0.7, per_image)
        bw, bh = rng.uniform(10, w * 0.3, per_image), rng.uniform(10, h * 0.3, per_image)
        boxes.append(np.stack([x1, y1, x1 + bw, y1 + bh], 1))
    return boxes


def kinds(findings):
    return {f.split(":")[0] for f in findings}


def test_healthy_varied_boxes_have_no_finding():
    rng = np.random.default_rng(0)
    assert degenerate_findings(dets_from(healthy(rng)), SIZES) == []
    # a few empty images and a few boxes near a corner are normal
    boxes = healthy(rng)
    boxes[0], boxes[1] = [], []
    boxes[2] = [[0, 0, 20, 20], [620, 460, 640, 480]]
    assert degenerate_findings(dets_from(boxes), SIZES) == []


def test_boxes_collapsed_at_the_origin():
    """Raw grid outputs (offsets of a cell, log sizes) read as pixels: tiny boxes at (0, 0)."""
    rng = np.random.default_rng(1)
    boxes = []
    for _ in SIZES:
        xy = rng.uniform(-0.5, 1.5, (10, 2))
        wh = np.exp(rng.uniform(-1, 0, (10, 2)))
        boxes.append(np.concatenate([xy - wh / 2, xy + wh / 2], 1).clip(0, None))
    findings = degenerate_findings(dets_from(boxes), SIZES)
    assert "collapsed" in kinds(findings)
    assert any("top-left" in f for f in findings) and any("under 1 pixel" in f for f in findings)
    assert not any("bottom-right" in f for f in findings)


@pytest.mark.parametrize("tiny_share, flagged", [(0.6, True), (0.4, False)])
def test_collapsed_means_most_boxes_under_a_pixel(tiny_share, flagged):
    """Sub-pixel boxes spread over the image (not at a corner): flagged once they are the majority."""
    rng = np.random.default_rng(5)
    boxes = healthy(rng)
    for (h, w), b in zip(SIZES, boxes):
        k = int(round(tiny_share * len(b)))
        xy = np.stack([rng.uniform(0.2 * w, 0.8 * w, k), rng.uniform(0.2 * h, 0.8 * h, k)], 1)
        b[:k] = np.concatenate([xy, xy + rng.uniform(0.1, 0.9, (k, 2))], 1)
    findings = degenerate_findings(dets_from(boxes), SIZES)
    assert bool(findings) is flagged
    if flagged:
        assert findings == [f"collapsed: 60% of {10 * len(SIZES)} boxes have under 1 pixel of width or height (or 0.001% of the image)"]


def test_boxes_collapsed_in_the_bottom_right_corner():
    """Boxes of fair size but all with centres in the bottom-right corner of their own image
    (e.g. coordinates scaled twice, then clipped): found per image size, height and width apart."""
    rng = np.random.default_rng(2)
    boxes = []
    for h, w in SIZES:
        x2, y2 = w - rng.uniform(0, 2, 10), h - rng.uniform(0, 2, 10)
        bw, bh = rng.uniform(8, 12, 10), rng.uniform(4, 6, 10)
        boxes.append(np.stack([x2 - bw, y2 - bh, x2, y2], 1))
    findings = degenerate_findings(dets_from(boxes), SIZES)
    assert any(f.startswith("collapsed") and "bottom-right" in f for f in findings), findings
    assert not any("under 1 pixel" in f or "top-left" in f for f in findings)


def test_all_boxes_identical():
    boxes = [[[100, 50, 300, 200]] * 10 for _ in SIZES]
    findings = degenerate_findings(dets_from(boxes), SIZES)
    assert kinds(findings) == {"identical"} and "400 boxes take only" in findings[0]
    same = [(480, 640)] * 30
    assert degenerate_findings(dets_from([[[100, 50, 300, 200]] * 10 for _ in same]), same) == [
        "identical: 300 boxes take only 1 distinct positions"]


def test_identical_needs_enough_boxes_to_judge():
    boxes = [[[100, 50, 300, 200]] * 2, [[100, 50, 300, 200]] * 2]
    assert degenerate_findings(dets_from(boxes), [(480, 640)] * 2) == []  # 4 boxes: below min_boxes


def test_most_images_empty():
    rng = np.random.default_rng(3)
    boxes = healthy(rng)
    for k in range(len(boxes)):
        if k % 4:
            boxes[k] = []
    findings = degenerate_findings(dets_from(boxes), SIZES)
    assert kinds(findings) == {"empty"} and f"empty: 30 of {len(SIZES)} images" in findings[0]
    assert degenerate_findings(dets_from([[] for _ in SIZES]), SIZES) == [f"empty: {len(SIZES)} of {len(SIZES)} images have no detection"]


def test_all_scores_below_005():
    rng = np.random.default_rng(4)
    boxes = healthy(rng)
    findings = degenerate_findings(dets_from(boxes, [rng.uniform(0.001, 0.049, len(b)) for b in boxes]), SIZES)
    assert kinds(findings) == {"unconfident"} and "< 0.05" in findings[0]
    one_confident = [rng.uniform(0.001, 0.049, len(b)) for b in boxes]
    one_confident[7][3] = 0.06
    assert degenerate_findings(dets_from(boxes, one_confident), SIZES) == []


# ---------------------------------------------------------------- end to end: a broken decode


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from bench.data.catalog import load_dataset
    from bench.protocols import get_protocol
    from bench.run.unit import UnitSettings, run_unit
    from bench.store import load_records

    run = tmp_path_factory.mktemp("run")
    ds, root, protocol = load_dataset("coco-val2017-mini")
    logs = []
    recs = {}
    for label, args in (("broken", (("layout", "yolox-decoded"),)), ("correct", ())):
        s = UnitSettings(dataset="coco-val2017-mini", detector="yolox_nano", detector_args=args, max_images=8)
        recs[label] = run_unit(s, ds, root, get_protocol(protocol), run, {}, speed=False, log=logs.append)
    return recs, load_records(run), logs


def test_broken_decode_is_marked_degenerate(units):
    recs, _, logs = units
    broken, correct = recs["broken"], recs["correct"]
    assert broken["status"] == "ok" and broken["describe"]["layout"] == "yolox-decoded"
    assert broken["degenerate"] and any(f.startswith("collapsed") for f in broken["degenerate"])
    assert any("WARNING: degenerate predictions" in line for line in logs)
    assert correct["status"] == "ok" and correct["degenerate"] == []
    assert correct["metrics_summary"]["AP"] > 0.2 > broken["metrics_summary"]["AP"]


def test_report_leaderboard_marks_the_degenerate_unit(units):
    pytest.importorskip("pandas")
    from bench.report.tables import leaderboard, note

    _, records, _ = units
    by_layout = {r["describe"]["layout"]: r for r in records}
    assert note(by_layout["yolox-decoded"]).startswith("DEGENERATE predictions: collapsed")
    assert note(by_layout["yolox"]) == ""
    table = leaderboard(records)
    assert len(table) == 2
    flagged, fine = table[table["degenerate"]], table[~table["degenerate"]]
    assert len(flagged) == 1 and flagged.iloc[0]["note"].startswith("DEGENERATE predictions: collapsed")
    assert len(fine) == 1 and fine.iloc[0]["note"] == ""
