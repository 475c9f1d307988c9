"""One dataset section of the report, in the order a reader asks: which detector under X ms
(leaderboard with the key columns first, the speed/accuracy chart, the best-AP-under-a-budget
table), then the charts, then each detector's own details (collapsed in the page).

Leaderboard columns come in groups (a header row above the column titles); the key columns (AP,
AP50, p50/p90 latency, FPS, params) come right after the detector's name so they fit a 1,400 px
window; the rest scroll sideways with the name column kept in view.
"""

from __future__ import annotations

from bench.report import figures, pick
from bench.report.analysis import CI_COLUMN, analysis_section, ci_columns, with_ci_display
from bench.report.ov_columns import OV_TITLES, ov_columns
from bench.report.tables import MASK_METRICS, METRICS, accuracy_meaningful, leaderboard, metrics_of, mode_label

COLUMN_TITLES = {
    "detector": "Detector", "family": "Family", "weights": "Weights", "images": "Images", "latency_p50_ms": "p50 (ms)",
    "latency_p90_ms": "p90 (ms)", "latency_p99_ms": "p99 (ms)", "fps_batch1": "FPS @1", "throughput_ips": "Best img/s", "best_batch": "@ batch",
    "peak_gpu_mb": "Peak GPU (MB)", "peak_rss_mb": "Peak RSS (MB)", "params_m": "Params (M)", "gflops": "GFLOPs", "note": "Note",
    "published_AP": "Published AP", "published_mask_AP": "Published mask AP", CI_COLUMN: "AP 95% CI",
    **OV_TITLES,
}  # fmt: skip
COLUMN_TITLES |= {c: "mask " + c[len("mask_"):] for cs in MASK_METRICS.values() for c in cs}
KEY_SPEED = ["latency_p50_ms", "latency_p90_ms", "fps_batch1"]
MORE_SPEED = ["latency_p99_ms", "throughput_ips", "best_batch", "peak_gpu_mb", "peak_rss_mb", "gflops"]
TEXT_COLUMNS = ("detector", "family", "weights", "images", "note", "training", "prompt_set")


def _flag(r) -> str:
    return "failed" if r["status"] != "ok" else "random" if r["weights"] == "random" else "degenerate" if r["degenerate"] else ""


def _groups(groups: list[tuple[str, list[str]]]) -> dict:
    """``{"groups": [(title, span)], "columns": [(col, title)]}`` without the empty groups."""
    groups = [(g, cols) for g, cols in groups if cols]
    return {"groups": [(g, len(cols)) for g, cols in groups], "columns": [(c, COLUMN_TITLES.get(c, c)) for _, cols in groups for c in cols]}


def scored_columns(sub, protocol: str) -> dict:
    """Column groups of the scored-units table (``sub``: the dataset's leaderboard rows)."""
    present = [c for c in ("published_AP", *MASK_METRICS.get(protocol, []), "published_mask_AP") if c in sub and sub[c].notna().any()]
    metrics = METRICS.get(protocol, [])
    published = [c for c in ("published_AP", "published_mask_AP") if c in present and protocol == "coco"]
    return _groups([
        ("", ["detector"]),
        ("Accuracy (%)", [*metrics[:2], *ci_columns(sub), *published[:1]]),
        ("Speed (batch 1, end to end)", KEY_SPEED),
        ("Model", ["params_m"]),
        ("More accuracy", [*metrics[2:], *[c for c in MASK_METRICS.get(protocol, []) if c in present], *published[1:]]),
        ("More speed", MORE_SPEED),
        ("Setup", ["family", "weights", "images", *ov_columns(sub), "note"]),
    ])  # fmt: skip


def speed_only_columns() -> dict:
    """Column groups of the random-weight (speed only) table: the published AP from the registry, not a measurement."""
    return _groups([("", ["detector"]), ("Registry", ["published_AP"]), ("Speed (batch 1, end to end)", KEY_SPEED), ("Model", ["params_m"]),
                    ("More speed", MORE_SPEED), ("Setup", ["family", "weights", "note"])])  # fmt: skip


def _rows(sub, columns: list[tuple[str, str]]) -> list[dict]:
    return [{c: r.get(c) for c, _ in columns} | {"_flag": _flag(r)} for _, r in sub.iterrows()]


def _plots(recs: list[dict], scored: list[dict], col: dict, protocol: str) -> tuple[dict, list[dict]]:
    """The section's charts (name -> figure) and the per-class PR selectors."""
    plots = {f"pr_{iou}": figures.pr_pooled(scored, col, iou) for iou in ("0.5", "0.75")}
    if protocol in ("coco", "lvis"):
        plots["area"] = figures.area_bars(scored, col)
    if protocol == "lvis":
        plots["frequency"] = figures.frequency_bars(scored, col)
    plots["heatmap"] = figures.class_heatmap(scored)
    masked = [r for r in scored if metrics_of(r, "segm")]  # units with mask AP: their mask curves and per-class mask AP
    if masked:
        for iou in ("0.5", "0.75"):
            plots[f"pr_mask_{iou}"] = figures.pr_pooled(masked, col, iou, "segm")
        plots["heatmap_mask"] = figures.class_heatmap(masked, iou_type="segm")
    plots["latency"] = figures.latency_box(recs, col)
    real = [r for r in recs if r.get("weights_used") != "random"]
    random = [r for r in recs if r.get("weights_used") == "random"]
    if real:
        plots["stages"] = figures.stage_split(real, "Stage split (p50, batch 1): trained weights")
    if random:
        plots["stages_random"] = figures.stage_split(random, "Stage split (p50, batch 1): random weights, speed only")
    selectors = [{"id": "class", "title": "PR curve of one class (IoU 0.5)", "label": "", "curves": figures.pr_per_class(scored, col)}]
    if masked:
        selectors.append({"id": "class-mask", "title": "Mask PR curve of one class (mask IoU 0.5)", "label": "mask ",
                          "curves": figures.pr_per_class(masked, col, iou_type="segm")})  # fmt: skip
    return plots, [{**sel, "classes": sorted(sel["curves"])} for sel in selectors if sel["curves"]]


def dataset_sections(records: list[dict], explain: dict[str, list[dict]]) -> list[dict]:
    """The template's view of each dataset in the run (``explain``: :func:`bench.report.explain.explain_views`)."""
    col = figures.colours(records)
    df = leaderboard(records)
    sections = []
    for name in dict.fromkeys(r["dataset"] for r in records):
        recs = [r for r in records if r["dataset"] == name]
        sub = with_ci_display(df[df["dataset"] == name])  # the interval in points for display (the CSV keeps fractions)
        protocol = next((p for p in sub["protocol"] if p), "")  # failed units have none
        main = "mAP" if protocol.startswith("voc") else "AP"
        sub = sub.sort_values(main, ascending=False, na_position="last") if main in sub else sub
        random_rows = sub["weights"] == "random"
        speed = sub[random_rows].copy()
        speed["published_AP"] = [pick.registry_published_ap(records[i]["detector"]) if pick.published_applies(protocol, name) else None for i in speed.index]  # df rows follow records
        speed = speed.sort_values("latency_p50_ms", na_position="last")
        scored = [r for r in recs if accuracy_meaningful(r)]  # random-weight units never reach the measured-accuracy plots
        points = pick.points(recs, protocol, accuracy_meaningful, name)
        plots, selectors = _plots(recs, scored, col, protocol)
        table, speed_table = scored_columns(sub, protocol), speed_only_columns()
        views = {v["detector"]: v for v in explain.get(name, [])}
        analysis = analysis_section(scored, col)
        slug = "".join(ch if ch.isalnum() else "-" for ch in name)
        details = [{"label": mode_label(r), "slug": f"{slug}-{''.join(ch if ch.isalnum() else '-' for ch in (r.get('unit') or r['detector']))}",
                    "explain": views.get(r["detector"]), "confusion": analysis["confusion"].get(r.get("unit") or r["detector"])}
                   for r in scored]  # fmt: skip
        sections.append({
            "name": name, "protocol": protocol, "slug": slug, "main": main, "text_columns": TEXT_COLUMNS,
            "table": table, "rows": _rows(sub[~random_rows], table["columns"]),
            "speed_table": speed_table, "speed_rows": _rows(speed, speed_table["columns"]),
            "speed_accuracy": pick.speed_accuracy(points, col), "budget_rows": pick.budget_rows(points), "points": points,
            "source_text": pick.SOURCE_TEXT, "plots": plots, "analysis": analysis, "selectors": selectors,
            "details": [d for d in details if d["explain"] or d["confusion"]],
        })  # fmt: skip
    return sections
