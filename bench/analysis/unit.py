"""The analyses of one scored result, and the per-unit hook of ``bench run`` / ``bench all``.

:func:`unit_analysis` is the one call the run engine makes after scoring a unit: the linter's
findings and the explain table (every unit), bootstrap intervals, TIDE, the confusion matrix and
operating points (units whose accuracy means something). :func:`analyse` serves ``bench eval``.

May import: bench.metrics, bench.data, bench.protocols, bench.errors (never the CLI or the run).
"""

from __future__ import annotations

from bench.analysis.defaults import CONFIDENCE as DEFAULT_CONFIDENCE
from bench.analysis.defaults import RESAMPLES as DEFAULT_RESAMPLES
from bench.analysis.defaults import SEED as DEFAULT_SEED


def unit_analysis(ds, det, result, meaningful: bool, log=print) -> dict:
    """What a unit's record stores: ``lint`` and ``explain`` always, and ``analysis`` (bootstrap
    intervals, TIDE, confusion, best F1) where ``meaningful`` (the unit's accuracy is real)."""
    out = lint_and_explain(ds, det, result, log)
    if meaningful:
        out["analysis"] = stored_analysis(result, ds, det)
    return out


def lint_and_explain(ds, det, result, log=print) -> dict:
    """``bench run`` / ``bench all``: the linter's findings (logged) and, on COCO/LVIS data, the
    explain table, for the unit's record (``record["lint"]``, ``record["explain"]``)."""
    from bench.analysis.lint import lint
    from bench.analysis.scope import scored_inputs

    result, ds, det = scored_inputs(result, ds, det)
    findings = lint(ds, det, result.protocol, result)
    for f in findings:
        log(f"    lint [{f['code']}]: {f['message']}")
    from bench.analysis.explain import explain

    report = explain(ds, det) if ds.format in ("coco", "lvis") and len(det) else None
    return {"lint": findings, "explain": report}


def stored_analysis(result, ds, det, n: int = DEFAULT_RESAMPLES) -> dict:
    """What ``bench run`` / ``bench all`` store per unit (record["analysis"]): bootstrap
    intervals, TIDE, the confusion matrix and operating points (best F1)."""
    import time

    t0 = time.perf_counter()
    try:
        out = analyse(result, ds, det, bootstrap_n=n, tide=True, confusion=True, best_f1=True)
    except Exception as e:  # an analysis failure is recorded; the unit's AP stands
        return {"error": f"{type(e).__name__}: {e}"[:500]}
    out["seconds"] = time.perf_counter() - t0
    return out


def analyse(result, ds=None, det=None, *, bootstrap_n: int | None = None, confidence: float = DEFAULT_CONFIDENCE,
            seed: int = DEFAULT_SEED, tide: bool = False, confusion: bool = False, confusion_iou: float = 0.5,
            confusion_score: float = 0.25, operating_point: float | None = None, best_f1: bool = False) -> dict:  # fmt: skip
    """The requested analyses of one scored result, JSON-ready (keys ci, ci_per_class, bootstrap,
    tide, confusion, operating_points). ``ds``/``det``, the inputs ``result`` was scored on, are
    needed for TIDE, the confusion matrix and any protocol with category groups: every analysis
    works on the scored subset (:func:`bench.analysis.scope.scored_inputs`)."""
    from bench.analysis.scope import scored_inputs

    result, ds, det = scored_inputs(result, ds, det)
    out: dict = {}
    if bootstrap_n:
        from bench.analysis.bootstrap import bootstrap

        if not result.counts["images"]:
            from bench.errors import InputError

            raise InputError(None if ds is None else ds.source, None, None, f"--bootstrap: protocol {result.protocol.name!r} "
                             "scores no image of this ground truth (none holds its categories): nothing to resample")  # fmt: skip

        b = bootstrap(result, bootstrap_n, confidence, seed)
        d = b.to_dict()
        out["ci"], out["ci_per_class"] = d.pop("ci"), d.pop("per_class")
        out["bootstrap"] = d
    if tide:
        from bench.analysis.tide import tide as run_tide

        out["tide"] = run_tide(ds, det, result.protocol).to_dict()
    if confusion:
        from bench.analysis.confusion import confusion_matrix

        out["confusion"] = confusion_matrix(ds, det, result.protocol, confusion_iou, confusion_score).to_dict()
    if operating_point is not None or best_f1:
        from bench.analysis.operating_points import operating_points

        out["operating_points"] = operating_points(result, operating_point)
    return out
