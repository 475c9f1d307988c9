"""The "what to use under X ms" parts (bench.report.pick): which units are placed and at which AP,
the Pareto front read as budgets, and label positions that keep names apart."""

from __future__ import annotations

from bench.report.pick import budget_rows, pareto, place_labels, points, registry_published_ap, speed_accuracy
from bench.report.tables import accuracy_meaningful


def rec(det, lat, ap=None, weights=None, **kw):
    metrics = {"metrics": {"metrics": {"AP": ap}}} if ap is not None else {}
    return {"detector": det, "status": "ok", "weights_used": weights or "pretrained", "speed_summary": {"latency_p50_ms": lat},
            "accuracy_meaningful": weights != "random", **metrics, **kw}  # fmt: skip


def test_random_weight_units_are_placed_at_their_published_ap_only():
    recs = [rec("yolox_nano", 20.0, 0.30), rec("rtdetr_r18vd", 1300.0, 0.001, weights="random"),
            rec("dab_detr_resnet50", 2900.0, weights="random"), rec("nanodet_m", 80.0, 0.23, degenerate=["collapsed"]),
            rec("broken", 5.0, 0.5, status="failed")]  # fmt: skip
    pts = {p["detector"]: p for p in points(recs, "coco", accuracy_meaningful, "coco-val2017-mini")}
    assert set(pts) == {"yolox_nano", "rtdetr_r18vd", "nanodet_m"}  # no published AP for dab_detr; failed units out
    assert pts["rtdetr_r18vd"]["ap"] == registry_published_ap("rtdetr_r18vd") == 0.465 and pts["rtdetr_r18vd"]["source"] == "published"
    assert pts["yolox_nano"]["ap"] == 0.30 and pts["yolox_nano"]["source"] == "measured"  # measured, not the published 25.8
    assert pts["nanodet_m"]["label"] == "nanodet_m (DEGENERATE)"
    assert {p["detector"] for p in points(recs, "voc07", accuracy_meaningful, "voc2007-test")} == {"yolox_nano", "nanodet_m"}  # published = COCO figures
    assert {p["detector"] for p in points(recs, "coco", accuracy_meaningful, "my-coco-format-data")} == {"yolox_nano", "nanodet_m"}  # of val2017 only
    fig = speed_accuracy(list(pts.values()), {})
    published = next(t for t in fig["data"] if t["name"].startswith("published AP"))
    assert published["text"] == ["rtdetr_r18vd (published)"] and published["marker"]["symbol"] == "diamond-open"


def test_pareto_front_as_budgets():
    pts = [{"label": n, "latency_ms": lat, "ap": ap} for n, lat, ap in [("a", 10, 0.3), ("b", 20, 0.25), ("c", 30, 0.4), ("d", 30, 0.35), ("e", 90, 0.5)]]
    assert [p["label"] for p in pareto(pts)] == ["a", "c", "e"]
    assert [(r["label"], r["latency_ms"], r["up_to_ms"]) for r in budget_rows(pts)] == [("a", 10, 30), ("c", 30, 90), ("e", 90, None)]


def test_labels_of_close_points_go_different_ways():
    lone = place_labels([(300.0, 200.0)], ["alone"], (600.0, 400.0))
    assert lone == ["top center"]
    twins = place_labels([(300.0, 200.0), (300.0, 200.0)], ["first label", "second label"], (600.0, 400.0))
    assert twins[0] != twins[1]
    edge = place_labels([(598.0, 5.0)], ["a long label at the corner"], (600.0, 400.0))
    assert edge[0] in ("bottom left", "middle left")  # kept inside the plot
