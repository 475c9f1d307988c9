"""The results store: one folder per run, one sub-folder per (dataset, detector, setting).

    runs/<run-id>/run.json                        manifest: command, settings, environment, reference workload
    runs/<run-id>/<dataset>__<detector>__<key>/   key = hash of the unit's settings
        predictions.json.gz   COCO results format (instance masks as compressed RLE "segmentation")
        metrics.json          the metric core's output for boxes (iou_type "bbox")
        metrics_segm.json     the same for instance masks (iou_type "segm"), where scored
        speed.json            the timing record
        record.json           provenance + status; written LAST, so its presence means complete

Every file is written atomically (temp file + rename). ``--resume`` redoes a unit only when its
``record.json`` is missing or was written for different settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path

from bench.jsonio import dump_json, load_json

RECORD = "record.json"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def settings_key(settings: dict) -> str:
    """Short stable hash of a unit's settings (canonical JSON)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def unit_dir(run: Path, dataset: str, detector: str, key: str) -> Path:
    return Path(run) / f"{safe(dataset)}__{safe(detector)}__{key}"


def completed(unit: Path, key: str) -> bool:
    """Whether ``unit`` holds a finished result for settings ``key``."""
    path = Path(unit) / RECORD
    if not path.exists():
        return False
    try:
        return load_json(path).get("settings_key") == key
    except (OSError, ValueError):
        return False


def write_unit_file(unit: Path, name: str, obj) -> None:
    Path(unit).mkdir(parents=True, exist_ok=True)
    dump_json(Path(unit) / name, obj, indent=not name.endswith(".gz"))


def load_records(run: Path) -> list[dict]:
    """Every completed unit's record (with its metrics and speed summary), sorted by folder."""
    out = []
    for unit in sorted(p for p in Path(run).iterdir() if p.is_dir()):
        if (unit / RECORD).exists():
            rec = load_json(unit / RECORD)
            rec["unit"] = unit.name
            for name in ("metrics", "metrics_segm", "speed"):
                f = unit / f"{name}.json"
                rec[name] = load_json(f) if f.exists() else None
            out.append(rec)
    return out


def latest_run(root: Path) -> Path | None:
    runs = [p for p in Path(root).iterdir() if (p / "run.json").exists()] if Path(root).exists() else []
    return max(runs, key=lambda p: os.path.getmtime(p / "run.json")) if runs else None
