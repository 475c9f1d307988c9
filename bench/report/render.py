"""Render a run's records into ``<out>/index.html`` (self-contained: plotly.js embedded once,
no CDN), ``leaderboard.csv`` and ``leaderboard.md``; and the two-run comparison page.

Templates live in ``bench/report/templates`` (Jinja2). Nothing here needs a GPU or a model.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.jsonio import load_json, write_atomic
from bench.report import figures
from bench.report.analysis import CI_COLUMN, analysis_section, ci_columns, with_ci_display  # bootstrap CI, TIDE, confusion (record["analysis"])
from bench.report.explain import explain_views
from bench.report.fmt import cell
from bench.report.ov_columns import OV_TITLES, load_suites, ov_columns, suites_markdown
from bench.report.tables import MASK_METRICS, METRICS, accuracy_meaningful, leaderboard, metrics_of, to_markdown
from bench.store import load_records

TEMPLATES = Path(__file__).resolve().parent / "templates"
COLUMN_TITLES = {
    "detector": "Detector", "family": "Family", "weights": "Weights", "images": "Images", "latency_p50_ms": "p50 (ms)",
    "latency_p99_ms": "p99 (ms)", "fps_batch1": "FPS @1", "throughput_ips": "Best img/s", "best_batch": "@ batch",
    "peak_gpu_mb": "Peak GPU (MB)", "peak_rss_mb": "Peak RSS (MB)", "params_m": "Params (M)", "gflops": "GFLOPs", "note": "Note",
    "published_AP": "Published AP (full val2017)", "published_mask_AP": "Published mask AP (full val2017)", CI_COLUMN: "AP 95% CI",
    **OV_TITLES,
}  # fmt: skip
COLUMN_TITLES |= {c: "mask " + c[len("mask_"):] for cs in MASK_METRICS.values() for c in cs}
SPEED_COLUMNS = ["latency_p50_ms", "latency_p99_ms", "fps_batch1", "throughput_ips", "best_batch", "peak_gpu_mb", "peak_rss_mb", "params_m", "gflops"]


def _flag(r) -> str:
    return "failed" if r["status"] != "ok" else "random" if r["weights"] == "random" else "degenerate" if r["degenerate"] else ""


def plotly_js() -> str:
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=jinja2.select_autoescape(["html"]))
    env.filters["cell"] = lambda v, col: cell(col, v)
    env.filters["tojson_safe"] = lambda obj: json.dumps(obj).replace("</", "<\\/")
    return env


def dataset_sections(records: list[dict]) -> list[dict]:
    col = figures.colours(records)
    df = leaderboard(records)
    sections = []
    for name in dict.fromkeys(r["dataset"] for r in records):
        recs = [r for r in records if r["dataset"] == name]
        sub = with_ci_display(df[df["dataset"] == name])  # the interval in points for display (the CSV keeps fractions)
        protocol = next((p for p in sub["protocol"] if p), "")  # failed units have none
        present = [c for c in ("published_AP", *MASK_METRICS.get(protocol, []), "published_mask_AP") if c in sub and sub[c].notna().any()]
        mask_cols = [c for c in MASK_METRICS.get(protocol, []) if c in present]  # box and mask AP side by side
        published = [c for c in ("published_AP", "published_mask_AP") if c in present and protocol == "coco"]
        cols = ["detector", "family", "weights", "images", *ov_columns(sub), *METRICS.get(protocol, []), *ci_columns(sub), *mask_cols, *published, *SPEED_COLUMNS, "note"]
        speed_cols = ["detector", "family", "weights", *SPEED_COLUMNS, "note"]
        main = "mAP" if protocol.startswith("voc") else "AP"
        sub = sub.sort_values(main, ascending=False, na_position="last") if main in sub else sub
        scored = [r for r in recs if accuracy_meaningful(r)]  # random-weight units never reach accuracy plots
        plots = {"speed_accuracy": figures.speed_accuracy(scored, col)}
        for iou in ("0.5", "0.75"):
            plots[f"pr_{iou}"] = figures.pr_pooled(scored, col, iou)
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
        plots["stages"] = figures.stage_split(recs)
        selectors = [{"id": "class", "title": "PR curve of one class (IoU 0.5)", "label": "", "curves": figures.pr_per_class(scored, col)}]
        if masked:
            selectors.append({"id": "class-mask", "title": "Mask PR curve of one class (mask IoU 0.5)", "label": "mask ",
                              "curves": figures.pr_per_class(masked, col, iou_type="segm")})  # fmt: skip
        random_rows = sub["weights"] == "random"
        sections.append({
            "name": name, "protocol": protocol, "columns": [(c, COLUMN_TITLES.get(c, c)) for c in cols],
            "rows": [{c: r[c] for c in cols} | {"_flag": _flag(r)} for _, r in sub[~random_rows].iterrows()],
            "speed_columns": [(c, COLUMN_TITLES.get(c, c)) for c in speed_cols],
            "speed_rows": [{c: r[c] for c in speed_cols} | {"_flag": "random"} for _, r in sub[random_rows].iterrows()],
            "plots": plots, "analysis": analysis_section(scored, col), "selectors": [{**sel, "classes": sorted(sel["curves"])} for sel in selectors if sel["curves"]],
            "slug": "".join(ch if ch.isalnum() else "-" for ch in name),
        })  # fmt: skip
    return sections


def render_run(run: Path, out: Path) -> Path:
    run, out = Path(run), Path(out)
    manifest = load_json(run / "run.json")
    records = load_records(run)
    suites = load_suites(run)
    env = environment()
    html = env.get_template("index.html").render(
        run=manifest, sections=dataset_sections(records), plotly_js=plotly_js(),
        units=[{"unit": r["unit"], "status": r["status"], "settings": r.get("settings"), "dataset_version": r.get("dataset_version"),
                "weights": r.get("weights_used"), "error": r.get("error"), "notes": r.get("notes") or []} for r in records],
        environment=manifest.get("environment") or {},
        not_run=load_json(run / "skipped_units.json") if (run / "skipped_units.json").exists() else [],
        explain=explain_views(records),
        suites=suites,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    df = leaderboard(records)
    write_atomic(out / "leaderboard.csv", df.to_csv(index=False).encode())
    write_atomic(out / "leaderboard.md", to_markdown(df).encode())
    if suites:
        write_atomic(out / "suites.md", suites_markdown(suites).encode())
    write_atomic(out / "index.html", html.encode())
    return out / "index.html"


def render_compare(run_a: Path, run_b: Path, out: Path, ap_tol: float = 0.005, speed_tol: float = 0.10) -> Path:
    from bench.gate.check import compare, make_baseline

    rows = compare(make_baseline(Path(run_a)), Path(run_b), ap_tol, speed_tol)
    warnings = [f"{r.unit}: {r.delta}; its accuracy is not compared" for r in rows if r.metric == "images"]
    for w in warnings:  # loud: printed, and a banner above the table
        print(f"WARNING: {w}")
    html = environment().get_template("compare.html").render(a=Path(run_a).name, b=Path(run_b).name, rows=rows, ap_tol=ap_tol, speed_tol=speed_tol,
                                                             warnings=warnings)  # fmt: skip
    Path(out).mkdir(parents=True, exist_ok=True)
    write_atomic(Path(out) / "index.html", html.encode())
    return Path(out) / "index.html"
