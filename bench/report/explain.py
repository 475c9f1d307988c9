"""The report's "Why tools disagree" and "Evaluation setup" parts: each scored unit's explain
table (every convention's AP, the waterfall from the baseline) and its linter findings, from the
stored records (``record["explain"]``, ``record["lint"]``) only.
"""

from __future__ import annotations

from bench.analysis.explain import METRICS
from bench.fmt import pts


def _pts(v: float | None, signed: bool = False) -> str:
    return pts(v, 2, signed=True) if signed else pts(v)


def unit_view(record: dict) -> dict | None:
    """Rows ready for the template, or None when the record holds neither part."""
    report, findings = record.get("explain"), record.get("lint") or []
    if not report and not findings:
        return None
    view = {"detector": record["detector"], "lint": [f["message"] for f in findings], "rows": [], "waterfall": [], "metrics": METRICS}
    if report:
        base = report["protocols"][report["baseline"]]
        view["baseline"] = report["baseline"]
        for name, vals in report["protocols"].items():
            conv = report["conventions"][name]
            m = conv["metric"]
            delta = None if vals[m] is None or base[m] is None else vals[m] - base[m]
            view["rows"].append({"name": name, "title": conv["title"], "values": [_pts(vals[k]) for k in METRICS],
                                 "delta": f"{_pts(delta, True)} ({m})"})  # fmt: skip
        for name, steps in report["attribution"]["waterfall"].items():
            if steps:
                m = report["conventions"][name]["metric"]
                view["waterfall"].append({"name": name, "metric": m, "start": _pts(base[m]), "end": _pts(report["protocols"][name][m]),
                                          "steps": [(s["rule"], _pts(s["delta"][m], True), s["title"]) for s in steps]})  # fmt: skip
    return view


def explain_views(records: list[dict]) -> dict[str, list[dict]]:
    """dataset name -> the views of its scored units (failed and random-weight units have none)."""
    out: dict[str, list[dict]] = {}
    for r in records:
        view = unit_view(r) if r.get("status") == "ok" and r.get("accuracy_meaningful") is not False else None
        if view:
            out.setdefault(r["dataset"], []).append(view)
    return out
