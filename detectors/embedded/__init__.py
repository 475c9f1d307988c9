"""Real pretrained detector files shipped inside the package (small, permissively licensed).

Each one lives in ``detectors/embedded/<name>/`` with ``model.json``: the file name, its
sha256 and size, licence, origin (repository, commit, path), upstream project and the
published COCO val2017 accuracy. ``ATTRIBUTION.md`` beside this file credits them. A file is
verified against its sha256 before it is used: a damaged or swapped model is an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent


class EmbeddedModelError(RuntimeError):
    """An embedded model file is missing or does not match its recorded checksum."""


def info(name: str) -> dict:
    path = ROOT / name / "model.json"
    if not path.is_file():
        known = sorted(p.name for p in ROOT.iterdir() if (p / "model.json").is_file())
        raise KeyError(f"no embedded model {name!r}; embedded: {', '.join(known) or 'none'}")
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=None)
def _sha256(path: Path, size: int, mtime: float) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verified_path(name: str) -> Path:
    """The embedded model's file, after checking its size and sha256 against ``model.json``."""
    meta = info(name)
    path = ROOT / name / meta["file"]
    if not path.is_file():
        raise EmbeddedModelError(f"embedded model {name}: {path} is missing (reinstall detbench)")
    st = path.stat()
    if st.st_size != meta["bytes"] or _sha256(path, st.st_size, st.st_mtime) != meta["sha256"]:
        raise EmbeddedModelError(f"embedded model {name}: {path} does not match its recorded size/sha256 "
                                 f"({meta['bytes']} B, {meta['sha256']}); the file is damaged or was replaced")
    return path


def available(name: str) -> bool:
    try:
        meta = info(name)
    except KeyError:
        return False
    return (ROOT / name / meta["file"]).is_file()
