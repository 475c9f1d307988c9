"""Checks of command-line arguments made before anything is built or written.

A wrong argument is a one-line error naming it (exit 2), and no run folder is created for it:
an empty run would otherwise become the "latest" run that ``check`` and ``baseline`` pick up.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import ArgumentError


def check_device(device: str) -> None:
    if not str(device).startswith("cuda"):
        if str(device) != "cpu":
            raise ArgumentError(f"--device {device}: expected cpu, cuda or cuda:N")
        return
    try:
        import torch
    except ImportError:
        raise ArgumentError(f"--device {device}: torch is not installed (pip install 'detbench[torch]')") from None
    if not torch.cuda.is_available():
        built = f"torch {torch.__version__} built {'with CUDA ' + torch.version.cuda if torch.version.cuda else 'without CUDA'}"
        raise ArgumentError(f"--device {device}: CUDA is not available on this machine ({built}); use --device cpu")
    index = str(device).partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ArgumentError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def check_out(out: str | Path, flag: str = "--out") -> None:
    """``out`` must be a folder, or a path that can become one (no file in the way)."""
    p = Path(out)
    for q in [p, *p.parents]:
        if q.exists():
            if not q.is_dir():
                raise ArgumentError(f"{flag} {out}: {q} is a file, not a folder")
            return


def check_positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise ArgumentError(f"{flag} must be at least 1, got {value}")


def check_run_args(args, out_is_file: bool = False) -> None:
    """The arguments shared by run, all and speed (speed's ``--out`` is a file, not a folder)."""
    check_device(args.device)
    for flag in ("max_images", "batch_size", "max_detections"):
        check_positive(getattr(args, flag, None), "--" + flag.replace("_", "-"))
    for flag in ("score_threshold", "nms_iou"):  # fractions: anything else silently changes (or empties) the result
        value = getattr(args, flag, None)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ArgumentError(f"--{flag.replace('_', '-')} must be between 0 and 1, got {value}")
    resume = getattr(args, "resume", None)
    if resume and not (Path(args.out) / resume / "run.json").exists():
        raise ArgumentError(f"--resume {resume}: no run {Path(args.out) / resume} (runs are named by their id under --out)")
    if getattr(args, "out", None):
        if out_is_file and Path(args.out).is_dir():
            raise ArgumentError(f"--out {args.out}: a folder; give the record's file name")
        check_out(Path(args.out).parent if out_is_file else args.out)
    if getattr(args, "reports", None):
        check_out(args.reports, "--reports")
    for option in ("weights", "against"):
        weights = getattr(args, option, None)
        if weights and weights != "random" and not Path(weights).exists():
            raise ArgumentError(f"--{option} {weights}: no such file or folder")


def check_datasets(names: list[str], cache: str | None = None) -> None:
    """Every name is a built-in or datasets.yaml dataset (KeyError with close matches otherwise)."""
    import difflib

    from bench.data.catalog import names as known

    all_names = known()
    for n in names:
        if n not in all_names:
            close = difflib.get_close_matches(n, all_names, n=5)
            raise KeyError(f"unknown dataset {n!r}; " + (f"did you mean: {', '.join(close)}?" if close else f"known: {', '.join(all_names)}"))


def parse_detector_args(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs; values parsed as YAML scalars/lists (``num_classes=21``, ``x=[1,2]``)."""
    import yaml

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            print(f"error: --detector-arg expects KEY=VALUE, got {pair!r}", file=sys.stderr)
            raise SystemExit(2)
        out[key.strip()] = yaml.safe_load(value)
    return out


MAX_DETECTIONS = {"coco": 100, "lvis": 300, "voc07": 100, "voc12": 100, "ov-coco": 100, "ov-lvis": 300}  # the protocol's own cap per image


def max_detections(args, protocol: str) -> int:
    """--max-detections (checked by ``bench.cli.args`` first), else the protocol's default (COCO 100, LVIS 300)."""
    return args.max_detections or MAX_DETECTIONS.get(protocol, 100)


def checked_detector_args(detector: str, pairs: list[str]) -> dict:
    """--detector-arg pairs, refused (exit 2) when a key is a run setting or unknown to the family."""
    from detectors.options import check_detector_args
    from detectors.registry import family

    args = parse_detector_args(pairs)
    try:
        check_detector_args(family(detector), args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return args
