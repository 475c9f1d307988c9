"""The CI regression gate: compare a run with a stored baseline.

Accuracy: absolute tolerance per metric (default 0.5 AP points); mask AP (``mask_AP``, ...) is
gated like box AP where a unit scored masks. Speed: noise-aware. Each run
times a fixed reference workload in the same process (``reference_workload``); latencies are
compared divided by it, so a uniformly slower machine is not a regression; relative tolerance
(default 10 %). A unit missing from the run, or failed, is a regression; so is a run unit the
baseline lacks, or a metric the run has and the baseline lacks. A baseline that could pass by
accident (no units, non-finite or mistyped values) is refused with :class:`InputError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bench.errors import InputError
from bench.fmt import pts
from bench.jsonio import dump_json, load_json
from bench.store import load_records

BASELINE_SCHEMA = "detbench.baseline/1"
GATED = ("AP", "AP50", "AP75", "mAP", "APr", "APc", "APf")


def unit_name(rec: dict) -> str:
    return f"{rec['dataset']}/{rec['detector']}"


def _show(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def unit_labels(records: list[dict], run: Path | str = "run") -> list[str]:
    """Each record's gate label: ``dataset/detector``, and where several records share that (the
    same pair run with different settings, e.g. after ``--resume`` with changed settings) the
    settings that tell them apart: ``dataset/detector[max_images=5]``. Records that nothing tells
    apart raise :class:`InputError` listing their folders and settings: the gate never picks one."""
    labels = [unit_name(r) for r in records]
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    for name, idx in groups.items():
        if len(idx) < 2:
            continue
        settings = [records[i].get("settings") if isinstance(records[i].get("settings"), dict) else {} for i in idx]
        keys = sorted(set().union(*settings))
        differ = [k for k in keys if len({_show(s.get(k, "<unset>")) for s in settings}) > 1]
        for i, s in zip(idx, settings):
            shown = ", ".join(f"{k}={_show(s.get(k, '<unset>'))}" for k in differ)
            labels[i] = f"{name}[{shown}]" if differ else name
        if len({labels[i] for i in idx}) < len(idx):
            listed = "; ".join(f"{records[i].get('unit', '?')}: settings {_show(records[i].get('settings'))}" for i in idx)
            raise InputError(str(run), name, None, f"{len(idx)} units share this label and no setting tells them apart ({listed}); remove all but one")
    return labels


def make_baseline(run: Path) -> dict:
    manifest = load_json(Path(run) / "run.json")
    ref = manifest["reference_ms"]
    units = {}
    records = load_records(run)
    for label, rec in zip(unit_labels(records, run), records):
        metrics = (rec.get("metrics") or {}).get("metrics") or {}
        mask = (rec.get("metrics_segm") or {}).get("metrics") or {}  # mask AP, where scored: gated as mask_AP, ...
        p50 = (rec.get("speed_summary") or {}).get("latency_p50_ms")
        units[label] = {
            "status": rec["status"], "metrics": {**{k: v for k, v in metrics.items() if k in GATED},
                                                 **{f"mask_{k}": v for k, v in mask.items() if k in GATED}},
            "latency_p50_ms": p50, "normalized_latency": p50 / ref if p50 else None,
            "accuracy_meaningful": rec.get("accuracy_meaningful"),
            "degenerate": list(rec.get("degenerate") or []) if rec.get("accuracy_meaningful") else [],
            "images": ((rec.get("metrics") or {}).get("counts") or {}).get("images"), "subset": rec.get("subset"),
        }  # fmt: skip
    return {"schema": BASELINE_SCHEMA, "run": manifest["run_id"], "reference_ms": ref, "units": units}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _bad_number(v, lo: float, hi: float = math.inf, lo_open: bool = False) -> str | None:
    """Why ``v`` is not an acceptable number (None when it is)."""
    if not _is_number(v):
        return f"expected a number, got {type(v).__name__} {v!r}"
    if not math.isfinite(v):
        return f"{v!r} is not a finite number"
    if v < lo or (lo_open and v == lo) or v > hi:
        return f"{v!r} is out of range ({'(' if lo_open else '['}{lo}, {hi}])"
    return None


def validate_baseline(baseline, source: str = "baseline") -> dict:
    """Check a baseline's structure and values; anything that could let the gate pass by accident
    (no units, non-finite or mistyped values, missing fields, a unit that gates nothing) raises
    :class:`InputError` naming ``source``, the unit and the field."""

    def fail(record, field, message):
        raise InputError(source, record, field, message)

    if not isinstance(baseline, dict):
        fail(None, None, f"a baseline is a JSON object, got {type(baseline).__name__}")
    if baseline.get("schema") != BASELINE_SCHEMA:
        fail(None, "schema", f"expected {BASELINE_SCHEMA!r}, got {baseline.get('schema')!r}")
    if "reference_ms" not in baseline:
        fail(None, "reference_ms", "missing")
    if (why := _bad_number(baseline["reference_ms"], 0.0, lo_open=True)) is not None:
        fail(None, "reference_ms", why)
    units = baseline.get("units")
    if not isinstance(units, dict):
        fail(None, "units", f"expected an object of units, got {type(units).__name__}")
    if not units:
        fail(None, "units", "no units: a baseline that gates nothing would pass any run")
    for name, unit in units.items():
        where = f"units[{name!r}]"
        if not isinstance(unit, dict):
            fail(where, None, f"expected an object, got {type(unit).__name__}")
        for field in ("status", "metrics", "latency_p50_ms", "normalized_latency"):
            if field not in unit:
                fail(where, field, "missing (null is the explicit 'not measured')")
        if not isinstance(unit["status"], str):
            fail(where, "status", f"expected a string, got {type(unit['status']).__name__} {unit['status']!r}")
        if not isinstance(unit["metrics"], dict):
            fail(where, "metrics", f"expected an object, got {type(unit['metrics']).__name__}")
        for metric, v in unit["metrics"].items():
            if v is not None and (why := _bad_number(v, 0.0, 1.0)) is not None:
                fail(where, f"metrics.{metric}", why)
        for field in ("latency_p50_ms", "normalized_latency"):
            v = unit[field]
            if v is not None and (why := _bad_number(v, 0.0, lo_open=True)) is not None:
                fail(where, field, why)
        if (unit["latency_p50_ms"] is None) != (unit["normalized_latency"] is None):
            fail(where, "normalized_latency", "latency_p50_ms and normalized_latency must both be set or both be null")
        if unit.get("images") is not None and (why := _bad_number(unit["images"], 0.0)) is not None:
            fail(where, "images", why)
        if unit.get("subset") is not None and not isinstance(unit["subset"], str):
            fail(where, "subset", f"expected a string or null, got {type(unit['subset']).__name__} {unit['subset']!r}")
        if unit.get("accuracy_meaningful") not in (None, True, False):
            fail(where, "accuracy_meaningful", f"expected true, false or null, got {unit['accuracy_meaningful']!r}")
        measured = any(v is not None for v in unit["metrics"].values()) or unit["normalized_latency"] is not None
        if unit["status"] == "ok" and not measured:
            fail(where, None, "an ok unit with no metric and no latency gates nothing")
    return baseline


@dataclass(frozen=True)
class Row:
    unit: str
    metric: str
    baseline: float | None
    current: float | None
    delta: str
    ok: bool


def _current_value(v) -> tuple[float | None, str | None]:
    """A run's value and, if it is not a finite number, why."""
    if v is None:
        return None, None
    return (v, None) if _is_number(v) and math.isfinite(v) else (None, f"invalid {v!r}")


def image_set_mismatch(base: dict, cur: dict) -> str | None:
    """Why two units scored different image sets (their number of images scored, or their subset,
    e.g. ``--max-images``), or None; a baseline without these fields (older) is not checked."""
    bi, ci = base.get("images"), cur.get("images")
    if bi is not None and ci is not None and bi != ci:
        return f"image sets differ: {bi} images in the baseline, {ci} in the run (subset {base.get('subset') or 'all'} vs {cur.get('subset') or 'all'})"
    if "subset" in base and "subset" in cur and base["subset"] != cur["subset"]:
        return f"image sets differ: subset {base['subset'] or 'all'} in the baseline, {cur['subset'] or 'all'} in the run"
    return None


def compare(baseline: dict | str | Path, run: Path, ap_tol: float = 0.005, speed_tol: float = 0.10) -> list[Row]:
    """Rows comparing ``run`` with ``baseline`` (a baseline dict, or the path of a baseline file).

    The baseline is validated first (:func:`validate_baseline`, :class:`InputError` on a bad one).
    A failing row is listed for: a baseline unit missing from the run, failed, or recorded as not
    ok in the baseline; a run unit the baseline lacks; a metric the run has and the baseline lacks;
    a latency the baseline measured and the run did not; a non-finite value in the run; a unit
    with real weights whose predictions are flagged degenerate or implausible; a unit that scored a different image set (metric "images": AP on other images is no comparison)."""
    source = "baseline"
    if isinstance(baseline, (str, Path)):
        source, baseline = str(baseline), load_json(baseline)
    validate_baseline(baseline, source)
    current = make_baseline(run)
    rows = []
    for name, base in baseline["units"].items():
        cur = current["units"].get(name)
        if cur is None or cur["status"] != "ok" or base["status"] != "ok":
            delta = "missing" if cur is None else (cur["status"] if cur["status"] != "ok" else f"baseline {base['status']}")
            rows.append(Row(name, "status", None, None, delta, False))
            continue
        if (why := image_set_mismatch(base, cur)) is not None:
            rows.append(Row(name, "images", None, None, why, False))
            continue
        if cur["degenerate"]:  # flagged predictions (bench.run.sanity): their AP is no result to pass on
            rows.append(Row(name, "plausible", None, None, "DEGENERATE: " + "; ".join(cur["degenerate"])[:300], False))
        n = len(rows)
        for metric, b in base["metrics"].items():
            c, bad = _current_value(cur["metrics"].get(metric))
            if b is None and c is None and bad is None:
                continue
            ok = c is not None and b is not None and c >= b - ap_tol
            rows.append(Row(name, metric, b, c, bad or ("-" if c is None or b is None else f"{pts(c - b, 2, signed=True)} pts"), ok))
        for metric, v in cur["metrics"].items():
            if metric not in base["metrics"] and v is not None:
                c, bad = _current_value(v)
                rows.append(Row(name, metric, None, c, bad or "not in baseline", False))
        b = base["normalized_latency"]
        if b is not None:  # null: not measured in the baseline (accuracy-only units)
            c, bad = _current_value(cur.get("normalized_latency"))
            if c is None:
                rows.append(Row(name, "latency/ref", b, None, bad or "not measured", False))
            else:
                rows.append(Row(name, "latency/ref", b, c, f"{100 * (c / b - 1):+.1f} %", c <= b * (1 + speed_tol)))
        if len(rows) == n:
            rows.append(Row(name, "status", None, None, "nothing compared", False))
    for name, cur in current["units"].items():
        if name not in baseline["units"]:
            rows.append(Row(name, "status", None, None, "not in baseline", False))
    return rows


def format_rows(rows: list[Row]) -> str:
    w = max([len(r.unit) for r in rows] + [4])
    lines = [f"{'unit':<{w}}  {'metric':<11} {'baseline':>9} {'current':>9}  {'delta':>11}  result"]
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:9.4f}"  # noqa: E731
        lines.append(f"{r.unit:<{w}}  {r.metric:<11} {fmt(r.baseline):>9} {fmt(r.current):>9}  {r.delta:>11}  {'ok' if r.ok else 'REGRESSION'}")
    return "\n".join(lines)


def write_baseline(run: Path, out: Path) -> dict:
    """Write ``run``'s baseline to ``out``; a run that would make an invalid baseline (no units,
    a non-finite value) raises :class:`InputError` naming the run and writes nothing."""
    base = make_baseline(run)
    validate_baseline(base, str(run))
    dump_json(out, base)
    return base
