"""``python -m bench download NAME``: fetch a dataset listed in ``datasets.yaml``.

Each file streams to ``<name>/.downloads/<file>.part`` with a progress bar. An interrupted
transfer resumes with an HTTP Range request. The finished file must match its sha256 before
it is renamed into place. Archives extract into a temporary folder that is renamed when
complete. Only then is ``<name>/.ready`` written, and loaders use nothing without it, so a
corrupt or partial archive is never used. Files are stored under
``<cache>/datasets/<name>/``, and the entry's ``annotations`` and ``images`` paths are
relative to it.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

CHUNK = 1 << 20
TIMEOUT_S = 30.0


class DownloadError(RuntimeError):
    pass


def dataset_folder(name: str, cache: Path) -> Path:
    return Path(cache) / "datasets" / name


def is_ready(name: str, cache: Path) -> bool:
    return (dataset_folder(name, cache) / ".ready").exists()


def _progress(label: str, total: int | None):
    try:
        from tqdm import tqdm

        return tqdm(total=total, unit="B", unit_scale=True, desc=label, file=sys.stderr, disable=None)
    except ImportError:
        class Plain:
            n = 0

            def update(self, k):
                self.n += k

            def close(self):
                print(f"{label}: {self.n / 2**20:.1f} MB", file=sys.stderr)

        return Plain()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _size_ok(path: Path, size: int | None) -> bool:
    return size is None or path.stat().st_size == size


def fetch(url: str, dest: Path, sha256: str | None, retries: int = 3, size: int | None = None) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify the size (cheap, first)
    and the sha256, then rename into place."""
    if dest.exists() and _size_ok(dest, size) and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                if have and resp.status != 206:  # the server ignored Range: start over
                    have = 0
                length = resp.headers.get("Content-Length")
                bar = _progress(dest.name, have + int(length) if length else None)
                bar.update(have)
                with open(part, "ab" if have else "wb") as f:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        f.write(block)
                        bar.update(len(block))
                bar.close()
                if length is not None and part.stat().st_size < have + int(length):
                    raise DownloadError(f"{url}: connection closed after {part.stat().st_size} bytes")
            break
        except (urllib.error.URLError, OSError, DownloadError) as e:
            if attempt == retries:
                raise DownloadError(f"{url}: {e} (partial file kept at {part}; run the command again to resume)") from e
            time.sleep(min(2**attempt, 5))
    if not _size_ok(part, size):
        got_size = part.stat().st_size
        part.unlink()
        raise DownloadError(f"{url}: size mismatch (expected {size} bytes, got {got_size}); the file was removed")
    got = sha256_of(part)
    if sha256 is not None and got != sha256:
        part.unlink()
        raise DownloadError(f"{url}: sha256 mismatch (expected {sha256}, got {got}); the file was removed")
    part.rename(dest)
    return dest


def extract(archive: Path, into: Path) -> None:
    """Extract into a temporary sibling folder, then move its contents into ``into``."""
    tmp = into.with_name(into.name + ".extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(tmp)
    else:
        raise DownloadError(f"{archive}: not a zip or tar archive")
    into.mkdir(parents=True, exist_ok=True)
    for item in tmp.iterdir():
        target = into / item.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        item.rename(target)
    tmp.rmdir()


def download(name: str, entry: dict, cache: Path, accept_unverified: bool = False) -> Path:
    """Fetch, verify and extract every file of ``entry["download"]``; mark the dataset ready."""
    files = entry.get("download") or []
    if not files:
        raise DownloadError(f"dataset {name} has no download section in datasets.yaml")
    folder = dataset_folder(name, cache)
    (folder / ".ready").unlink(missing_ok=True)
    for f in files:
        if not f.get("sha256") and not accept_unverified:
            raise DownloadError(f"dataset {name}: no sha256 recorded for {f['url']}; add it to datasets.yaml, "
                                "or pass --accept-unverified (the computed checksum is then printed and stored)")  # fmt: skip
        dest = fetch(f["url"], folder / ".downloads" / f["url"].rsplit("/", 1)[-1], f.get("sha256"), size=f.get("size"))
        if not f.get("sha256"):
            print(f"{dest.name}: sha256 {sha256_of(dest)} (not verified: record it in datasets.yaml)", file=sys.stderr)
        if f.get("extract", True):
            extract(dest, folder)
    (folder / ".ready").write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return folder
