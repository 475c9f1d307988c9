"""The CI regression gate: compare a run with a stored baseline.

Accuracy: absolute tolerance per metric (default 0.5 AP points); mask AP (``mask_AP``, ...) is
gated like box AP where a unit scored masks. Speed (:mod:`bench.gate.speed`): the single-stream p50
with its 95 % interval; a regression needs the p50 more than the tolerance (default 10 %) above the
baseline's AND the two intervals apart; a side timed on a busy machine, on other hardware, or with
too few samples is listed as not judged. A unit that failed (or was not ok in the baseline) is a
regression; a unit on one side only is listed as ``added`` / ``removed``, not as a regression; a
metric the run has and the baseline lacks is one. A baseline that could pass by accident (no units,
non-finite or mistyped values) is refused with :class:`InputError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bench.errors import InputError
from bench.fmt import pts
from bench.gate.speed import NOT_JUDGED, judge, unit_latency, validate_latency
from bench.jsonio import dump_json, load_json
from bench.store import load_records

BASELINE_SCHEMA = "detbench.baseline/2"  # /1 normalised latency by the reference workload (it inverted verdicts under load)
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
    ref = manifest.get("reference_ms")  # recorded for a reader; the gate does not divide by it
    units = {}
    records = load_records(run)
    for label, rec in zip(unit_labels(records, run), records):
        metrics = (rec.get("metrics") or {}).get("metrics") or {}
        mask = (rec.get("metrics_segm") or {}).get("metrics") or {}  # mask AP, where scored: gated as mask_AP, ...
        latency = unit_latency(rec)
        units[label] = {
            "status": rec["status"], "metrics": {**{k: v for k, v in metrics.items() if k in GATED},
                                                 **{f"mask_{k}": v for k, v in mask.items() if k in GATED}},
            "latency_p50_ms": latency["p50_ms"] if latency else None, "latency": latency,
            "accuracy_meaningful": rec.get("accuracy_meaningful"),
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
        old = " (made before the interval-based speed gate: re-make it with bench baseline)" if baseline.get("schema") == "detbench.baseline/1" else ""
        fail(None, "schema", f"expected {BASELINE_SCHEMA!r}, got {baseline.get('schema')!r}{old}")
    if "reference_ms" not in baseline:
        fail(None, "reference_ms", "missing")
    if baseline["reference_ms"] is not None and (why := _bad_number(baseline["reference_ms"], 0.0, lo_open=True)) is not None:
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
        for field in ("status", "metrics", "latency_p50_ms", "latency"):
            if field not in unit:
                fail(where, field, "missing (null is the explicit 'not measured')")
        if not isinstance(unit["status"], str):
            fail(where, "status", f"expected a string, got {type(unit['status']).__name__} {unit['status']!r}")
        if not isinstance(unit["metrics"], dict):
            fail(where, "metrics", f"expected an object, got {type(unit['metrics']).__name__}")
        for metric, v in unit["metrics"].items():
            if v is not None and (why := _bad_number(v, 0.0, 1.0)) is not None:
                fail(where, f"metrics.{metric}", why)
        v = unit["latency_p50_ms"]
        if v is not None and (why := _bad_number(v, 0.0, lo_open=True)) is not None:
            fail(where, "latency_p50_ms", why)
        if unit["latency"] is not None:
            validate_latency(unit["latency"], lambda field, message: fail(where, field, message))
        if (unit["latency_p50_ms"] is None) != (unit["latency"] is None) or (v is not None and unit["latency"]["p50_ms"] != v):
            fail(where, "latency", "latency_p50_ms and latency.p50_ms must both be set (and equal) or both be null")
        if unit.get("images") is not None and (why := _bad_number(unit["images"], 0.0)) is not None:
            fail(where, "images", why)
        if unit.get("subset") is not None and not isinstance(unit["subset"], str):
            fail(where, "subset", f"expected a string or null, got {type(unit['subset']).__name__} {unit['subset']!r}")
        if unit.get("accuracy_meaningful") not in (None, True, False):
            fail(where, "accuracy_meaningful", f"expected true, false or null, got {unit['accuracy_meaningful']!r}")
        measured = any(v is not None for v in unit["metrics"].values()) or unit["latency"] is not None
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
    verdict: str | None = None  # shown instead of ok / REGRESSION: added, removed, faster, machine busy, not comparable, ...


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
    A failing row is listed for: a unit failed in the run, or recorded as not ok in the baseline; a
    metric the run has and the baseline lacks; a latency the baseline measured and the run did not; a
    non-finite value in the run; a unit that scored a different image set (metric "images": AP on
    other images is no comparison); a latency regression (:func:`bench.gate.speed.judge`). A unit on
    one side only is an ``added`` / ``removed`` row that does not fail."""
    source = "baseline"
    if isinstance(baseline, (str, Path)):
        source, baseline = str(baseline), load_json(baseline)
    validate_baseline(baseline, source)
    current = make_baseline(run)
    rows = []
    for name, base in baseline["units"].items():
        cur = current["units"].get(name)
        if cur is None:
            rows.append(Row(name, "status", None, None, "not in this run", True, "removed"))
            continue
        if cur["status"] != "ok" or base["status"] != "ok":
            rows.append(Row(name, "status", None, None, cur["status"] if cur["status"] != "ok" else f"baseline {base['status']}", False))
            continue
        if (why := image_set_mismatch(base, cur)) is not None:
            rows.append(Row(name, "images", None, None, why, False))
            continue
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
        if base["latency"] is not None:  # null: not measured in the baseline (accuracy-only units)
            rows.append(_speed_row(name, base["latency"], cur.get("latency"), speed_tol))
        if len(rows) == n:
            rows.append(Row(name, "status", None, None, "nothing compared", False))
    for name, cur in current["units"].items():
        if name not in baseline["units"]:
            rows.append(Row(name, "status", None, None, "not in baseline", True, "added"))
    return rows


SPEED_METRIC = "latency_p50_ms"


def _speed_row(name: str, base: dict, cur: dict | None, tol: float) -> Row:
    """The latency row of a unit the baseline timed."""
    c, bad = _current_value((cur or {}).get("p50_ms"))
    if c is None or c <= 0:
        return Row(name, SPEED_METRIC, base["p50_ms"], None, bad or ("not measured" if c is None else f"invalid {c!r}"), False)
    delta, verdict = judge(base, cur, tol)
    return Row(name, SPEED_METRIC, base["p50_ms"], c, delta, verdict != "REGRESSION", None if verdict == "ok" else verdict)


def summary_line(rows: list[Row]) -> str:
    """The last line of ``bench check``: regressions, and what was listed but not judged."""
    bad = sum(not r.ok for r in rows)
    counts = {v: sum(r.verdict == v for r in rows) for v in ("added", "removed", *NOT_JUDGED)}
    extra = [f"{n} unit(s) {v}" if v in ("added", "removed") else f"{n} speed row(s) not judged: {v}" for v, n in counts.items() if n]
    return (f"{bad} regression(s)" if bad else "no regressions") + ("; " + "; ".join(extra) if extra else "")


def format_rows(rows: list[Row]) -> str:
    w = max([len(r.unit) for r in rows] + [4])
    lines = [f"{'unit':<{w}}  {'metric':<14} {'baseline':>9} {'current':>9}  {'delta':>11}  result"]
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:9.4f}"  # noqa: E731
        result = r.verdict or ("ok" if r.ok else "REGRESSION")
        lines.append(f"{r.unit:<{w}}  {r.metric:<14} {fmt(r.baseline):>9} {fmt(r.current):>9}  {r.delta:>11}  {result}")
    return "\n".join(lines)


def write_baseline(run: Path, out: Path) -> dict:
    """Write ``run``'s baseline to ``out``; a run that would make an invalid baseline (no units,
    a non-finite value) raises :class:`InputError` naming the run and writes nothing."""
    base = make_baseline(run)
    validate_baseline(base, str(run))
    dump_json(out, base)
    return base
