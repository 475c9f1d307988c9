"""The report's analysis block per dataset: AP with its bootstrap interval, a TIDE bar chart and
table, and a confusion-matrix heatmap per detector (from each record's ``analysis``, written by
``bench run`` / ``bench all``; see :mod:`bench.cli.analysis`)."""

from __future__ import annotations

from bench.analysis.tide import TYPES

MAX_CONFUSION_CLASSES = 30  # the classes with the most ground truth, plus background
CI_COLUMN = "AP_ci"  # the HTML / Markdown column: the main metric's bootstrap interval, "[low, high]" in points
CI_LOW, CI_HIGH = "AP_ci_low", "AP_ci_high"  # the leaderboard's (and CSV's) columns: fractions, as AP


def ci_cell(rec: dict) -> dict:
    """``{CI_LOW: low, CI_HIGH: high}`` (AP, or mAP for VOC; fractions in [0, 1]) for a leaderboard row, or ``{}``."""
    ci = (rec.get("analysis") or {}).get("ci") or {}
    main = "AP" if ci.get("AP") else "mAP"
    return {CI_LOW: ci[main][0], CI_HIGH: ci[main][1]} if ci.get(main) else {}


def with_ci_display(df):
    """``df`` with the display column ``CI_COLUMN`` ("[low, high]" in points, "-" where none) in
    place of the fraction columns (for the HTML and Markdown tables; the CSV keeps fractions)."""
    if CI_LOW not in df:
        return df
    shown = [f"[{100 * lo:.1f}, {100 * hi:.1f}]" if lo == lo and hi == hi else None for lo, hi in zip(df[CI_LOW], df[CI_HIGH])]
    at = list(df.columns).index(CI_LOW)
    out = df.drop(columns=[CI_LOW, CI_HIGH])
    out.insert(at, CI_COLUMN, shown)
    return out


def ci_columns(df) -> list[str]:
    """``[CI_COLUMN]`` when some row of the leaderboard ``df`` has an interval, else ``[]``."""
    has = CI_LOW in df and df[CI_LOW].notna().any()
    return [CI_COLUMN] if has or (CI_COLUMN in df and df[CI_COLUMN].notna().any()) else []


def _ci_rows(recs: list[dict]) -> list[dict]:
    rows = []
    for r in recs:
        a = r.get("analysis") or {}
        m = ((r.get("metrics") or {}).get("metrics")) or {}
        for name in ("AP", "AP50", "mAP"):
            if name in (a.get("ci") or {}) and m.get(name) is not None and a["ci"][name] is not None:
                lo, hi = a["ci"][name]
                rows.append({"detector": r["detector"], "metric": name, "value": 100 * m[name], "low": 100 * lo, "high": 100 * hi,
                             "resamples": a["bootstrap"]["resamples"], "confidence": a["bootstrap"]["confidence"]})  # fmt: skip
    return rows


def _has_tide(rec: dict) -> bool:
    """A defined TIDE analysis (its AP50 is None when the unit had no ground truth to find)."""
    t = (rec.get("analysis") or {}).get("tide")
    return t is not None and t.get("ap50") is not None


def tide_figure(recs: list[dict], colours: dict[str, str]) -> dict | None:
    bars = [{"type": "bar", "name": r["detector"], "x": list(TYPES), "y": [r["analysis"]["tide"]["main"][t] for t in TYPES],
             "marker": {"color": colours.get(r["detector"])}} for r in recs if _has_tide(r)]  # fmt: skip
    if not bars:
        return None
    return {"data": bars, "layout": {"title": {"text": "TIDE: AP50 points each error type would recover"}, "barmode": "group",
                                     "yaxis": {"title": {"text": "dAP (points)"}}, "height": 400}}  # fmt: skip


def confusion_figure(rec: dict) -> dict:
    """Row-normalised confusion (the share of each ground-truth row, 0-1: one colour scale for
    every detector; counts on hover), every class named, the x labels rotated."""
    c = rec["analysis"]["confusion"]
    labels = c["labels"]
    k = len(labels) - 1
    m = c.get("matrix")
    if m is None:  # sparse (many classes)
        m = [[0] * (k + 1) for _ in range(k + 1)]
        for g, p, n in c["cells"]:
            m[g][p] = n
    gt_count = [sum(m[g]) for g in range(k)]
    keep = sorted(sorted(range(k), key=lambda g: -gt_count[g])[:MAX_CONFUSION_CLASSES]) + [k]
    counts = [[m[g][p] for p in keep] for g in keep]
    share = [[n / max(sum(m[g]), 1) for n in row] for g, row in zip(keep, counts)]  # of the whole row, also the classes not shown
    names = [labels[i] for i in keep]
    axis = {"type": "category", "dtick": 1, "tickfont": {"size": 10}, "automargin": True}
    return {"data": [{"type": "heatmap", "z": share, "customdata": counts, "x": names, "y": names, "zmin": 0, "zmax": 1,
                      "colorscale": [[0.0, "#ffffff"], [0.02, "#deebf7"], [1.0, "#08306b"]], "colorbar": {"title": {"text": "share of row"}},
                      "hovertemplate": "ground truth %{y}<br>predicted %{x}<br>%{customdata} (%{z:.0%} of the row)<extra></extra>"}],
            "layout": {"title": {"text": f"{rec['detector']}: confusion (IoU {c['iou']}, score >= {c['score_threshold']}; rows sum to 1)"},
                       "xaxis": {**axis, "title": {"text": "prediction"}, "tickangle": -60},
                       "yaxis": {**axis, "title": {"text": "ground truth"}, "autorange": "reversed"},
                       "height": 720, "margin": {"l": 60, "r": 20, "t": 50, "b": 40}}}  # fmt: skip


def analysis_section(recs: list[dict], colours: dict[str, str]) -> dict:
    """``{"ci_rows", "tide_rows", "tide_types", "plots", "confusion"}`` for the dataset's scored records:
    ``plots`` holds the TIDE chart (all detectors), ``confusion`` each unit's matrix by unit name
    (shown under that detector). Empty lists / dicts when none has an analysis."""
    with_a = [r for r in recs if r.get("analysis")]
    plots = {}
    fig = tide_figure(with_a, colours)
    if fig:
        plots["tide"] = fig
    confusion = {r.get("unit") or r["detector"]: confusion_figure(r) for r in with_a if "confusion" in r["analysis"]}
    tide_rows = [{"detector": r["detector"], "ap50": r["analysis"]["tide"]["ap50"], **r["analysis"]["tide"]["main"]}
                 for r in with_a if _has_tide(r)]  # fmt: skip
    return {"ci_rows": _ci_rows(with_a), "tide_rows": tide_rows, "tide_types": list(TYPES), "plots": plots, "confusion": confusion}
