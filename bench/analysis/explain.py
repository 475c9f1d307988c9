"""Why two tools disagree: the same predictions scored under the conventions users meet, and
every gap attributed to the rule behind it.

Each convention is the reference protocol (pycocotools for COCO ground truth, lvis-api for
LVIS) plus an ordered list of *rules*; a rule is a set of :class:`EvalProtocol` field changes,
so every convention is scored by the one metric core. The attribution is a waterfall: the
rules of a convention applied one at a time, cumulatively, from the baseline, each step's
change in every metric; plus each rule applied alone, and the classes that move most.

Values are fractions in [0, 1]; undefined values (no ground truth to find) are ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from bench.fmt import pts
from bench.protocols import COCO, LVIS, EvalProtocol, coco_iou_thresholds

if TYPE_CHECKING:  # the metric core (numba) loads when something is scored, not when the CLI is built
    from bench.data.model import Dataset, DetectionTable
    from bench.metrics.result import EvalResult

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
FIXED_AP_BUDGET = 10_000  # detections per class over the dataset (Dave et al. 2021)
TOP_CLASSES = 5


def torch_linspace_float32(start: float, end: float, steps: int) -> tuple[float, ...]:
    """``torch.linspace(start, end, steps)`` (float32, as torchmetrics and ultralytics build their
    thresholds), as float64 values: a float32 step, each value rounded once from
    start + step*i (first half) or end - step*(steps-1-i) (second half), as torch's CPU kernel."""
    step = np.float64(np.float32((np.float32(end) - np.float32(start)) / np.float32(steps - 1)))
    i = np.arange(steps, dtype=np.float64)
    values = np.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i)).astype(np.float32)
    return tuple(float(v) for v in values)


FLOAT32_IOU = torch_linspace_float32(0.5, 0.95, len(coco_iou_thresholds()))
FLOAT32_RECALL = torch_linspace_float32(0.0, 1.0, 101)


@dataclass(frozen=True)
class Rule:
    """One difference between tools, as EvalProtocol field changes."""

    name: str
    title: str
    changes: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Convention:
    """A tool's convention: the baseline plus ``rules`` in order. ``metric`` is its headline
    ("AP": IoU 0.5:0.95, "AP50": VOC's AP at IoU 0.5)."""

    name: str
    title: str
    rules: tuple[str, ...]
    metric: str = "AP"
    quirk: str | None = None  # a last step that is no protocol field: a key of QUIRKS


# Behaviours of the reference tools that no EvalProtocol field expresses, scored apart.
QUIRKS = {
    "gt_id_zero": "a ground-truth annotation with id 0 is 'no match' (pycocotools, lvis-api, faster-coco-eval): "
                  "a detection of it counts as a false positive",
}  # fmt: skip


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("maxdets_per_image", "maxDets=100 per image, as the COCO challenge states (pycocotools counts per image and category)",
         (("max_dets_scope", "image"),)),
    Rule("iou_strict", "a match needs IoU > t (pycocotools: IoU >= t)", (("iou_strict", True),)),
    Rule("box_area", "small/medium/large by box area (pycocotools: the annotation's area field)", (("area_source", "box"),)),
    Rule("crowd_unknown", "iscrowd not given: crowd regions are ordinary ground truth", (("gt_ignore", "none"), ("crowd", False))),
    Rule("drop_crowd", "crowd regions removed from the ground truth (ultralytics' COCO converter)", (("drop_crowd", True),)),
    Rule("no_maxdets", "no cap on detections per image and category", (("max_dets", (None,)),)),
    Rule("matching_ultralytics", "ultralytics' match_predictions: first ground truth on IoU ties (pycocotools: last)",
         (("matching", "ultralytics"),)),
    Rule("iou_thresholds_float32", "IoU thresholds from torch.linspace in float32 (0.55 is 0.550000011920929)",
         (("iou_thresholds", FLOAT32_IOU),)),
    Rule("recall_thresholds_float32", "recall points from torch.linspace in float32", (("recall_thresholds", FLOAT32_RECALL),)),
    Rule("continuous", "continuous interpolation: np.interp at 101 recall points + trapezoid (pycocotools: step lookup, mean)",
         (("interpolation", "continuous"),)),
    Rule("crowd_iou", "crowd regions matched by IoU, once (VOC 'difficult'; pycocotools: intersection over detection, many)",
         (("crowd", False),)),
    Rule("matching_argmax", "VOC devkit matching: the best-overlapping ground truth, taken or not", (("matching", "argmax"),)),
    Rule("tie_file", "tied scores in file order (pycocotools: image order)", (("tie_break", "file"),)),
    Rule("voc11", "VOC2007 11-point interpolation", (("interpolation", "voc11"),)),
    Rule("voc_all", "VOC2010+ all-point interpolation (area under the envelope)", (("interpolation", "voc_all"),)),
    Rule("fixed_ap", f"Fixed AP: the top {FIXED_AP_BUDGET:,} detections per class over the dataset, no per-image cap",
         (("max_dets_per_image", None), ("max_dets_per_category", FIXED_AP_BUDGET))),
)}  # fmt: skip

VOC_RULES = ("no_maxdets", "crowd_iou", "matching_argmax", "tie_file")
COCO_CONVENTIONS: tuple[Convention, ...] = (
    Convention("pycocotools", "pycocotools COCOeval (bbox), exact", ()),
    Convention("coco_maxdets_per_image", "COCO with maxDets honoured per image", ("maxdets_per_image",)),
    Convention("iou_strict", "COCO with IoU > t", ("iou_strict",)),
    Convention("box_area", "COCO with box area for S/M/L", ("box_area",)),
    Convention("torchmetrics", "torchmetrics MeanAveragePrecision() default (targets without area / iscrowd)",
               ("box_area", "crowd_unknown", "iou_thresholds_float32", "recall_thresholds_float32")),
    Convention("ultralytics", "ultralytics ap_per_class + match_predictions (COCO converted by ultralytics)",
               ("drop_crowd", "no_maxdets", "matching_ultralytics", "iou_thresholds_float32", "continuous")),
    Convention("ultralytics_8.3", "ultralytics <= 8.3: match_predictions by IoU-ordered unique pairs (the devkit's argmax rule)",
               ("drop_crowd", "no_maxdets", "matching_argmax", "iou_thresholds_float32", "continuous")),
    Convention("voc07", "VOC2007 11-point AP at IoU 0.5 (crowd as 'difficult')", (*VOC_RULES, "voc11"), "AP50"),
    Convention("voc12", "VOC2010+ all-point AP at IoU 0.5 (crowd as 'difficult')", (*VOC_RULES, "voc_all"), "AP50"),
)  # fmt: skip
LVIS_CONVENTIONS: tuple[Convention, ...] = (
    Convention("lvis", "lvis-api LVISEval (bbox), 300 detections per image", ()),
    Convention("lvis_fixed_ap", "LVIS Fixed AP (Dave et al. 2021)", ("fixed_ap",)),
    Convention("iou_strict", "LVIS with IoU > t", ("iou_strict",)),
    Convention("box_area", "LVIS with box area for S/M/L", ("box_area",)),
)
# offered only where the ground truth has an annotation with id 0 (elsewhere they equal the baseline)
ID_ZERO_CONVENTIONS = {
    "coco": Convention("pycocotools_id0", "pycocotools as it runs on annotations with id 0 (also faster-coco-eval)", (), quirk="gt_id_zero"),
    "lvis": Convention("lvis_id0", "lvis-api as it runs on annotations with id 0", (), quirk="gt_id_zero"),
}


def conventions_for(ds: Dataset) -> tuple[EvalProtocol, tuple[Convention, ...]]:
    """The baseline protocol and the conventions that apply to ``ds``'s format (and its ids)."""
    from bench.analysis.id_zero import id_zero_rows

    quirks = (ID_ZERO_CONVENTIONS[ds.format],) if ds.format in ID_ZERO_CONVENTIONS and len(id_zero_rows(ds)) else ()
    if ds.format == "lvis":
        return LVIS, LVIS_CONVENTIONS + quirks
    if ds.format == "coco":
        return COCO, COCO_CONVENTIONS + quirks
    raise ValueError(f"bench explain needs COCO or LVIS JSON ground truth; {ds.source} is {ds.format}")


def apply_rules(base: EvalProtocol, rules: tuple[str, ...], metric: str = "AP") -> EvalProtocol:
    """``base`` with ``rules`` applied in order; an AP50 convention keeps IoU 0.5 only (AP50
    does not depend on the other thresholds, so this changes no AP50 value)."""
    changes: dict = {"iou_thresholds": (0.5,)} if metric == "AP50" else {}
    for r in rules:
        changes.update(dict(RULES[r].changes))
    p = replace(base, name="+".join((base.name, *rules)), **changes)
    if not p.coco_style and len(p.max_dets) > 1:  # VOC accumulation has one max-dets column: the last cap
        p = replace(p, max_dets=(p.max_dets_last,))
    return p


def values(result: EvalResult) -> dict[str, float | None]:
    """AP, AP50, AP75, APs, APm, APl of a result. A result scored at IoU 0.5 alone (the VOC
    conventions) has AP50 and per-area AP at IoU 0.5, and no AP (0.5:0.95) or AP75."""
    m = result.metrics
    if result.protocol.coco_style and len(result.protocol.iou_thresholds) > 1:
        return {k: m.get(k) for k in METRICS}
    area = {label: result.per_area[label]["AP"] for label in ("small", "medium", "large") if label in result.per_area}
    ap50 = m.get("AP50") if result.protocol.coco_style else m["mAP"]
    return {"AP": None, "AP50": ap50, "AP75": None, "APs": area.get("small"), "APm": area.get("medium"), "APl": area.get("large")}


def class_values(result: EvalResult, metric: str) -> dict[str, float | None]:
    key = "AP50" if metric == "AP50" else "AP"
    return {name: entry[key] for name, entry in result.per_class.items()}


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _deltas(before: dict, after: dict) -> dict:
    return {k: _delta(before.get(k), after.get(k)) for k in after}


class _Scorer:
    """Evaluations cached by protocol content (names differ along the paths)."""

    def __init__(self, ds: Dataset, det: DetectionTable):
        self.ds, self.det, self.cache = ds, det, {}

    def __call__(self, p: EvalProtocol) -> EvalResult:
        from bench.metrics.core import evaluate

        key = replace(p, name="")
        if key not in self.cache:
            self.cache[key] = evaluate(self.ds, self.det, p)
        return self.cache[key]


def explain(ds: Dataset, det: DetectionTable, names: list[str] | None = None, top_classes: int = TOP_CLASSES) -> dict:
    """Score ``det`` under each convention (all that apply, or ``names``) and attribute the gaps.

    Returns ``{"baseline", "conventions": {name: {title, rules, metric, protocol}},
    "protocols": {name: {AP, AP50, ...}}, "attribution": {"waterfall", "single_rule", "classes"}}``.
    ``waterfall[name]``: one step per rule (cumulative), each with its metrics and ``delta``
    from the step before; ``single_rule[rule]``: the rule alone on the baseline, ``delta`` from it;
    ``classes[name]``: the ``top_classes`` classes whose headline AP moves most, with the
    change at each step.
    """
    base, available = conventions_for(ds)
    by_name = {c.name: c for c in available}
    unknown = [n for n in names or [] if n not in by_name]
    if unknown:
        raise ValueError(f"unknown convention(s) {', '.join(unknown)} for {ds.format} ground truth; valid: {', '.join(by_name)}")
    chosen = [by_name[n] for n in names] if names else list(available)
    if available[0] not in chosen:
        chosen.insert(0, available[0])
    score = _Scorer(ds, det)
    out: dict = {"baseline": available[0].name, "conventions": {}, "protocols": {}}
    waterfall, classes = {}, {}
    for conv in chosen:
        steps = [apply_rules(base, conv.rules[:i], conv.metric) for i in range(len(conv.rules) + 1)]
        results = [score(p) for p in steps]
        names = list(conv.rules)
        if conv.quirk == "gt_id_zero":
            from bench.analysis.id_zero import evaluate_as_pycocotools

            results.append(evaluate_as_pycocotools(ds, det, steps[-1]))
            names.append(conv.quirk)
        vals = [values(r) for r in results]
        out["conventions"][conv.name] = {"title": conv.title, "rules": list(conv.rules), "metric": conv.metric,
                                         "protocol": steps[-1].to_dict()}  # fmt: skip
        out["protocols"][conv.name] = dict(vals[-1])
        if conv.metric == "AP50":  # the convention's own "AP" is its AP at IoU 0.5
            out["protocols"][conv.name]["AP"] = vals[-1]["AP50"]
        waterfall[conv.name] = [
            {"rule": r, "title": RULES[r].title if r in RULES else QUIRKS[r], "metrics": vals[i + 1], "delta": _deltas(vals[i], vals[i + 1])}
            for i, r in enumerate(names)
        ]
        if names:
            classes[conv.name] = _movers(results, names, conv.metric, top_classes)
    single = {}
    for r in dict.fromkeys(r for c in chosen for r in c.rules):
        # a rule that makes the AP a VOC one is compared at IoU 0.5, where both are defined
        metric = "AP50" if dict(RULES[r].changes).get("interpolation") in ("voc11", "voc_all") else "AP"
        before, after = values(score(apply_rules(base, (), metric))), values(score(apply_rules(base, (r,), metric)))
        single[r] = {"title": RULES[r].title, "metrics": after, "delta": _deltas(before, after)}
    out["attribution"] = {"waterfall": waterfall, "single_rule": single, "classes": classes}
    return out


def _movers(results: list[EvalResult], steps: list[str], metric: str, top: int) -> list[dict]:
    """The classes whose headline AP changes most from the baseline to the convention."""
    per_step = [class_values(r, metric) for r in results]
    first, last = per_step[0], per_step[-1]
    moved = [(abs(d), name) for name in first if (d := _delta(first[name], last[name])) is not None and d != 0]
    rows = []
    for _, name in sorted(moved, key=lambda x: (-x[0], x[1]))[:top]:
        rows.append({
            "class": name, "baseline": first[name], "value": last[name], "delta": _delta(first[name], last[name]),
            "steps": {r: _delta(per_step[i][name], per_step[i + 1][name]) for i, r in enumerate(steps)},
        })  # fmt: skip
    return rows


def _pts(v: float | None, signed: bool = False) -> str:
    return pts(v, 2, signed=signed)


def format_explain(report: dict) -> str:
    """The terminal table: each convention's metrics, the waterfall and the single-rule deltas (AP points)."""
    lines = [f"{'convention':<24}" + "".join(f"{k:>8}" for k in METRICS) + f"{'Δ vs ' + report['baseline']:>22}"]
    base = report["protocols"][report["baseline"]]
    for name, vals in report["protocols"].items():
        metric = report["conventions"][name]["metric"]
        lines.append(f"{name:<24}" + "".join(f"{_pts(vals[k]):>8}" for k in METRICS)
                     + f"{_pts(_delta(base[metric], vals[metric]), True):>14} ({metric})")  # fmt: skip
    at_50 = [n for n, c in report["conventions"].items() if c["metric"] == "AP50"]
    if at_50:
        lines.append(f"({', '.join(at_50)}: AP and APs/m/l at IoU 0.5, the only threshold of those conventions)")
    att = report["attribution"]
    lines.append("")
    lines.append(f"waterfall from {report['baseline']} (each rule added in turn; headline metric, points):")
    for name, steps in att["waterfall"].items():
        if not steps:
            continue
        metric = report["conventions"][name]["metric"]
        path = " ".join(f"{s['rule']} {_pts(s['delta'][metric], True)}" for s in steps)
        lines.append(f"  {name} ({metric}): {_pts(base[metric])} -> {path} = {_pts(report['protocols'][name][metric])}")
    lines.append("single rules (alone on the baseline; ΔAP, ΔAP50, ΔAPs/m/l in points):")
    for rule, entry in att["single_rule"].items():
        d = entry["delta"]
        lines.append(f"  {rule:<26} AP {_pts(d['AP'], True):>6}  AP50 {_pts(d['AP50'], True):>6}  "
                     f"APs/m/l {_pts(d['APs'], True)}/{_pts(d['APm'], True)}/{_pts(d['APl'], True)}  ({entry['title']})")  # fmt: skip
    for name, rows in att["classes"].items():
        if rows:
            lines.append(f"classes moving most under {name}: " + ", ".join(f"{r['class']} {_pts(r['delta'], True)}" for r in rows))
    return "\n".join(lines)
