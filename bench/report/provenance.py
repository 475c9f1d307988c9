"""The report's closing parts as tables: the environment (flattened key / value rows), the units
(settings as short ``key=value`` lines), and "Not run": every registered detector without a
record in the run, with why.

Why a detector did not run: ``skipped_units.json`` (written by ``bench all``: the speed budget,
or any reason it records) wins; for the others the reason is worked out when the report is
rendered (:mod:`detectors.availability`: a missing package, a weights file to pass) and says so,
since the machine rendering the report may differ from the one that ran.
"""

from __future__ import annotations

import json

MAX_CELL = 160  # characters of one value shown in a table cell; the full value is in the cell's title


def flatten(obj, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts as (dotted key, value text) rows; lists joined with ", "."""
    if isinstance(obj, dict):
        return [row for k, v in obj.items() for row in flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(obj, list):
        return [(prefix, ", ".join(json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in obj))]
    return [(prefix, "-" if obj is None else str(obj))]


def environment_rows(env: dict) -> list[dict]:
    """Rows ``{key, value, full}`` for the environment table (``value`` cut to MAX_CELL characters)."""
    return [{"key": k, "value": v if len(v) <= MAX_CELL else v[: MAX_CELL - 1] + "…", "full": v} for k, v in flatten(env or {})]


def settings_lines(settings: dict | None) -> list[str]:
    """A unit's settings as ``key=value`` lines, the unset ones (None, empty) left out."""
    return [f"{k}={json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in (settings or {}).items() if v not in (None, [], {}, "")]


def shared_settings(records: list[dict]) -> dict:
    """The settings every unit has with the same value (shown once above the units table)."""
    settings = [r.get("settings") or {} for r in records]
    if not settings:
        return {}
    return {k: v for k, v in settings[0].items() if all(k in s and s[k] == v for s in settings[1:])}


def unit_rows(records: list[dict]) -> list[dict]:
    """One row per unit for the provenance table: its settings other than the shared ones
    (:func:`shared_settings`), its notes (the page folds them)."""
    shared = shared_settings(records) if len(records) > 1 else {}
    rows = []
    for r in records:
        version = r.get("dataset_version") or {}
        version_text = ", ".join(f"{k}={v}" for k, v in version.items() if k != "source") if isinstance(version, dict) else str(version)
        own = {k: v for k, v in (r.get("settings") or {}).items() if k not in shared}
        rows.append({"unit": r.get("unit") or r["detector"], "status": r["status"], "error": r.get("error"), "weights": r.get("weights_used"),
                     "dataset_version": version_text, "dataset_source": version.get("source", "") if isinstance(version, dict) else "",
                     "settings": settings_lines(own), "notes": r.get("notes") or []})  # fmt: skip
    return rows


def _why_now(detector: str) -> str:
    """Why ``detector`` cannot run on this machine, from :mod:`detectors.availability`, or ""."""
    from detectors.availability import install_hint, missing_packages, needs_weights_file

    if needs_weights_file(detector):
        return "needs a weights file (it has no official weights): pass --weights model.onnx"
    missing = missing_packages(detector, pretrained=False)
    return f"lacks package{'s' if len(missing) > 1 else ''} {', '.join(missing)}: {install_hint(missing)}" if missing else ""


def not_run(manifest: dict, records: list[dict], skipped: list[dict]) -> list[dict]:
    """Rows ``{detector, dataset, why, checked}`` for every registered detector with no record on a
    dataset of the run. ``checked``: "run" (recorded by the run) or "report" (worked out now)."""
    from detectors.registry import REGISTRY

    datasets = list(dict.fromkeys([*(manifest.get("datasets") or []), *(r["dataset"] for r in records)]))
    ran = {(r["dataset"], r["detector"]) for r in records}
    recorded = {(s["dataset"], s["detector"]): s["why"] for s in skipped}
    requested = set(manifest.get("detectors") or REGISTRY)
    rows = [{"detector": s["detector"], "dataset": s["dataset"], "why": s["why"], "checked": "run"} for s in skipped]
    for ds in datasets:
        for det in REGISTRY:
            if (ds, det) in ran or (ds, det) in recorded:
                continue
            now = _why_now(det)
            if det not in requested:
                why = "not requested in this run (--detectors)" + (f"; on this machine it also {now}" if now else "")
            else:
                why = now or "no record in the run folder (interrupted, or left out by an option of the run)"
            rows.append({"detector": det, "dataset": ds, "why": why, "checked": "report"})
    return rows
