"""Hostile archives for ``bench download``: every member is validated before anything is
extracted, for zip and tar, on every supported Python (also one without ``tarfile.data_filter``).
A refused archive raises DownloadError naming the archive and the member, leaves no
``<folder>.extracting/`` behind, writes nothing outside the folder and does not mark the
dataset ready. Served from a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import zipfile

import pytest

from bench.data.download import DownloadError, download, is_ready
from tests.test_download import Server, entry

OK_FILE = ("annotations.json", b'{"images": [], "annotations": [], "categories": []}')


def make_zip(*members: tuple[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(*OK_FILE)
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name), data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16  # Unix
            z.writestr(info, "../../outside")
    return buf.getvalue()


def make_tar(*members: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(OK_FILE[0])
        info.size = len(OK_FILE[1])
        t.addfile(info, io.BytesIO(OK_FILE[1]))
        for m in members:
            if m.isreg():
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))
            else:
                t.addfile(m)
    return buf.getvalue()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def serve_and_download(tmp_path, payload: bytes):
    srv = Server(payload)
    try:
        return download("tiny", entry(srv.url, hashlib.sha256(payload).hexdigest()), tmp_path)
    finally:
        srv.close()


def assert_refused(tmp_path, payload: bytes, member: str):
    with pytest.raises(DownloadError) as err:
        serve_and_download(tmp_path, payload)
    assert "data.zip" in str(err.value) and repr(member) in str(err.value), str(err.value)
    datasets = tmp_path / "datasets"
    assert not is_ready("tiny", tmp_path)
    assert not list(datasets.glob("*.extracting"))
    assert not (datasets / "tiny" / "annotations.json").exists()  # nothing of it was extracted
    # nothing was written anywhere but the download itself
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if not p.is_dir()}
    assert written == {"datasets/tiny/.downloads/data.zip"}, written
    assert (datasets / "tiny" / ".downloads" / "data.zip").exists()


ZIP_CASES = {
    "dotdot": ("../evil.txt", None),
    "nested-dotdot": ("images/../../evil.txt", None),
    "absolute": ("/tmp/detbench-evil.txt", None),
    "drive-letter": ("C:/evil.txt", None),
    "backslash": ("..\\evil.txt", None),
    "reserved-downloads": (".downloads/data.zip", None),
    "reserved-ready": (".ready", None),
    "symlink": (None, "images/link"),
}


@pytest.mark.parametrize("case", list(ZIP_CASES))
def test_hostile_zip_is_refused_before_extracting(tmp_path, case):
    name, link = ZIP_CASES[case]
    payload = make_zip(*([(name, b"evil")] if name else []), symlink=link)
    assert_refused(tmp_path, payload, name or link)


TAR_CASES = {
    "dotdot": lambda out: tar_member("../evil.txt"),
    "nested-dotdot": lambda out: tar_member("images/../../evil.txt"),
    "absolute": lambda out: tar_member(str(out / "abs.txt")),
    "drive-letter": lambda out: tar_member("C:/evil.txt"),
    "backslash": lambda out: tar_member("..\\evil.txt"),
    "reserved-downloads": lambda out: tar_member(".downloads/data.zip"),
    "symlink-outside": lambda out: tar_member("images", tarfile.SYMTYPE, str(out)),
    "symlink-inside": lambda out: tar_member("alias.json", tarfile.SYMTYPE, "annotations.json"),
    "hardlink-outside": lambda out: tar_member("hard", tarfile.LNKTYPE, str(out / "secret")),
    "hardlink-inside": lambda out: tar_member("hard", tarfile.LNKTYPE, "annotations.json"),
    "fifo": lambda out: tar_member("pipe", tarfile.FIFOTYPE),
    "char-device": lambda out: tar_member("null", tarfile.CHRTYPE),
    "block-device": lambda out: tar_member("disk", tarfile.BLKTYPE),
}


@pytest.mark.parametrize("old_python", [False, True], ids=["this-python", "no-data-filter"])
@pytest.mark.parametrize("case", list(TAR_CASES))
def test_hostile_tar_is_refused_before_extracting(tmp_path, monkeypatch, case, old_python):
    if old_python:  # a Python before tarfile extraction filters (3.10.0-3.10.11, 3.11.0-3.11.3)
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    outside = tmp_path / "outside"  # absolute targets point here, so even a failure stays in tmp_path
    member = TAR_CASES[case](outside)
    payload = make_tar(member)
    if case == "symlink-outside":  # a file written through the link would land outside
        payload = make_tar(member, tar_member("images/evil.txt"))
    assert_refused(tmp_path, payload, member.name)
    assert not outside.exists()


def test_not_an_archive_leaves_no_extracting_folder(tmp_path):
    with pytest.raises(DownloadError, match="not a zip or tar archive"):
        serve_and_download(tmp_path, b"\x00garbage" * 1000)
    assert not list((tmp_path / "datasets").glob("*.extracting")) and not is_ready("tiny", tmp_path)


def test_corrupt_zip_member_is_a_download_error(tmp_path):
    payload = bytearray(make_zip(("images/a.bin", b"A" * 5000)))
    at = payload.find(b"A" * 5000)
    payload[at + 100] ^= 0xFF  # stored data no longer matches its CRC
    with pytest.raises(DownloadError, match="data.zip"):
        serve_and_download(tmp_path, bytes(payload))
    assert not list((tmp_path / "datasets").glob("*.extracting")) and not is_ready("tiny", tmp_path)


@pytest.mark.parametrize("old_python", [False, True], ids=["this-python", "no-data-filter"])
def test_benign_archives_still_extract(tmp_path, monkeypatch, old_python):
    if old_python:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    folder = serve_and_download(tmp_path, make_tar(tar_member("images", tarfile.DIRTYPE), tar_member("./images/b.bin")))
    assert (folder / "images" / "b.bin").read_bytes() == b"x" and is_ready("tiny", tmp_path)
    folder = serve_and_download(tmp_path, make_zip(("images/", b""), ("images/c.bin", b"c")))
    assert (folder / "images" / "c.bin").read_bytes() == b"c" and (folder / "annotations.json").exists()
    assert not list(folder.parent.glob("*.extracting"))
