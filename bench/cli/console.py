"""What ``bench all`` prints: one line per unit, one compact line per group of units that did not
run, and a closing recap (counts, the scored units with AP beside the published figure, the
report as a ``file://`` link). Metric values go through :func:`bench.fmt.pts` (points, one decimal)."""

from __future__ import annotations

from pathlib import Path

from bench.fmt import pts

NAMES_SHOWN = 6  # names listed in a group line before "... and N more"


def subset_note(rec: dict) -> str:
    """`` (30 of 120 images)`` where the AP was computed on a subset, else ``""``."""
    subset = rec.get("subset")
    return f" ({subset})" if subset and subset != "speed only" else ""


def published_note(rec: dict, key: str, protocol: str) -> str:
    pub = ((rec.get("describe") or {}).get("published") or {}).get(key)
    return f" (published {pub:.1f} on full val2017)" if pub is not None and protocol == "coco" else ""


def unit_line(det: str, rec: dict, protocol: str) -> str:
    """One console line per unit: AP beside the published figure for real weights (and the subset
    it was computed on), speed only for random ones, loud flags for degenerate predictions or
    unreadable images."""
    summary = rec.get("speed_summary") or {}
    line = f"{det:<36} {rec['status']:<6} {summary.get('latency_p50_ms') or 0:8.1f} ms p50"
    if rec["status"] != "ok":
        return line + f"  error: {(rec.get('error') or '')[:120]}"
    if not rec.get("accuracy_meaningful", True):
        return line + "  [random weights: speed only, no AP]"
    m = rec.get("metrics_summary") or {}
    line += f"  AP {pts(m.get('AP', m.get('mAP')))}{subset_note(rec)}{published_note(rec, 'box_map', protocol)}"
    if rec.get("metrics_segm_summary"):
        line += f"  mask AP {pts(rec['metrics_segm_summary'].get('AP'))}{published_note(rec, 'mask_map', protocol)}"
    if rec.get("degenerate"):
        line += f"  DEGENERATE: {'; '.join(rec['degenerate'])}"
    if rec.get("degraded"):
        line += f"  DEGRADED: {rec['degraded']}"
    return line


def group_line(what: str, why: str, names: list[str], hint: str = "") -> str:
    """``  not run, needs --weights model.onnx: 7 detectors: onnx, onnx_yolov8, ... and 1 more (hint)``."""
    shown = ", ".join(names[:NAMES_SHOWN]) + (f" ... and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")
    return f"  {what}, {why}: {len(names)} detector{'s' if len(names) != 1 else ''}: {shown}" + (f" ({hint})" if hint else "")


def recap(records: list[tuple[str, str, dict]], left_out: list[dict], unavailable: list[dict], report: Path | None) -> str:
    """The closing lines of ``bench all``. ``records``: (dataset, protocol, record) of every unit
    that ran; ``left_out``: units the speed budget left out; ``unavailable``: detectors that could
    not run here; ``report``: the HTML report, or None."""
    scored = [(d, p, r) for d, p, r in records if r["status"] == "ok" and r.get("accuracy_meaningful")]
    timed = [r for _, _, r in records if r["status"] == "ok" and not r.get("accuracy_meaningful")]
    failed = [r for _, _, r in records if r["status"] != "ok"]
    lines = [f"recap: {len(scored)} scored, {len(timed)} timed only (random weights, no AP), {len(left_out)} left out by the "
             f"speed budget, {len(unavailable)} unavailable here, {len(failed)} failed"]  # fmt: skip
    for dataset, protocol, r in scored:
        m = r.get("metrics_summary") or {}
        lines.append(f"  {r['detector']:<28} {dataset:<20} AP {pts(m.get('AP', m.get('mAP')), width=5)}{subset_note(r)}"
                     f"{published_note(r, 'box_map', protocol)}")  # fmt: skip
    for r in failed:
        lines.append(f"  {r['detector']:<28} failed: {(r.get('error') or '')[:100]}")
    if report is not None:
        lines.append(f"report: {Path(report).resolve().as_uri()}")
    return "\n".join(lines)
