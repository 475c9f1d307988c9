"""The leaderboard as a pandas DataFrame built from a run's records (one row per unit).

Columns hold raw numbers (AP as fractions, times in ms); formatting is the template's job.
Box AP columns are named as the metric core names them (``AP``, ``APr``, ...); mask AP columns
(instance segmentation, from a unit's ``metrics_segm``) carry the ``mask_`` prefix
(``mask_AP``, ``mask_APr``, ...), beside them.
"""

from __future__ import annotations

from bench.report.ov_columns import OV_METRICS, prompt_cell, training_cell

METRICS = {
    "coco": ["AP", "AP50", "AP75", "APs", "APm", "APl"],
    "lvis": ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"],
    "voc07": ["mAP"],
    "voc12": ["mAP"],
    **OV_METRICS,
}
MASK_PREFIX = "mask_"
MASK_METRICS = {p: [MASK_PREFIX + m for m in METRICS[p]] for p in ("coco", "lvis")}  # VOC has no masks


def metrics_of(rec: dict, iou_type: str = "bbox") -> dict:
    """The unit's stored metrics file for ``iou_type`` ("bbox": metrics.json, "segm": metrics_segm.json), or {}."""
    return rec.get("metrics" if iou_type == "bbox" else "metrics_segm") or {}


def mode_label(rec: dict) -> str:
    s = rec.get("settings") or {}
    extra = [s["dtype"]] if s.get("dtype", "fp32") != "fp32" else []
    return rec["detector"] + (f" ({', '.join(extra)})" if extra else "")


def accuracy_meaningful(rec: dict) -> bool:
    """Random-weight units are speed only: their AP is never shown as a result."""
    return rec.get("status") == "ok" and rec.get("weights_used") != "random" and rec.get("accuracy_meaningful", True) is not False


def note(rec: dict) -> str:
    if rec.get("status") != "ok":
        return f"failed: {rec.get('error') or rec.get('status')}"
    if rec.get("weights_used") == "random":
        return "random weights: speed only"
    parts = [f"DEGENERATE predictions: {'; '.join(rec['degenerate'])}"] if rec.get("degenerate") else []
    parts += [f"DEGRADED: {rec['degraded']}"] if rec.get("degraded") else []
    missing = ((rec.get("describe") or {}).get("label_map") or {}).get("unpredictable_dataset_classes") or []
    parts += [f"cannot predict {len(missing)} classes"] if missing else []
    return "; ".join(parts)


def published_ap(rec: dict, protocol: str, key: str = "box_map") -> float | None:
    """The detector's published COCO val2017 box AP (``key="mask_map"``: mask AP), a fraction,
    shown beside the measured one."""
    pub = ((rec.get("describe") or {}).get("published") or {}).get(key)
    return pub / 100.0 if pub is not None and protocol == "coco" else None


SPEED_KEYS = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "fps_batch1", "throughput_ips", "best_batch", "peak_gpu_mb", "peak_rss_mb", "gflops")


def speed_row(speed: dict | None) -> dict:
    """The speed columns of a unit (every key present, None when not measured or failed)."""
    if not speed:
        return dict.fromkeys(SPEED_KEYS)
    ok = [b for b in speed.get("batches", []) if not b.get("error")]
    summary = speed.get("summary") or {}  # bench.speed.measure's headline figures
    flops = (speed.get("flops") or {}).get("value")
    return {
        "latency_p50_ms": summary.get("latency_p50_ms"),
        "latency_p90_ms": next((b["latency_ms"]["end_to_end"].get("p90") for b in ok if b.get("batch_size") == 1 and "latency_ms" in b), None),
        "latency_p99_ms": summary.get("latency_p99_ms"),
        "fps_batch1": summary.get("fps_batch1"),
        "throughput_ips": summary.get("best_throughput_ips"),
        "best_batch": summary.get("best_batch_size"),
        "peak_gpu_mb": max((b.get("peak_gpu_mb") or 0 for b in ok), default=None) or None,
        "peak_rss_mb": max((b.get("peak_rss_mb") or 0 for b in ok), default=None) or None,
        "gflops": flops / 1e9 if flops else None,
    }


def leaderboard(records: list[dict]):
    """DataFrame: one row per unit with dataset, detector, family, weights, metrics, speed."""
    import pandas as pd

    from bench.report.analysis import ci_cell

    rows = []
    for rec in records:
        meaningful = accuracy_meaningful(rec)
        metrics = metrics_of(rec).get("metrics") or {} if meaningful else {}
        mask_metrics = metrics_of(rec, "segm").get("metrics") or {} if meaningful else {}
        protocol = (rec.get("metrics") or {}).get("protocol") or ""
        desc = rec.get("describe") or {}
        row = {
            "dataset": rec["dataset"], "protocol": protocol, "detector": mode_label(rec), "family": desc.get("family", ""),
            "weights": rec.get("weights_used") or "", "status": rec.get("status"),
            "images": (rec.get("subset") or "all") + (f" ({len(rec['skipped_images'])} unreadable)" if rec.get("skipped_images") else ""),
            "accuracy": meaningful, "degenerate": bool(rec.get("degenerate")) or bool(rec.get("degraded")),
            **{m: metrics.get(m) for m in METRICS.get(protocol, [])},
            **{m: mask_metrics.get(m[len(MASK_PREFIX):]) for m in MASK_METRICS.get(protocol, [])},
            **(ci_cell(rec) if meaningful else {}),  # bootstrap interval (bench.report.analysis)
            "published_AP": published_ap(rec, protocol) if meaningful else None,
            "training": training_cell(rec), "prompt_set": prompt_cell(rec),
            "published_mask_AP": published_ap(rec, protocol, "mask_map") if meaningful else None,
            **speed_row(rec.get("speed")),
            "params_m": desc["parameters"] / 1e6 if desc.get("parameters") else None,
            "note": note(rec),
        }  # fmt: skip
        rows.append(row)
    mask_columns = ["published_mask_AP", *(c for cs in MASK_METRICS.values() for c in cs)]
    for c in mask_columns:  # box-only runs keep the box-only table: mask columns only where some unit has mask AP
        if all(r.get(c) is None for r in rows):
            for r in rows:
                r.pop(c, None)
    labels = [(r["dataset"], r["detector"]) for r in rows]
    for r, rec, label in zip(rows, records, labels):  # same detector under other settings (e.g. after --resume): say which
        if labels.count(label) > 1:
            r["detector"] += f" [settings {str(rec.get('settings_key') or '?')[:8]}: {settings_summary(rec)}]"
    return pd.DataFrame(rows)


def settings_summary(rec: dict) -> str:
    """The settings that usually tell two units of one detector apart."""
    s = rec.get("settings") or {}
    keys = ("weights", "max_detections", "score_threshold", "nms_iou", "batch_size", "max_images", "detector_args")
    return ", ".join(f"{k}={s[k]}" for k in keys if s.get(k) not in (None, (), []))


def to_markdown(df) -> str:
    """A GitHub table (no tabulate dependency); numbers as the HTML shows them."""
    from bench.report.analysis import with_ci_display
    from bench.report.fmt import cell

    df = with_ci_display(df)  # the interval as "[low, high]" points, as the HTML shows it
    cols = list(df.columns)
    lines = ["| " + " | ".join(md_escape(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(md_escape(cell(c, r[c])) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def md_escape(text: str) -> str:
    """A Markdown table cell that renders as the text itself: HTML escaped (names come from
    user files and must not become markup), pipes and newlines kept inside the cell."""
    import html

    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")
