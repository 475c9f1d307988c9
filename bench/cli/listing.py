"""``bench list``: the registered detectors, those that can run here first, in lines of at most
100 columns (``--json``: the same rows as JSON on stdout)."""

from __future__ import annotations

import textwrap

WIDTH = 100
STATUS_ORDER = ("ready", "downloadable", "needs-weights", "unavailable")  # then missing:<packages>


def _rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def list_rows() -> list[dict]:
    """One row per registered detector: detector, family, weights, status, detail; ready ones
    first, then downloadable, needs a file, unavailable, missing packages (registry order within)."""
    from detectors.availability import availability, weights_id
    from detectors.registry import REGISTRY, family

    rows = []
    for name in REGISTRY:
        status, detail = availability(name)
        rows.append({"detector": name, "family": family(name), "weights": weights_id(name), "status": status, "detail": detail})
    return sorted(rows, key=lambda r: _rank(r["status"]))  # stable: registry order within a status


def format_list(rows: list[dict]) -> str:
    """Rows grouped under one header per (status, family, detail): said once for the group."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        detail = r["detail"].replace(r["weights"], "the weights file") if r["weights"] in r["detail"] else r["detail"]
        groups.setdefault((r["status"], r["family"], detail), []).append(r)
    w0 = max(len(r["detector"]) for r in rows)
    ready = sum(r["status"] == "ready" for r in rows)
    lines = [f"{len(rows)} registered detectors, {ready} ready to run here (python -m bench run --detector NAME)"]
    for (status, fam, detail), members in groups.items():
        lines += textwrap.wrap(f"{status} ({fam}): {detail}", WIDTH, subsequent_indent="    ")
        for r in members:
            line = f"  {r['detector']:<{w0}}  {r['weights']}"
            lines.append(line if len(line) <= WIDTH else f"  {r['detector']}\n{'':<{w0 + 4}}{r['weights']}")
    return "\n".join(lines)
