"""``bench download`` against a local HTTP server on 127.0.0.1: resume with Range after an
interrupted transfer, checksum verification, extraction, and the ready marker."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.data.download import DownloadError, download, is_ready


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("annotations.json", '{"images": [], "annotations": [], "categories": []}')
        z.writestr("images/a.bin", bytes(range(256)) * 4000)  # ~1 MB, so the cut lands mid-file
    return buf.getvalue()


class Server:
    """Serves one payload; the first GET is cut after ``cut`` bytes; records Range headers.
    A Range starting at or past the end is answered 416 with ``Content-Range: bytes */N``, as
    real servers do; ``status`` makes every GET fail with that HTTP status instead."""

    def __init__(self, payload: bytes, cut: int | None = None, honour_range: bool = True, status: int | None = None):
        self.payload, self.cut, self.honour_range, self.status, self.ranges = payload, cut, honour_range, status, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                owner.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng and owner.honour_range else 0
                if owner.status or start >= len(owner.payload) > 0:
                    self.send_response(owner.status or 416)
                    if not owner.status:
                        self.send_header("Content-Range", f"bytes */{len(owner.payload)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = owner.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.cut is not None:
                    self.wfile.write(body[: owner.cut])
                    owner.cut = None
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/data.zip"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()  # quick close

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def payload():
    return make_zip()


def entry(url: str, sha: str | None) -> dict:
    return {"format": "coco", "annotations": "annotations.json", "images": "images", "download": [{"url": url, "sha256": sha}]}


def test_interrupted_transfer_resumes_with_range_and_verifies(tmp_path, payload):
    srv = Server(payload, cut=300_000)
    try:
        folder = download("tiny", entry(srv.url, hashlib.sha256(payload).hexdigest()), tmp_path)
    finally:
        srv.close()
    assert srv.ranges[0] is None and srv.ranges[1] == "bytes=300000-"  # resumed, not restarted
    assert is_ready("tiny", tmp_path)
    assert (folder / "images" / "a.bin").read_bytes() == bytes(range(256)) * 4000
    assert not list(folder.parent.glob("*.extracting")) and not list((folder / ".downloads").glob("*.part"))


def test_wrong_checksum_is_never_used(tmp_path, payload):
    srv = Server(payload)
    try:
        with pytest.raises(DownloadError, match="sha256 mismatch"):
            download("tiny", entry(srv.url, "0" * 64), tmp_path)
    finally:
        srv.close()
    folder = tmp_path / "datasets" / "tiny"
    assert not is_ready("tiny", tmp_path) and not (folder / "annotations.json").exists()
    assert not list((folder / ".downloads").iterdir())  # the bad file was removed


def test_server_ignoring_range_restarts_cleanly(tmp_path, payload):
    srv = Server(payload, cut=100_000, honour_range=False)
    try:
        download("tiny", entry(srv.url, hashlib.sha256(payload).hexdigest()), tmp_path)
    finally:
        srv.close()
    assert is_ready("tiny", tmp_path)


def test_unverified_files_need_consent(tmp_path, payload):
    with pytest.raises(DownloadError, match="accept-unverified"):
        download("tiny", entry("http://127.0.0.1:9/never.zip", None), tmp_path)
    srv = Server(payload)
    try:
        download("tiny", entry(srv.url, None), tmp_path, accept_unverified=True)
    finally:
        srv.close()
    assert is_ready("tiny", tmp_path)


@pytest.fixture
def sleeps(monkeypatch):
    """Retry back-off sleeps, recorded instead of slept (keeps the tests fast)."""
    calls = []
    monkeypatch.setattr("bench.data.download.time.sleep", calls.append)
    return calls


def part_of(tmp_path):
    part = tmp_path / "datasets" / "tiny" / ".downloads" / "data.zip.part"
    part.parent.mkdir(parents=True)
    return part


def test_complete_part_answered_416_is_verified_and_finished(tmp_path, payload, sleeps):
    # Ctrl-C during the checksum pass: the .part holds the whole file; the server answers 416
    part_of(tmp_path).write_bytes(payload)
    srv = Server(payload)
    try:
        folder = download("tiny", entry(srv.url, hashlib.sha256(payload).hexdigest()), tmp_path)
    finally:
        srv.close()
    assert srv.ranges == [f"bytes={len(payload)}-"] and sleeps == []  # one request, no retries
    assert is_ready("tiny", tmp_path) and (folder / "images" / "a.bin").exists()
    assert not (folder / ".downloads" / "data.zip.part").exists()


def test_complete_part_of_known_size_needs_no_request(tmp_path, payload, sleeps):
    part_of(tmp_path).write_bytes(payload)
    srv = Server(payload)
    try:
        e = entry(srv.url, hashlib.sha256(payload).hexdigest())
        e["download"][0]["size"] = len(payload)
        download("tiny", e, tmp_path)
    finally:
        srv.close()
    assert srv.ranges == [] and sleeps == [] and is_ready("tiny", tmp_path)


def test_part_longer_than_the_file_starts_over(tmp_path, payload, sleeps):
    part_of(tmp_path).write_bytes(payload + b"junk")  # not a prefix of the file: useless
    srv = Server(payload)
    try:
        download("tiny", entry(srv.url, hashlib.sha256(payload).hexdigest()), tmp_path)
    finally:
        srv.close()
    assert srv.ranges == [f"bytes={len(payload) + 4}-", None] and is_ready("tiny", tmp_path)


@pytest.mark.parametrize("status", [404, 403, 410])
def test_client_error_fails_at_once(tmp_path, payload, sleeps, status):
    srv = Server(payload, status=status)
    try:
        with pytest.raises(DownloadError, match=str(status)) as err:
            download("tiny", entry(srv.url, hashlib.sha256(payload).hexdigest()), tmp_path)
    finally:
        srv.close()
    assert len(srv.ranges) == 1 and sleeps == []  # no retries
    assert "partial file kept" not in str(err.value) and not is_ready("tiny", tmp_path)
    assert not list((tmp_path / "datasets" / "tiny" / ".downloads").glob("*.part"))


def failed_download(tmp_path, payload, status: int, match: str):
    """(server, pytest's ExceptionInfo) of a download from a server answering ``status``."""
    srv = Server(payload, status=status)
    try:
        with pytest.raises(DownloadError, match=match) as err:
            download("tiny", entry(srv.url, hashlib.sha256(payload).hexdigest()), tmp_path)
    finally:
        srv.close()
    return srv, err


def test_server_error_retries_and_never_claims_a_missing_partial_file(tmp_path, payload, sleeps):
    srv, err = failed_download(tmp_path, payload, 503, "503")
    assert len(srv.ranges) == 4 and len(sleeps) == 3  # retried
    part = tmp_path / "datasets" / "tiny" / ".downloads" / "data.zip.part"
    assert "partial file kept" not in str(err.value) and not part.exists()


def test_failure_after_some_bytes_keeps_and_names_the_partial_file(tmp_path, payload, sleeps):
    part_of(tmp_path).write_bytes(payload[:1000])
    srv, err = failed_download(tmp_path, payload, 503, "partial file kept at")
    part = tmp_path / "datasets" / "tiny" / ".downloads" / "data.zip.part"
    assert str(part) in str(err.value) and part.read_bytes() == payload[:1000]
    assert srv.ranges == ["bytes=1000-"] * 4


def test_not_downloaded_dataset_names_the_command(tmp_path, monkeypatch):
    from bench.data.catalog import load_dataset

    monkeypatch.setenv("DETBENCH_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="python -m bench download voc2007-test"):
        load_dataset("voc2007-test")
    with pytest.raises(KeyError, match="did you mean"):
        load_dataset("voc2007-tset")
