"""``bench download`` against a local HTTP server on 127.0.0.1: resume with Range after an
interrupted transfer, checksum verification, extraction, and the ready marker."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.download import DownloadError, download, is_ready


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("annotations.json", '{"images": [], "annotations": [], "categories": []}')
        z.writestr("images/a.bin", bytes(range(256)) * 4000)  # ~1 MB, so the cut lands mid-file
    return buf.getvalue()


class Server:
    """Serves one payload; the first GET is cut after ``cut`` bytes; records Range headers."""

    def __init__(self, payload: bytes, cut: int | None = None, honour_range: bool = True):
        self.payload, self.cut, self.honour_range, self.ranges = payload, cut, honour_range, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                owner.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng and owner.honour_range else 0
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
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


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


def test_not_downloaded_dataset_names_the_command(tmp_path, monkeypatch):
    from bench.datasets import load_dataset

    monkeypatch.setenv("DETBENCH_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="python -m bench download voc2007-test"):
        load_dataset("voc2007-test")
    with pytest.raises(KeyError, match="did you mean"):
        load_dataset("voc2007-tset")
