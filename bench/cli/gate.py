"""The gate's verdict on the console, shared by ``bench check`` and ``bench report --compare``.

The rows come from :func:`bench.gate.check.compare` (and :mod:`bench.gate.statistical`); this
module only shows them, under the console's decimal policy (:mod:`bench.fmt`): metric values in
percentage points with one decimal, differences in points with two decimals and a sign (a 0.5-point
tolerance needs the second decimal), latency in milliseconds with two decimals. A row that was listed
but not judged (a unit added or removed, a speed row taken on a busy machine) shows why instead of ok.
"""

from __future__ import annotations

from dataclasses import asdict

from bench.fmt import pts
from bench.gate.check import summary_line


def _value(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if metric.endswith("_ms") else pts(v)


def format_rows(rows) -> str:
    """One line per row: unit, metric, baseline, current, delta, ok / REGRESSION."""
    w = max([len(r.unit) for r in rows] + [4])
    lines = [f"{'unit':<{w}}  {'metric':<14} {'baseline':>9} {'current':>9}  {'delta':>11}  result"]
    for r in rows:
        result = r.verdict or ("ok" if r.ok else "REGRESSION")
        lines.append(f"{r.unit:<{w}}  {r.metric:<14} {_value(r.metric, r.baseline):>9} {_value(r.metric, r.current):>9}  "
                     f"{r.delta:>11}  {result}")  # fmt: skip
    return "\n".join(lines)


def verdict(rows) -> int:
    """Print the rows and the verdict; the exit code: 1 on a regression, else 0."""
    print(format_rows(rows))
    print(summary_line(rows))
    return 1 if any(not r.ok for r in rows) else 0


def rows_json(rows, args) -> dict:
    """``bench check --json``: the rows (values as fractions, as stored), the verdict, the settings."""
    bad = sum(1 for r in rows if not r.ok)
    settings = {"baseline": args.baseline, "run": args.run, "ap_tol_points": args.ap_tol, "speed_tol": args.speed_tol,
                "significance": args.significance}  # fmt: skip
    return {"ok": bad == 0, "regressions": bad, "settings": settings, "rows": [asdict(r) for r in rows]}
