"""Render a run's records into ``<out>/index.html`` (self-contained: plotly.js embedded once,
no CDN), ``leaderboard.csv`` and ``leaderboard.md``; and the two-run comparison page.

The page's parts come from :mod:`bench.report.sections` (per dataset), :mod:`bench.report.explain`
and :mod:`bench.report.provenance` (environment, units, "Not run").

Templates live in ``bench/report/templates`` (Jinja2). Nothing here needs a GPU or a model.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.jsonio import load_json, write_atomic
from bench.report.explain import explain_views
from bench.report.fmt import cell
from bench.report.ov_columns import load_suites, suites_markdown
from bench.report.provenance import environment_rows, not_run, settings_lines, shared_settings, unit_rows
from bench.report.sections import dataset_sections
from bench.report.tables import leaderboard, to_markdown
from bench.store import load_records

TEMPLATES = Path(__file__).resolve().parent / "templates"


def plotly_js() -> str:
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=jinja2.select_autoescape(["html"]))
    env.filters["cell"] = lambda v, col: cell(col, v)
    env.filters["tojson_safe"] = lambda obj: json.dumps(obj).replace("</", "<\\/")
    return env


def render_run(run: Path, out: Path) -> Path:
    run, out = Path(run), Path(out)
    manifest = load_json(run / "run.json")
    records = load_records(run)
    suites = load_suites(run)
    explain = explain_views(records)
    skipped = load_json(run / "skipped_units.json") if (run / "skipped_units.json").exists() else []
    html = environment().get_template("index.html").render(
        run=manifest, sections=dataset_sections(records, explain), plotly_js=plotly_js(), units=unit_rows(records),
        shared_settings=settings_lines(shared_settings(records)) if len(records) > 1 else [],
        environment=environment_rows(manifest.get("environment") or {}), git_commit=(manifest.get("environment") or {}).get("git_commit"),
        not_run=not_run(manifest, records, skipped), explain=explain, suites=suites,
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
