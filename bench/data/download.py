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
import re
import shutil
import stat
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


def _retry_hint(part: Path) -> str:
    """What is left after a failed transfer: only a ``.part`` that exists is named (an empty one
    is removed)."""
    if part.exists() and part.stat().st_size > 0:
        return f"partial file kept at {part}; run the command again to resume"
    part.unlink(missing_ok=True)
    return "nothing was kept; run the command again to retry"


def _total_from_416(err: urllib.error.HTTPError) -> int | None:
    """The full length a 416 answer reports in ``Content-Range: bytes */N`` (None if absent)."""
    rng = (err.headers.get("Content-Range") or "") if err.headers else ""
    tail = rng.rpartition("/")[2].strip()
    return int(tail) if tail.isdigit() else None


def _range_start(resp) -> int | None:
    """The first byte of a 206 answer, from ``Content-Range: bytes A-B/N`` (None if absent)."""
    rng = resp.headers.get("Content-Range") or ""
    head = rng.partition(" ")[2].partition("-")[0].strip()
    return int(head) if head.isdigit() else None


# 4xx answers that may succeed on a later try; every other 4xx (except 416) fails at once
RETRY_4XX = {408, 425, 429}


class _ClientError(DownloadError):
    """A permanent HTTP 4xx answer: retrying cannot help."""


def fetch(url: str, dest: Path, sha256: str | None, retries: int = 3, size: int | None = None) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify the size (cheap, first)
    and the sha256, then rename into place.

    A ``.part`` that already holds the whole file (an interrupted checksum pass) is verified
    without a transfer: when ``size`` is known it is not even requested, else the server's 416
    to ``Range: bytes=N-`` says so. A 4xx answer (other than 416 and the transient 408, 425,
    429) fails at once; connection errors, timeouts and 5xx are retried."""
    if dest.exists() and _size_ok(dest, size) and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if part.exists() and size is not None and part.stat().st_size > size:
        part.unlink()  # longer than the file: not a prefix of it
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have == size and part.exists():
            break  # complete already: verify below
        req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            try:
                resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
            except urllib.error.HTTPError as e:
                e.close()  # only its status and headers are used
                if e.code == 416 and have:
                    total = _total_from_416(e)
                    if total is None or total == have:
                        break  # the .part is the whole file: verify below
                    part.unlink()  # not a prefix of the file (longer than it): start over
                    continue
                if 400 <= e.code < 500 and e.code not in RETRY_4XX:
                    raise _ClientError(f"{url}: HTTP {e.code} {e.reason} ({_retry_hint(part)})") from e
                raise
            with resp:
                if have and (resp.status != 206 or _range_start(resp) not in (None, have)):
                    have = 0  # the server ignored Range (or sent another range): start over
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
        except _ClientError:
            raise
        except (urllib.error.URLError, OSError, DownloadError) as e:
            if attempt == retries:
                raise DownloadError(f"{url}: {e} ({_retry_hint(part)})") from e
            time.sleep(min(2**attempt, 5))
    if not part.exists():
        raise DownloadError(f"{url}: no data received ({_retry_hint(part)})")
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


# Top-level names in the dataset folder that belong to the downloader, never to an archive.
RESERVED = {".downloads", ".ready"}
_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_name(archive: Path, name: str) -> None:
    """Refuse a member path that could leave the extraction folder on any platform."""
    def refuse(why: str):
        raise DownloadError(f"{archive}: refusing to extract: member {name!r} {why}; nothing was extracted")

    if not name or "\x00" in name:
        refuse("has an empty or NUL-containing name")
    if "\\" in name:
        refuse("contains a backslash")
    if name.startswith("/"):
        refuse("is an absolute path")
    if _DRIVE.match(name):
        refuse("starts with a drive letter")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        refuse("contains a '..' component")
    if parts and parts[0] in RESERVED:
        refuse(f"would replace the downloader's own {parts[0]}")


def _zip_members(archive: Path, z: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = z.infolist()
    for m in members:
        _check_name(archive, m.filename)
        kind = stat.S_IFMT(m.external_attr >> 16) if m.create_system == 3 else 0  # Unix mode bits
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            what = "a symlink" if kind == stat.S_IFLNK else "a special file"
            raise DownloadError(f"{archive}: refusing to extract: member {m.filename!r} is {what}; nothing was extracted")
    return members


def _tar_members(archive: Path, t: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = t.getmembers()
    for m in members:
        _check_name(archive, m.name)
        if m.issym() or m.islnk():
            raise DownloadError(f"{archive}: refusing to extract: member {m.name!r} is a "
                                f"{'symlink' if m.issym() else 'hard link'} (to {m.linkname!r}); "
                                "archives with links are not accepted; nothing was extracted")  # fmt: skip
        if not (m.isreg() or m.isdir()):
            raise DownloadError(f"{archive}: refusing to extract: member {m.name!r} is a device, fifo or "
                                "other special file; nothing was extracted")  # fmt: skip
    return members


def extract(archive: Path, into: Path) -> None:
    """Extract into a temporary sibling folder, then move its contents into ``into``.

    Every member is validated first (no absolute paths, ``..``, drive letters, backslashes,
    links, devices or fifos, nor the reserved ``.downloads`` / ``.ready``), and only the
    validated members are extracted, so this holds on Pythons without tarfile's extraction
    filters too; where ``tarfile.data_filter`` exists it is applied as well. On any error the
    temporary folder is removed and ``into`` is left as it was."""
    tmp = into.with_name(into.name + ".extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                members = _zip_members(archive, z)
                tmp.mkdir(parents=True)
                z.extractall(tmp, members=members)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                members = _tar_members(archive, t)
                tmp.mkdir(parents=True)
                data_filter = getattr(tarfile, "data_filter", None)
                if data_filter is not None:
                    t.extractall(tmp, members=members, filter=data_filter)
                else:
                    t.extractall(tmp, members=members)
        else:
            raise DownloadError(f"{archive}: not a zip or tar archive")
    except DownloadError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(f"{archive}: extraction failed: {e}; nothing was extracted") from e
    into.mkdir(parents=True, exist_ok=True)
    for item in tmp.iterdir():
        target = into / item.name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        item.rename(target)
    tmp.rmdir()


def download_files(entry: dict) -> list[dict]:
    """The files of an entry: ``download`` (each pinned by size and sha256), or ``download_unpinned``
    (archives whose publisher gives no checksum, e.g. ODinW's: fetched only with --accept-unverified)."""
    return list(entry.get("download") or entry.get("download_unpinned") or [])


def download(name: str, entry: dict, cache: Path, accept_unverified: bool = False) -> Path:
    """Fetch, verify and extract every file of the entry (:func:`download_files`); mark the dataset ready."""
    files = download_files(entry)
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
