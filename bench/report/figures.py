"""Plotly figure specs (plain dicts: ``{"data": [...], "layout": {...}}``) from a run's records.

One colour per detector across every plot (``colours``). Axis titles carry units; AP is shown
in percent, latency in milliseconds.
"""

from __future__ import annotations

from bench.report.curves import best_f1, thin
from bench.report.tables import metrics_of, mode_label

KIND = {"bbox": "", "segm": "mask "}  # title prefix per IoU type

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
           "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363"]  # fmt: skip


def colours(records: list[dict]) -> dict[str, str]:
    names = sorted({r["detector"] for r in records})
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _layout(title: str, x: str, y: str, xaxis: dict | None = None, yaxis: dict | None = None, **kw) -> dict:
    """A layout with axis titles ``x`` and ``y``; ``xaxis`` / ``yaxis`` add to (or replace) the axis settings."""
    return {"title": {"text": title}, "xaxis": {"title": {"text": x}, **(xaxis or {})}, "yaxis": {"title": {"text": y}, **(yaxis or {})},
            "margin": {"l": 60, "r": 20, "t": 50, "b": 40}, "height": 440, "legend": {"orientation": "h", "y": -0.28}, **kw}  # fmt: skip


def pr_traces(name: str, colour: str, curve: dict) -> list[dict]:
    i = best_f1(curve)
    c = thin(curve)
    out = [{"type": "scatter", "mode": "lines", "name": name, "x": c["recall"], "y": c["precision"], "customdata": c["score"],
            "line": {"color": colour}, "hovertemplate": name + "<br>recall %{x:.3f}, precision %{y:.3f}<br>score ≥ %{customdata:.3f}<extra></extra>"}]  # fmt: skip
    if i is not None:
        r, p, s = curve["recall"][i], curve["precision"][i], curve["score"][i]
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
        out.append({"type": "scatter", "mode": "markers", "name": f"{name} best F1", "showlegend": False, "x": [r], "y": [p],
                    "marker": {"color": colour, "size": 12, "symbol": "star"},
                    "hovertemplate": f"{name}: best F1 {f1:.3f} at score ≥ {s:.3f}<extra></extra>"})  # fmt: skip
    return out


def pr_pooled(records: list[dict], col: dict, iou: str, iou_type: str = "bbox") -> dict:
    """Pooled PR curves at IoU ``iou``; ``iou_type`` "segm": of the masks (mask IoU)."""
    data = []
    for r in records:
        curve = (metrics_of(r, iou_type).get("pooled_curves") or {}).get(iou)
        if curve and curve["recall"]:
            data += pr_traces(mode_label(r), col[r["detector"]], curve)
    title = f"{KIND[iou_type].capitalize() or ''}PR curves, all classes pooled, {KIND[iou_type]}IoU {iou} (★ best F1)"
    return {"data": data, "layout": _layout(title, "recall", "precision",
                                            xaxis={"title": {"text": "recall"}, "range": [0, 1]}, yaxis={"title": {"text": "precision"}, "range": [0, 1.02]})}  # fmt: skip


def pr_per_class(records: list[dict], col: dict, iou: str = "0.5", iou_type: str = "bbox") -> dict:
    """{class: [traces]} for the class selector (``iou_type`` "segm": mask PR curves)."""
    out: dict[str, list] = {}
    for r in records:
        for cls, curve in ((metrics_of(r, iou_type).get("curves") or {}).get(iou) or {}).items():
            if curve["num_gt"] and curve["recall"]:
                out.setdefault(cls, []).extend(pr_traces(mode_label(r), col[r["detector"]], curve))
    return out


def _bars(records: list[dict], col: dict, keys: list[str], title: str, ytitle: str, source) -> dict:
    data = [{"type": "bar", "name": mode_label(r), "x": keys, "y": [None if source(r, k) is None else 100 * source(r, k) for k in keys],
             "marker": {"color": col[r["detector"]]}, "hovertemplate": mode_label(r) + " %{x}: %{y:.1f}<extra></extra>"}
            for r in records if r.get("status") == "ok"]  # fmt: skip
    return {"data": data, "layout": _layout(title, "", ytitle, barmode="group")}


def area_bars(records, col) -> dict:
    m = lambda r, k: ((r.get("metrics") or {}).get("metrics") or {}).get(k)  # noqa: E731
    return _bars(records, col, ["APs", "APm", "APl"], "AP by object size", "AP (%)", m)


def frequency_bars(records, col) -> dict:
    m = lambda r, k: ((r.get("metrics") or {}).get("metrics") or {}).get(k)  # noqa: E731
    return _bars(records, col, ["APr", "APc", "APf"], "LVIS AP by class frequency (rare / common / frequent)", "AP (%)", m)


def class_heatmap(records: list[dict], max_classes: int = 80, iou_type: str = "bbox") -> dict:
    """Per-class AP of each unit (``iou_type`` "segm": mask AP); one colour scale (0-100 %) for all
    units, every class named on the x axis (rotated)."""
    kind = KIND[iou_type]
    ok = [r for r in records if r.get("status") == "ok" and metrics_of(r, iou_type).get("per_class")]
    if not ok:
        return {"data": [], "layout": _layout(f"Per-class {kind}AP", "class", "detector")}
    per_class = [metrics_of(r, iou_type)["per_class"] for r in ok]
    per = per_class[0]
    classes = sorted((c for c in per if per[c].get("num_gt")), key=lambda c: -per[c]["num_gt"])[:max_classes]
    z = [[None if pc.get(c, {}).get("AP") is None else 100 * pc[c]["AP"] for c in classes] for pc in per_class]
    return {"data": [{"type": "heatmap", "z": z, "x": classes, "y": [mode_label(r) for r in ok], "colorscale": "Viridis",
                      "zmin": 0, "zmax": 100, "colorbar": {"title": {"text": "AP (%)"}}, "hovertemplate": "%{y}<br>%{x}: AP %{z:.1f}<extra></extra>"}],
            "layout": _layout(f"Per-class {kind}AP (the {len(classes)} classes with most ground truth, most first)", "", "", height=max(360, 200 + 28 * len(ok)),
                              xaxis={"tickangle": -60, "dtick": 1, "tickfont": {"size": 10}, "type": "category"},
                              yaxis={"type": "category", "automargin": True}),
            "wide": True}  # fmt: skip


def _batch1(r: dict) -> dict | None:
    return next((b for b in (r.get("speed") or {}).get("batches", []) if b["batch_size"] == 1 and not b.get("error")), None)


def latency_box(records: list[dict], col: dict) -> dict:
    data = []
    for r in records:
        b = _batch1(r)
        if b:
            data.append({"type": "box", "name": mode_label(r), "y": b["samples_ms"]["end_to_end"], "marker": {"color": col[r["detector"]]}, "boxpoints": "outliers"})
    return {"data": data, "layout": _layout("Latency distribution (batch 1, end to end)", "", "latency (ms, log scale)", showlegend=False, height=520,
                                            xaxis={"tickangle": -45, "tickfont": {"size": 10}},
                                            yaxis={"title": {"text": "latency (ms, log scale)"}, "type": "log", "dtick": 1, "exponentformat": "none"}),
            "wide": True}  # fmt: skip


STAGE_COLOURS = {"preprocess": "#9ecae1", "forward": "#3182bd", "postprocess": "#fdae6b"}


def stage_split(records: list[dict], title: str) -> dict:
    """Stacked p50 of each stage (batch 1) on a linear axis; the caller keeps real-weight and
    random-weight units apart, so that milliseconds are not drawn beside seconds."""
    rows = [(mode_label(r), _batch1(r)) for r in records]
    rows = [(n, b) for n, b in rows if b]
    data = [{"type": "bar", "orientation": "h", "name": s, "y": [n for n, _ in rows], "x": [b["latency_ms"][s]["p50"] for _, b in rows],
             "marker": {"color": c}, "hovertemplate": "%{y} " + s + ": %{x:.2f} ms<extra></extra>"} for s, c in STAGE_COLOURS.items()]  # fmt: skip
    return {"data": data, "layout": _layout(title, "time (ms)", "", barmode="stack", height=max(300, 120 + 26 * len(rows)),
                                            legend={"orientation": "h", "y": -0.2, "traceorder": "normal"},
                                            yaxis={"type": "category", "automargin": True})}  # fmt: skip
