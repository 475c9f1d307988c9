"""The statistical mode of the CI gate (``bench check --significance A --min-effect E``).

A baseline made with ``bench baseline --keep-predictions`` carries, per unit, a copy of the
baseline run's ``predictions.json.gz`` (next to the baseline file, in ``<baseline stem>.predictions/``,
with its sha256, the dataset name, the number of images scored and the protocol). ``bench check``
then scores both prediction files on the same images and runs a paired bootstrap
(:func:`bench.analysis.paired.paired_bootstrap`): an accuracy metric fails only when it dropped by
more than the minimum effect AND the drop is significant (two-sided p < A). Units whose baseline
has no predictions keep the absolute tolerance, and the table says so.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from bench.analysis.scope import scored_inputs
from bench.errors import InputError
from bench.fmt import pts
from bench.gate.check import SPEED_METRIC, Row, make_baseline, unit_labels, validate_baseline
from bench.jsonio import dump_json, load_json
from bench.store import load_records, safe


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def keep_predictions(run: Path, baseline_path: Path) -> dict:
    """Copy each ok unit's predictions next to the baseline and reference them from it."""
    baseline_path = Path(baseline_path)
    base = load_json(baseline_path)
    folder = baseline_path.with_name(baseline_path.stem + ".predictions")
    folder.mkdir(parents=True, exist_ok=True)
    records = load_records(run)
    for label, rec in zip(unit_labels(records, run), records):
        src = Path(run) / rec["unit"] / "predictions.json.gz"
        metrics = rec.get("metrics") or {}
        if rec["status"] != "ok" or not src.exists() or label not in base["units"]:
            continue
        dst = folder / f"{safe(label)}.json.gz"
        shutil.copyfile(src, dst)
        base["units"][label]["predictions"] = {"file": str(dst.relative_to(baseline_path.parent)), "sha256": _sha256(dst),
                                               "dataset": rec["dataset"], "images": (metrics.get("counts") or {}).get("images"),
                                               "protocol": metrics.get("protocol")}  # fmt: skip
    validate_baseline(base, str(baseline_path))
    dump_json(baseline_path, base)
    return base


def _score(predictions: Path, dataset: str, images: int, protocol: str):
    from bench.data.catalog import load_dataset
    from bench.data.model import subset
    from bench.data.results import load_results
    from bench.metrics.core import evaluate
    from bench.protocols import get_protocol

    p = get_protocol(protocol)
    ds, _, _ = load_dataset(dataset)
    if p.category_groups is not None:  # as bench run: the first images of the scored subset (OV-COCO)
        from bench.metrics.groups import subset_categories

        ds = subset_categories(ds, p.category_groups)
    sub = subset(ds, range(images))
    det = load_results(predictions, sub)
    return scored_inputs(evaluate(sub, det, p), sub, det)[0]


def paired_unit(base_unit: dict, baseline_path: Path, run: Path, rec: dict, n: int, seed: int, confidence: float = 0.95) -> dict:
    """The paired bootstrap of one unit: ``{metric: {...}}`` (see ``paired_bootstrap``)."""
    from bench.analysis.paired import paired_bootstrap

    ref = base_unit["predictions"]
    path = Path(baseline_path).parent / ref["file"]
    where = f"units[{rec.get('unit')!r}].predictions"
    if not path.exists() or _sha256(path) != ref["sha256"]:
        raise InputError(str(baseline_path), where, "file", f"{path} is missing or does not match its sha256")
    counts = ((rec.get("metrics") or {}).get("counts") or {}).get("images")
    if counts != ref["images"] or rec["dataset"] != ref["dataset"]:
        raise InputError(str(baseline_path), where, "images", f"the run scored {counts} images of {rec['dataset']}, "
                         f"the baseline {ref['images']} of {ref['dataset']}: a paired test needs the same images")  # fmt: skip
    a = _score(path, ref["dataset"], ref["images"], ref["protocol"])
    _same_as_recorded(a, base_unit.get("metrics") or {}, path, str(baseline_path))
    current = Path(run) / rec["unit"] / "predictions.json.gz"
    b = _score(current, ref["dataset"], ref["images"], ref["protocol"])
    _same_as_recorded(b, (rec.get("metrics") or {}).get("metrics") or {}, current, str(Path(run) / rec["unit"] / "metrics.json"))
    return paired_bootstrap(a, b, n=n, confidence=confidence, seed=seed)


def _same_as_recorded(result, recorded: dict, predictions: Path, source: str, tol: float = 1e-9) -> None:
    """The re-scored predictions must give the AP recorded for them (``source``): otherwise the
    file is not the one the run scored (replaced, or from another run) and the test would be of
    other predictions."""
    for key in ("AP", "mAP"):
        got, want = result.metrics.get(key), recorded.get(key)
        if want is None or got is None:
            continue
        if abs(got - want) > tol:
            raise InputError(str(predictions), None, key, f"re-scored {key} {got:.6f} differs from the {want:.6f} recorded in "
                             f"{source}: these predictions are not the ones that run scored")  # fmt: skip


def statistical_rows(rows: list[Row], baseline_path: Path, run: Path, significance: float, min_effect: float,
                     n: int = 1000, seed: int = 0) -> list[Row]:  # fmt: skip
    """``rows`` (from :func:`bench.gate.check.compare`) with each accuracy row of a unit whose baseline
    kept its predictions decided by the paired test instead of the absolute tolerance."""
    from bench.analysis.paired import min_resamples

    if not 0.0 < significance < 1.0 or not 0.0 <= min_effect < float("inf"):
        raise ValueError(f"--significance must be in (0, 1) and --min-effect finite and >= 0, got {significance}, {min_effect}")
    if n < min_resamples(significance):
        raise ValueError(f"{n} resamples can never reach significance {significance}: at least {min_resamples(significance)}")
    base = load_json(baseline_path)
    records = load_records(run)
    by_label = dict(zip(unit_labels(records, run), records))
    gated = set(make_baseline(run)["units"])
    cache: dict[str, dict] = {}
    out = []
    for r in rows:
        bu = base["units"].get(r.unit) or {}
        if r.metric in ("status", SPEED_METRIC) or r.baseline is None or r.current is None or r.unit not in gated:
            out.append(r)
            continue
        if "predictions" not in bu:
            out.append(Row(r.unit, r.metric, r.baseline, r.current, f"{r.delta} (tolerance: no baseline predictions)", r.ok))
            continue
        if r.unit not in cache:
            cache[r.unit] = paired_unit(bu, baseline_path, run, by_label[r.unit], n, seed, 1.0 - significance)
        t = cache[r.unit].get(r.metric)
        if t is None or t["p_value"] is None:
            out.append(Row(r.unit, r.metric, r.baseline, r.current, f"{r.delta} (tolerance: no paired value)", r.ok))
            continue
        drop = -t["delta"]
        bad = drop > min_effect and t["p_value"] < significance
        lo, hi = t["ci"]
        verdict = "significant" if t["p_value"] < significance else "not significant"
        out.append(Row(r.unit, r.metric, t["a"], t["b"], f"{pts(t['delta'], 2, signed=True)} pts {1 - significance:.0%} [{pts(lo, 2, signed=True)}, {pts(hi, 2, signed=True)}] "
                       f"p={t['p_value']:.3f} {verdict}", not bad))  # fmt: skip
    return out

