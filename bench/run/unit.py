"""One unit: one detector on one dataset, predictions -> metrics -> analysis -> speed -> a record
(what ``bench run`` runs once and ``bench all``, :mod:`bench.cli.run_all`, runs per detector).

A unit never raises: a detector that fails to build or run, or an out-of-memory error, becomes
a record with ``status: "failed"`` and its message, and the run goes on. Unreadable images are
recorded and scored with no detections (the unit is marked degraded). Weights that cannot be
had fall back to random initialisation when the run allows it, and such results are marked
``accuracy_meaningful: false`` everywhere.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from bench.run.distributed import barrier, gather_shards, init, world, write_shard
from bench.store import completed, settings_key, unit_dir, write_unit_file


@dataclass(frozen=True)
class UnitSettings:
    """Everything that changes a unit's results (hashed into its folder key)."""

    dataset: str
    detector: str
    weights: str | None = None
    detector_args: tuple = ()
    device: str = "cpu"
    dtype: str = "fp32"
    batch_size: int | None = 1  # the accuracy pass's; None: chosen per unit (bench.run.batching), recorded as accuracy_batch
    max_images: int | None = None
    score_threshold: float = 0.001
    max_detections: int = 100
    nms_iou: float | None = None
    speed_batch_sizes: tuple[int, ...] = (1,)
    speed_seconds: float | None = 1.0
    allow_random_fallback: bool = True
    profile: str = "quick"
    accuracy: bool = True  # False: speed only (random-weight units of bench all, every profile): no prediction pass
    prompts: str | None = None  # open vocabulary: a prompt-set YAML file (--prompts)
    prompt_template: str | None = None  # open vocabulary: one template (--prompt-template)
    training_regime: str | None = None  # overrides the registry's (--training-regime)
    iou_type: str | None = None  # None: box AP, plus mask AP where possible; "bbox"; "segm" (see bench.run.iou_types)
    decode: str | None = None  # None: JPEGs decoded on the CPU (PIL); "device": decoded on ``device`` (bench.run.loader, --decode)


OPTIONAL_SETTINGS = ("prompts", "prompt_template", "training_regime", "iou_type", "decode")  # left out of the hash when unset: older units keep their keys


# Profiles of ``bench all``. quick (the CPU default; every record says which profile it used)
# is a smoke run: still a stability-ruled warm-up, with the smallest windows, 2 timed samples at
# least and no FLOP count (one more forward). full: every image, the standard rules. Both time the
# single-stream scenario (at least MLPerf's 64 samples, then until the p90 interval is within 10 %,
# capped at ``single_stream_s`` seconds) and the offline scenario (``offline_s`` seconds).
# ``random_units``: the random-weight units the profile runs, a fixed list (None: all), never chosen
# by a time budget, so two runs of a profile time the same units.
QUICK_RANDOM_UNITS = ("fasterrcnn_mobilenet_v3_large_320_fpn", "ssdlite320_mobilenet_v3_large", "detr_resnet50", "rtdetr_r18vd",
                      "dfine_nano", "yolos_tiny", "owlvit_base_patch32", "yolov8n")  # one small model per family  # fmt: skip
PROFILES = {
    "quick": {"max_images": 1, "speed_seconds": 0.5, "min_samples": 2, "count_flops": False, "random_units": QUICK_RANDOM_UNITS,
              "single_stream_s": 5.0, "offline_s": 1.0, "warmup": dict(min_iters=2, window=1, tolerance=0.15, max_iters=6, max_seconds=8.0)},
    "full": {"max_images": None, "speed_seconds": 2.0, "min_samples": 5, "count_flops": True, "random_units": None,
             "single_stream_s": 15.0, "offline_s": 3.0, "warmup": {}},
}  # fmt: skip
UNIT_SCENARIOS = ("single-stream", "offline")
SPEED_IMAGES = 4  # images the speed measurement cycles through


def begin_run(out: str | Path, device: str, resume: str | None = None, **manifest) -> tuple[Path, str, dict]:
    """Start (or continue) a run folder: join torchrun's group if launched by it, agree on the
    run id across ranks, and have rank 0 write ``run.json`` (command, reference workload,
    environment, world size and ``manifest``). Returns (run folder, run id, environment)."""
    from bench.jsonio import dump_json
    from bench.run.distributed import init, shared
    from bench.speed.environment import environment
    from bench.speed.reference import reference_workload
    from bench.store import new_run_id

    init(device)
    run_id = shared(resume or new_run_id())
    run = Path(out) / run_id
    run.mkdir(parents=True, exist_ok=True)
    env = environment(device)
    rank, size = world()
    if rank == 0:
        from bench.jsonio import load_json

        previous = load_json(run / "run.json") if (run / "run.json").exists() else None
        history = [*(previous or {}).pop("history", []), previous] if previous else []  # each resume keeps what came before
        dump_json(run / "run.json", {"run_id": run_id, "command": " ".join(shlex.quote(a) for a in ["python", "-m", "bench", *sys.argv[1:]]),
                                     "reference_ms": reference_workload(device), "environment": env, "world_size": size, **manifest,
                                     "history": history})  # fmt: skip
    return run, run_id, env


class LineProgress:
    """Progress without a terminal (CI logs, pipes): a line at each quarter of ``total``, no
    carriage-return frames. Same ``update`` / ``close`` as tqdm's bar."""

    def __init__(self, total: int, label: str, stream=None, steps: int = 4):
        self.total, self.label, self.stream, self.done = total, label, stream or sys.stderr, 0
        self.marks = sorted({max(1, round(total * k / steps)) for k in range(1, steps + 1)}) if total > 0 else []
        self.t0 = time.perf_counter()

    def update(self, n: int) -> None:
        before, self.done = self.done, self.done + n
        if any(before < m <= self.done for m in self.marks):
            print(f"    {self.label}: {self.done}/{self.total} images ({time.perf_counter() - self.t0:.1f} s)", file=self.stream, flush=True)

    def close(self) -> None:
        pass


def progress_bar(total: int, label: str):
    """tqdm on a terminal (when installed); elsewhere a few plain lines (:class:`LineProgress`)."""
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            return tqdm(total=total, desc=label, unit="img", leave=False, file=sys.stderr)
        except ImportError:
            pass
    return LineProgress(total, label)


def predict_images(detector, ds, root: Path, idx, batch_size: int, label: str = "predict", keep: int = 0, decode: str = "cpu"):
    """Detections for dataset images ``idx`` (loaded by ``bench.run.loader``, workers decoding
    ahead of the model, or, with ``decode="device"``, JPEGs decoded on the detector's device);
    unreadable images are skipped and listed. Also returns the first ``keep`` decoded images,
    so later steps need not read them again."""
    from bench.run.loader import iterate

    dets, kept, skipped, sample = [], [], [], []
    bar = progress_bar(len(idx), label)
    for items in iterate(root, ds.images.files, idx, batch_size, getattr(detector, "device", "cpu"), decode):
        good = [(i, im) for i, im, err in items if err is None]
        skipped += [{"index": int(i), "image": ds.images.files[i], "error": err} for i, _, err in items if err is not None]
        if good:
            dets += detector.predict([im for _, im in good])
            kept += [i for i, _ in good]
            sample += [im for _, im in good][: keep - len(sample)]
        bar.update(len(items))
    bar.close()
    return dets, kept, skipped, sample


def loader_line(loader: dict) -> str:
    """The loader's own speed in plain words: images read and decoded per second with no model,
    the most the prediction pass could reach (the latency figures are timed on decoded images)."""
    workers = loader["workers"]
    how = f"{workers} worker process{'es' if workers != 1 else ''}" if workers else "in this process"
    if loader.get("decode") == "device":
        how += f", JPEGs decoded on {loader.get('device')}"
    return (f"image loading alone (read + decode, no model): {loader['images_per_s'] or 0:.0f} images/s over {loader['images']} images, "
            f"{how}; the prediction pass cannot run faster, the latency excludes it")  # fmt: skip


def with_empty(dets: list, kept: list[int], missing: list[int]) -> tuple[list, list[int]]:
    """Predictions for ``kept`` images plus empty ones for ``missing`` images, in image order."""
    import numpy as np

    from bench.run.iou_types import detections_have_masks
    from detectors.base import Detections

    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                       [] if detections_have_masks(dets) else None)  # fmt: skip
    pairs = sorted([*zip(kept, dets), *((i, empty) for i in missing)], key=lambda p: p[0])
    return [d for _, d in pairs], [i for i, _ in pairs]


def build_detector(s: UnitSettings, classes, build: Callable | None = None, extra: dict | None = None):
    """(detector, weights used, fallback note). Unavailable weights -> random when allowed."""
    from detectors.base import WeightsUnavailable
    from detectors.registry import build as registry_build

    make = build or (lambda **kw: registry_build(s.detector, classes, **kw))
    settings = {"device": init(s.device), "dtype": s.dtype, "score_threshold": s.score_threshold, "max_detections": s.max_detections,
                "nms_iou": s.nms_iou}  # fmt: skip
    if build is None:
        from detectors.options import check_detector_args
        from detectors.registry import family

        check_detector_args(family(s.detector), dict(s.detector_args))
    kw = {**dict(s.detector_args), **settings, **(extra or {})}
    try:
        _seed()
        return make(**kw, **({"weights": s.weights} if s.weights else {})), s.weights or "pretrained", None
    except WeightsUnavailable as e:
        if not s.allow_random_fallback or s.weights:
            raise
        _seed()
        return make(**kw, weights="random"), "random", f"pretrained weights unavailable, fell back to random: {e}"


RANDOM_SEED = 0


def _seed() -> None:
    """Random initialisation is seeded (0), so random-weight runs repeat and ranks agree."""
    try:
        import torch

        torch.manual_seed(RANDOM_SEED)
    except ImportError:
        pass


def run_unit(s: UnitSettings, ds, root: Path, protocol, run: Path, environment: dict, build: Callable | None = None,
             resume: bool = True, speed: bool = True, log: Callable[[str], None] = print) -> dict:
    """Run, score, time and store one (dataset, detector, settings) unit; returns its record."""
    from bench.data.results_out import write_results
    from bench.metrics.core import evaluate
    from bench.run.inference import score
    from bench.run.iou_types import METRICS_FILE, SUMMARY_KEY, iou_types_to_score

    settings = {k: v for k, v in asdict(s).items() if not (k in OPTIONAL_SETTINGS and v is None)}
    key = settings_key(settings)
    if protocol.category_groups is not None:  # OV-COCO: the vocabulary is the scored subset (65 classes)
        from bench.metrics.groups import subset_categories

        ds = subset_categories(ds, protocol.category_groups)
    unit = unit_dir(run, s.dataset, s.detector, key)
    if resume and completed(unit, key):
        log(f"  {s.detector} on {s.dataset}: already complete ({unit.name}), skipped")
        from bench.jsonio import load_json

        return load_json(unit / "record.json")
    n_all = len(ds.images)
    idx = list(range(n_all if s.max_images is None else min(s.max_images, n_all)))
    record = {"schema": "detbench.record/1", "settings": settings, "settings_key": key, "dataset": s.dataset,
              "dataset_version": {"name": ds.name, "source": ds.source, "images": n_all}, "detector": s.detector,
              "subset": None if len(idx) == n_all else f"{len(idx)} of {n_all} images", "environment": environment,
              "status": "ok", "error": None, "weights_used": None, "accuracy_meaningful": None, "notes": []}  # fmt: skip
    t0 = time.perf_counter()
    try:
        from bench.run.open_vocab import describe_unit, prompt_kwargs

        detector, weights, note = build_detector(s, list(ds.categories.names), build, prompt_kwargs(s.prompts, s.prompt_template, ds))
        record["weights_used"] = weights
        record["accuracy_meaningful"] = weights != "random"
        record["describe"] = detector.describe()
        from bench.speed.modes import device_used

        used, fallback = device_used(detector, s.device)
        if fallback:  # e.g. an ONNX model without a CUDA provider, run on the CPU only when asked to
            record["device_used"], record["device_fallback"] = used, fallback
            record["notes"].append(f"asked for {s.device}, ran on {used}: {fallback.get('reason')}")
            log(f"    WARNING: ran on {used}, not {s.device} ({fallback.get('reason')})")
        record.update(describe_unit(s.detector, s.training_regime, protocol.name, s.dataset, record["describe"]))
        if note:
            record["notes"].append(note)
        rank, size = world()
        from bench.run.loader import loader_speed

        record["loader"] = loader_speed(root, ds.images.files, idx[rank::size], device=getattr(detector, "device", s.device), decode=s.decode or "cpu")
        log("    " + loader_line(record["loader"]))
        if not s.accuracy:  # speed only: the images to time, no prediction pass, no metrics
            sample = _decoded(root, ds, idx[:SPEED_IMAGES])
            record["accuracy_meaningful"], record["subset"] = False, "speed only"
            _speed_only(s, detector, sample, environment, unit, record)
            return _finish(record, unit, t0)
        from bench.run.batching import choose_batch_size

        probe = _decoded(root, ds, idx[:SPEED_IMAGES]) if s.batch_size is None and str(s.device).startswith("cuda") else []
        record["accuracy_batch"] = choose_batch_size(detector, probe, s.device, s.batch_size)
        log(f"    accuracy batch {record['accuracy_batch']['batch_size']}: {record['accuracy_batch']['rule']}")
        dets, kept, skipped, sample = predict_images(detector, ds, root, idx[rank::size], record["accuracy_batch"]["batch_size"],
                                                     f"{s.detector} on {s.dataset}", keep=SPEED_IMAGES if speed else 0,
                                                     decode=s.decode or "cpu")  # fmt: skip
        if size > 1:  # each rank writes its shard; rank 0 gathers and scores once
            write_shard(unit, dets, kept, skipped)
            barrier()
            if rank != 0:
                return {**record, "status": "shard-written", "rank": rank}
            dets, kept, skipped = gather_shards(unit, idx)
            record["world_size"] = size
        record["skipped_images"] = skipped
        record["describe"] = detector.describe()  # again: text encodes done during prediction are counted now
        if skipped:  # an unreadable image keeps its ground truth, with no detections: AP is never inflated
            dets, kept = with_empty(dets, kept, [sk["index"] for sk in skipped])
            record["degraded"] = (f"{len(skipped)} of {len(kept)} images unreadable, scored with no detections: "
                                  + ", ".join(sk["image"] for sk in skipped[:5]) + (" ..." if len(skipped) > 5 else ""))  # fmt: skip
            log(f"    WARNING: {record['degraded']}")
        from bench.run.sanity import degenerate_findings

        record["degenerate"] = degenerate_findings(dets, [(int(ds.images.heights[i]), int(ds.images.widths[i])) for i in kept])
        for finding in record["degenerate"] if record["accuracy_meaningful"] else []:
            log(f"    WARNING: degenerate predictions ({finding}): this AP cannot be trusted; check the layout / weights")
        iou_types = iou_types_to_score(s.iou_type, ds, dets)
        sub, table, result = score(ds, kept, dets, protocol)
        if record["accuracy_meaningful"]:  # real weights: is the AP near what it should be?
            from bench.run.sanity import implausible_findings

            for finding in implausible_findings(result, record["describe"], s.dataset, len(kept)):
                record["degenerate"].append(finding)
                log(f"    WARNING: {finding}")
        unit.mkdir(parents=True, exist_ok=True)
        write_results(table, sub, unit / "predictions.json.gz")  # masks (if any) as compressed RLE "segmentation"
        record["iou_types"] = iou_types
        missing = record["describe"].get("label_map", {}).get("unpredictable_dataset_classes", [])
        box_result = result
        for iou_type in iou_types:
            if iou_type != "bbox":
                result = evaluate(sub, table, protocol, iou_type=iou_type)
            metrics = {"iou_type": iou_type, **result.to_dict(curves=True)}
            record[SUMMARY_KEY[iou_type]] = {k: v for k, v in metrics["metrics"].items() if k in ("AP", "AP50", "mAP")}
            for name in missing:
                if name in metrics["per_class"]:
                    metrics["per_class"][name]["unpredictable"] = True
            write_unit_file(unit, METRICS_FILE[iou_type], metrics)
        from bench.analysis.unit import unit_analysis

        record.update(unit_analysis(sub, table, box_result, record["accuracy_meaningful"], log))
        if speed:
            _speed_only(s, detector, sample, environment, unit, record)
    except Exception as e:  # a failing detector is a result, never the end of the run
        _failed(record, e, s.device)
    return _finish(record, unit, t0)


def _decoded(root: Path, ds, idx: list[int]) -> list:
    """The readable images of ``idx``, decoded (RGB uint8), in order."""
    from bench.run.loader import iterate

    return [im for b in iterate(root, ds.images.files, idx, max(1, len(idx))) for _, im, err in b if err is None]


def _speed_only(s: UnitSettings, detector, sample: list, environment: dict, unit: Path, record: dict) -> None:
    """Time ``detector`` on ``sample`` under the unit's profile; writes speed.json, fills the record."""
    from bench.speed.measure import SpeedSettings, measure_speed
    from bench.speed.scenarios import OfflineRule, SingleStreamRule
    from bench.speed.timing import WarmupRule

    prof = PROFILES[s.profile]
    sp = measure_speed(s.detector, lambda dtype: detector, sample,
                       SpeedSettings(batch_sizes=s.speed_batch_sizes, device=s.device, dtype=s.dtype, seconds=s.speed_seconds,
                                     warmup=WarmupRule(**prof["warmup"]), min_samples=prof["min_samples"],
                                     count_flops=prof["count_flops"], scenarios=UNIT_SCENARIOS,
                                     single_stream=SingleStreamRule(max_seconds=prof["single_stream_s"]),
                                     offline=OfflineRule(seconds=prof["offline_s"], min_batches=2, warmup_batches=1),
                                     offline_batch_size=max(s.batch_size or 1, *s.speed_batch_sizes)), env=environment)  # fmt: skip
    te = detector.describe().get("text_encoding") if hasattr(detector, "describe") else None
    if te is not None:  # open vocabulary: the text cost, paid once per vocabulary, apart from the timed image path
        sp["text_encoding"] = te
    write_unit_file(unit, "speed.json", sp)
    record["speed_summary"] = sp.get("summary")


def _failed(record: dict, e: Exception, device: str) -> None:
    from bench.speed.timing import free_memory, is_oom

    record["status"] = "failed"
    record["error"] = ("out of memory: " if is_oom(e) else "") + f"{type(e).__name__}: {e}"[:1000]
    free_memory(device)


def _finish(record: dict, unit: Path, t0: float) -> dict:
    record["seconds"] = time.perf_counter() - t0
    write_unit_file(unit, "record.json", record)  # last: marks the unit complete
    return record

