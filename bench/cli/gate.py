"""The gate's verdict on the console, shared by ``bench check`` and ``bench report --compare``.

The rows come from :func:`bench.gate.check.compare` (and :mod:`bench.gate.statistical`); this
module only shows them, under the console's decimal policy (:mod:`bench.fmt`): metric values in
percentage points with one decimal, differences in points with two decimals and a sign (a 0.5-point
tolerance needs the second decimal), latency as a multiple of the reference workload, two decimals.
"""

from __future__ import annotations

from dataclasses import asdict

from bench.fmt import pts


def _value(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}x" if metric == "latency/ref" else pts(v)


def format_rows(rows) -> str:
    """One line per row: unit, metric, baseline, current, delta, ok / REGRESSION."""
    w = max([len(r.unit) for r in rows] + [4])
    lines = [f"{'unit':<{w}}  {'metric':<11} {'baseline':>9} {'current':>9}  {'delta':>11}  result"]
    for r in rows:
        lines.append(f"{r.unit:<{w}}  {r.metric:<11} {_value(r.metric, r.baseline):>9} {_value(r.metric, r.current):>9}  "
                     f"{r.delta:>11}  {'ok' if r.ok else 'REGRESSION'}")  # fmt: skip
    return "\n".join(lines)


def verdict(rows) -> int:
    """Print the rows and the verdict; the exit code: 1 on a regression, else 0."""
    print(format_rows(rows))
    bad = [r for r in rows if not r.ok]
    print(f"{len(bad)} regression(s)" if bad else "no regressions")
    return 1 if bad else 0


def rows_json(rows, args) -> dict:
    """``bench check --json``: the rows (values as fractions, as stored), the verdict, the settings."""
    bad = sum(1 for r in rows if not r.ok)
    settings = {"baseline": args.baseline, "run": args.run, "ap_tol_points": args.ap_tol, "speed_tol": args.speed_tol,
                "significance": args.significance}  # fmt: skip
    return {"ok": bad == 0, "regressions": bad, "settings": settings, "rows": [asdict(r) for r in rows]}
