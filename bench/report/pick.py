""""What should I use under X ms?": the speed/accuracy chart, its Pareto front and the
best-AP-under-a-budget table of one dataset section.

Every unit with a batch-1 latency is placed: units with real weights at the AP measured in this
run; random-weight units (speed only) at the detector's PUBLISHED COCO val2017 box AP from the
registry (:mod:`detectors.registry`), when it has one, drawn as hollow diamonds and labelled
"published AP, speed measured here". Random-weight units without a published figure stay out.
"""

from __future__ import annotations

import math

from bench.report.tables import mode_label

MEASURED, PUBLISHED = "measured", "published"
SOURCE_TEXT = {MEASURED: "measured here", PUBLISHED: "published AP (full val2017), speed measured here"}


def registry_published_ap(detector: str) -> float | None:
    """The registry's published COCO val2017 box AP of ``detector`` (a fraction), None if it has none or is not registered."""
    from detectors.registry import REGISTRY

    entry = REGISTRY.get(detector)
    ap = ((entry[1].get("published") or {}).get("box_map")) if entry else None
    return None if ap is None else ap / 100.0


def published_applies(protocol: str, dataset: str) -> bool:
    """Whether the registry's published figures (COCO val2017 box AP) describe ``dataset``: COCO
    val2017 or a subset of it (``coco-val2017``, ``coco-val2017-mini``), scored by the coco protocol.
    Another COCO-format dataset gets no published placement."""
    return protocol == "coco" and dataset.startswith("coco-val2017")


def _main_ap(rec: dict) -> float | None:
    m = (rec.get("metrics") or {}).get("metrics") or {}
    return m.get("AP", m.get("mAP"))


def points(records: list[dict], protocol: str, scored, dataset: str) -> list[dict]:
    """One point per placeable unit of ``dataset``: {label, detector, latency_ms (p50, batch 1), ap (fraction), source ("measured" | "published")}.

    ``scored(rec)`` says whether a unit's measured AP is a result (:func:`bench.report.tables.accuracy_meaningful`).
    Published figures are COCO val2017 ones: they place units only where :func:`published_applies`.
    """
    out = []
    for r in records:
        summary = r.get("speed_summary") or {}
        lat = summary.get("latency_p50_ms")
        if r.get("status") != "ok" or lat is None:
            continue
        if scored(r):
            ap, source = _main_ap(r), MEASURED
        elif r.get("weights_used") == "random" and published_applies(protocol, dataset):
            ap, source = registry_published_ap(r["detector"]), PUBLISHED
        else:
            continue
        if ap is not None:  # a degenerate unit's AP cannot be trusted: its label says so, as its leaderboard row does
            flag = " (DEGENERATE)" if source == MEASURED and (r.get("degenerate") or r.get("degraded")) else ""
            out.append({"label": mode_label(r) + flag, "detector": r["detector"], "latency_ms": lat, "ap": ap, "source": source})
    return sorted(out, key=lambda p: (p["latency_ms"], -p["ap"]))


def pareto(pts: list[dict]) -> list[dict]:
    """The points no other beats: none with lower-or-equal latency has higher-or-equal AP (in latency order)."""
    front, best = [], -1.0
    for p in sorted(pts, key=lambda p: (p["latency_ms"], -p["ap"])):
        if p["ap"] > best:
            front.append(p)
            best = p["ap"]
    return front


def budget_rows(pts: list[dict]) -> list[dict]:
    """The "best AP under X ms" table: each Pareto point is the best choice for budgets from its
    latency up to the next one's. Rows: {label, latency_ms, ap, source, up_to_ms (None: no limit)}."""
    front = pareto(pts)
    return [{**p, "up_to_ms": front[i + 1]["latency_ms"] if i + 1 < len(front) else None} for i, p in enumerate(front)]


def _log_range(values: list[float], pad: float = 0.12) -> list[float]:
    lo, hi = math.log10(min(values)), math.log10(max(values))
    span = max(hi - lo, 0.5)
    return [lo - pad * span, hi + pad * span]


# plotly text positions and where each puts a label's box (w x h px) around its point, y down
POSITIONS = {
    "top center": lambda w, h: (-w / 2, -h - 7), "bottom center": lambda w, h: (-w / 2, 7), "middle right": lambda w, h: (8, -h / 2),
    "middle left": lambda w, h: (-w - 8, -h / 2), "top right": lambda w, h: (4, -h - 4), "top left": lambda w, h: (-w - 4, -h - 4),
    "bottom right": lambda w, h: (4, 4), "bottom left": lambda w, h: (-w - 4, 4),
}  # fmt: skip
CHAR_PX, LABEL_PX = 5.6, 12  # 10 px sans-serif: mean character width, line height


def _overlap(a: tuple, b: tuple) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def place_labels(xy: list[tuple[float, float]], texts: list[str], size: tuple[float, float]) -> list[str]:
    """A plotly ``textposition`` per point, chosen greedily (points in the given order) so that label
    boxes overlap each other, the markers and the plot's edges as little as the eight positions allow.
    ``xy``: points in pixels (y down) inside a plot area of ``size`` (w, h) pixels."""
    markers = [(x - 6, y - 6, x + 6, y + 6) for x, y in xy]
    placed, out = [], []
    for (x, y), text in zip(xy, texts):
        w, h = CHAR_PX * len(text), LABEL_PX
        best = None
        for name, offset in POSITIONS.items():
            dx, dy = offset(w, h)
            box = (x + dx, y + dy, x + dx + w, y + dy + h)
            outside = w * h - _overlap(box, (0, 0, size[0], size[1]))
            cost = sum(_overlap(box, b) for b in placed) + 0.5 * sum(_overlap(box, m) for m in markers) + 2 * outside
            if best is None or cost < best[0]:
                best = (cost, name, box)
        placed.append(best[2])
        out.append(best[1])
    return out


def speed_accuracy(pts: list[dict], col: dict, size: tuple[float, float] = (1220.0, 500.0)) -> dict:
    """Plotly figure: every point labelled with its name (label positions from :func:`place_labels` for a
    plot area of about ``size`` pixels); measured points filled circles, published ones hollow diamonds
    labelled "(published)"; the Pareto front over all points as a dotted step line."""
    aps = [100 * p["ap"] for p in pts] or [0.0, 100.0]
    span = max(max(aps) - min(aps), 5.0)
    xr, yr = _log_range([p["latency_ms"] for p in pts] or [1, 10]), [min(aps) - 0.08 * span, max(aps) + 0.15 * span]
    texts = [p["label"] + (" (published)" if p["source"] == PUBLISHED else "") for p in pts]
    xy = [((math.log10(p["latency_ms"]) - xr[0]) / (xr[1] - xr[0]) * size[0], (yr[1] - 100 * p["ap"]) / (yr[1] - yr[0]) * size[1]) for p in pts]
    order = sorted(range(len(pts)), key=lambda i: pts[i]["source"] != MEASURED)  # measured points choose first
    chosen = dict(zip(order, place_labels([xy[i] for i in order], [texts[i] for i in order], size)))
    data = []
    for source, symbol, legend in ((MEASURED, "circle", "AP measured here"), (PUBLISHED, "diamond-open", "published AP (full val2017), speed measured here")):
        group = [i for i, p in enumerate(pts) if p["source"] == source]
        if not group:
            continue
        data.append({"type": "scatter", "mode": "markers+text", "name": legend, "x": [pts[i]["latency_ms"] for i in group],
                     "y": [100 * pts[i]["ap"] for i in group], "text": [texts[i] for i in group], "textposition": [chosen[i] for i in group],
                     "textfont": {"size": 10, "color": "#222" if source == MEASURED else "#8a6d00"}, "cliponaxis": False,
                     "marker": {"color": [col.get(pts[i]["detector"], "#444") for i in group], "size": 11 if source == MEASURED else 10,
                                "symbol": symbol, "line": {"width": 2}},
                     "hovertemplate": "%{text}<br>p50 %{x:.1f} ms, AP %{y:.1f}" + f" ({SOURCE_TEXT[source]})<extra></extra>"})  # fmt: skip
    front = pareto(pts)
    if front:
        data.append({"type": "scatter", "mode": "lines", "name": "Pareto front (best AP at each latency)", "x": [p["latency_ms"] for p in front],
                     "y": [100 * p["ap"] for p in front], "line": {"color": "#444", "dash": "dot", "shape": "hv"}, "hoverinfo": "skip"})  # fmt: skip
    layout = {"title": {"text": "Speed / accuracy (p50 latency at batch 1, end to end)"}, "height": 640,
              "xaxis": {"title": {"text": "latency p50 (ms, log scale)"}, "type": "log", "range": xr},
              "yaxis": {"title": {"text": "AP (%)"}, "range": yr}, "margin": {"l": 60, "r": 30, "t": 50, "b": 50}, "legend": {"orientation": "h", "y": -0.18}}  # fmt: skip
    return {"data": data, "layout": layout}
