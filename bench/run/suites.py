"""Dataset suites (ODinW-13 / ODinW-35 style): datasets scored separately, summarised as the
mean and the median of one metric, every member's result kept.

Suites are inert data under ``suites:`` in ``datasets.yaml``: ``members`` (dataset entry names),
``metric`` (default AP) and ``source``. ``bench download SUITE`` fetches each member like any
dataset; ``bench run --dataset SUITE`` runs one unit per member in one run folder and writes
``suite-<name>.json``:

``{"suite", "metric", "source", "members": {name: {"status", "value", "unit"}}, "scored", "of",
"complete", "mean", "median", "partial_mean", "partial_median"}``

``mean`` / ``median`` are over every member and only when every member was scored (``complete``);
otherwise they are None and ``partial_*`` hold the figures over the scored members, so a suite
mean missing a member never reads as the suite's.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable

from bench.data.catalog import DEFAULT_YAML
from bench.errors import InputError
from bench.fmt import pts


def suites(path: Path = DEFAULT_YAML) -> dict[str, dict]:
    """Every suite of ``datasets.yaml``, checked: members are dataset entries, metric a string."""
    import yaml

    from bench.data.catalog import yaml_entries

    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    raw = data.get("suites") or {}
    if not isinstance(raw, dict):
        raise InputError(str(path), "suites", None, "expected a mapping of suite names")
    entries = yaml_entries(path)
    out = {}
    for name, s in raw.items():
        if name in entries:
            raise InputError(str(path), f"suites.{name}", None, "a suite cannot share its name with a dataset")
        members = (s or {}).get("members")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise InputError(str(path), f"suites.{name}", "members", "a non-empty list of dataset names is required")
        unknown = [m for m in members if m not in entries]
        if unknown or len(set(members)) != len(members):
            raise InputError(str(path), f"suites.{name}", "members", f"unknown or repeated datasets: {', '.join(unknown) or 'repeated'}")
        metric = s.get("metric", "AP")
        if not isinstance(metric, str):
            raise InputError(str(path), f"suites.{name}", "metric", "a metric name is required (e.g. AP)")
        out[name] = {"members": members, "metric": metric, "source": s.get("source", "")}
    return out


def is_suite(name: str, path: Path = DEFAULT_YAML) -> bool:
    return name in suites(path)


def summarise(name: str, suite: dict, results: dict[str, dict]) -> dict:
    """``results[member]``: {"status", "value" (the metric, or None), "unit"}; missing members count as not scored."""
    members = {m: results.get(m, {"status": "not run", "value": None, "unit": None}) for m in suite["members"]}
    values = [r["value"] for r in members.values() if r.get("status") == "ok" and r.get("value") is not None]
    complete = len(values) == len(members)
    mean = statistics.fmean(values) if values else None
    median = statistics.median(values) if values else None
    return {"suite": name, "metric": suite["metric"], "source": suite.get("source", ""), "members": members, "scored": len(values),
            "of": len(members), "complete": complete, "mean": mean if complete else None, "median": median if complete else None,
            "partial_mean": mean, "partial_median": median}  # fmt: skip


def download_suite(name: str, cache: Path, accept_unverified: bool, path: Path = DEFAULT_YAML) -> list[Path]:
    """Download every member (each as ``bench download MEMBER`` would)."""
    from bench.data.catalog import yaml_entries
    from bench.data.download import download

    entries = yaml_entries(path)
    return [download(m, entries[m], cache, accept_unverified) for m in suites(path)[name]["members"]]


def run_suite(args, detector_args: dict, max_dets: Callable[[str], int], path: Path = DEFAULT_YAML, build: Callable | None = None,
              speed: bool = True, log: Callable[[str], None] = print) -> int:  # fmt: skip
    """``bench run --dataset SUITE``: one unit per member in one run folder, then the summary."""
    from bench.data.catalog import present, yaml_entries
    from bench.jsonio import dump_json, load_json
    from bench.protocols import get_protocol
    from bench.run.open_vocab import check_prompt_options
    from bench.run.unit import UnitSettings, begin_run, run_unit
    from bench.store import unit_dir

    suite = suites(path)[args.dataset]
    entries = yaml_entries(path)
    cache = getattr(args, "cache", None)
    missing = [m for m in suite["members"] if not present(m, entries[m], cache, path)]
    if missing:
        raise FileNotFoundError(f"suite {args.dataset}: {len(missing)} of {len(suite['members'])} members not downloaded "
                                f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}); run: python -m bench download {args.dataset}")  # fmt: skip
    check_prompt_options(args.detector, args.prompts, args.prompt_template, detector_args)
    from bench.data.catalog import load_dataset

    run, _, env = begin_run(args.out, args.device, suite=args.dataset)
    results = {}
    for m in suite["members"]:
        ds, root, protocol = load_dataset(m, cache, path)
        protocol = args.protocol or protocol
        s = UnitSettings(dataset=m, detector=args.detector, weights=args.weights, detector_args=tuple(detector_args.items()),
                         device=args.device, dtype=args.dtype, batch_size=args.batch_size, max_images=args.max_images,
                         score_threshold=args.score_threshold, max_detections=max_dets(protocol), nms_iou=args.nms_iou,
                         allow_random_fallback=False, prompts=args.prompts, prompt_template=args.prompt_template,
                         training_regime=args.training_regime)  # fmt: skip
        rec = run_unit(s, ds, root, get_protocol(protocol), run, env, build=build, speed=speed, log=log)
        unit = unit_dir(run, m, args.detector, rec["settings_key"])
        value = None
        if rec["status"] == "ok":
            value = load_json(unit / "metrics.json")["metrics"].get(suite["metric"])
        results[m] = {"status": rec["status"], "value": value, "unit": unit.name, "error": rec.get("error")}
        subset = f" ({rec['subset']})" if rec.get("subset") else ""  # the AP is on a subset (--max-images)
        log(f"  {m}: {rec['status']}" + (f", {suite['metric']} {pts(value)}{subset}" if value is not None else ""))
    summary = summarise(args.dataset, suite, results)
    dump_json(run / f"suite-{args.dataset}.json", summary)
    log(f"{args.dataset}: {summary['metric']} mean {pts(summary['mean'])}, median {pts(summary['median'])} "
        f"({summary['scored']} of {summary['of']} members scored)")  # fmt: skip
    log(f"stored in {run}")
    return 0 if summary["complete"] else 1
