"""What ships inside the package is what its records say: the embedded detector files (size,
sha256, licence, origin; a tampered copy is refused), the embedded COCO val2017 subset (every
image present, decodable, of the recorded size, under a redistributable licence, checksummed
and credited), and the download entries of datasets.yaml (size and sha256 recorded; a wrong
size fails before any hashing and leaves nothing behind)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import detectors.embedded as embedded
from detectors.embedded import EmbeddedModelError, verified_path

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(p.parent for p in (ROOT / "detectors" / "embedded").glob("*/model.json"))
MINI = ROOT / "bench" / "data" / "embedded" / "coco_val2017_mini"
REDISTRIBUTABLE = {4, 5, 7, 8}  # CC BY 2.0, CC BY-SA 2.0, no known copyright restrictions, US government work
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- embedded detector files


def test_both_real_detectors_are_embedded():
    assert {p.name for p in MODELS} >= {"yolox_nano", "nanodet_m"}


@pytest.mark.parametrize("folder", MODELS, ids=lambda p: p.name)
def test_model_json_is_complete_and_matches_the_file(folder):
    meta = json.loads((folder / "model.json").read_text())
    for key in ("file", "bytes", "sha256", "licence", "origin", "published"):
        assert meta.get(key), f"{folder.name}/model.json: {key} missing"
    for key in ("repository", "commit", "path"):
        assert meta["origin"].get(key), f"{folder.name}/model.json: origin.{key} missing"
    assert re.fullmatch(r"[0-9a-f]{40}", meta["origin"]["commit"]) and re.fullmatch(r"[\w.-]+/[\w.-]+", meta["origin"]["repository"])
    assert meta["published"].get("box_map") and meta["published"].get("source")
    path = folder / meta["file"]
    assert path.is_file() and path.stat().st_size == meta["bytes"]
    assert SHA256.fullmatch(meta["sha256"]) and sha256(path) == meta["sha256"]
    assert verified_path(folder.name) == path
    credits = (ROOT / "detectors" / "embedded" / "ATTRIBUTION.md").read_text()
    assert meta["file"] in credits and meta["sha256"] in credits and meta["origin"]["repository"] in credits


def tampered_root(tmp_path, name: str, change) -> Path:
    root = tmp_path / "embedded"
    shutil.copytree(ROOT / "detectors" / "embedded" / name, root / name)
    meta = json.loads((root / name / "model.json").read_text())
    path = root / name / meta["file"]
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(change(data)))
    return root


def flip_one_byte(data: bytearray) -> bytearray:
    data[len(data) // 2] ^= 0x01
    return data


@pytest.mark.parametrize("name", [p.name for p in MODELS])
def test_tampered_copy_is_refused(tmp_path, monkeypatch, name):
    monkeypatch.setattr(embedded, "ROOT", tampered_root(tmp_path / "same", name, lambda d: d))
    assert verified_path(name).read_bytes() == (ROOT / "detectors" / "embedded" / name / embedded.info(name)["file"]).read_bytes()
    monkeypatch.setattr(embedded, "ROOT", tampered_root(tmp_path / "flipped", name, flip_one_byte))
    with pytest.raises(EmbeddedModelError, match="does not match its recorded size/sha256"):
        verified_path(name)
    monkeypatch.setattr(embedded, "ROOT", tampered_root(tmp_path / "short", name, lambda d: d[:-1]))
    with pytest.raises(EmbeddedModelError, match="does not match"):
        verified_path(name)
    root = tampered_root(tmp_path / "gone", name, lambda d: d)
    (root / name / json.loads((root / name / "model.json").read_text())["file"]).unlink()
    monkeypatch.setattr(embedded, "ROOT", root)
    with pytest.raises(EmbeddedModelError, match="missing"):
        verified_path(name)


def test_a_tampered_model_is_never_built(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from detectors.registry import build

    monkeypatch.setattr(embedded, "ROOT", tampered_root(tmp_path, "yolox_nano", flip_one_byte))
    with pytest.raises(EmbeddedModelError):
        build("yolox_nano", ["person"])


# ---------------------------------------------------------------- embedded dataset


@pytest.fixture(scope="module")
def coco():
    return json.loads((MINI / "instances_val2017_mini.json").read_text())


@pytest.fixture(scope="module")
def origin():
    return json.loads((MINI / "ORIGIN.json").read_text())


def test_every_image_exists_decodes_and_has_the_recorded_size(coco):
    from PIL import Image

    on_disk = {p.name for p in (MINI / "images").iterdir()}
    listed = [im["file_name"] for im in coco["images"]]
    assert len(listed) == len(set(listed)) == len({im["id"] for im in coco["images"]}) > 0
    assert set(listed) == on_disk  # nothing missing, nothing extra
    for im in coco["images"]:
        with Image.open(MINI / "images" / im["file_name"]) as pic:
            pic.load()  # decodes every pixel
            assert pic.format == "JPEG" and pic.size == (im["width"], im["height"]), im["file_name"]


def test_every_annotation_belongs_to_a_listed_image_and_category(coco):
    ids, cats = {im["id"] for im in coco["images"]}, {c["id"] for c in coco["categories"]}
    assert len(cats) == 80 and coco["annotations"]
    assert all(a["image_id"] in ids and a["category_id"] in cats for a in coco["annotations"])
    sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        W, H = sizes[a["image_id"]]
        assert w > 0 and h > 0 and x >= -0.5 and y >= -0.5 and x + w <= W + 0.5 and y + h <= H + 0.5, a["id"]


def test_every_image_is_under_a_redistributable_licence(coco):
    names = {lic["id"]: lic["name"] for lic in coco["licenses"]}
    bad = [(im["file_name"], names.get(im["license"])) for im in coco["images"] if im["license"] not in REDISTRIBUTABLE]
    assert not bad


def test_origin_lists_every_image_with_its_checksum(coco, origin):
    entries = {e["file"]: e for e in origin["images"]}
    assert set(entries) == {im["file_name"] for im in coco["images"]}
    by_name = {im["file_name"]: im for im in coco["images"]}
    for name, e in entries.items():
        path = MINI / "images" / name
        assert SHA256.fullmatch(e["sha256"]) and sha256(path) == e["sha256"], name
        assert e["bytes"] == path.stat().st_size
        assert e["coco_license_id"] == by_name[name]["license"] and e["image_id"] == by_name[name]["id"]
        assert (e["width"], e["height"]) == (by_name[name]["width"], by_name[name]["height"])
        assert e["source_repo"] and re.fullmatch(r"[0-9a-f]{40}", e["source_commit"])
    ann = origin["annotation_file"]
    assert sha256(MINI / ann["file"]) == ann["sha256"] and (MINI / ann["file"]).stat().st_size == ann["bytes"]


def test_attribution_credits_every_image(coco, origin):
    text = (MINI / "ATTRIBUTION.md").read_text()
    missing = [im["file_name"] for im in coco["images"] if im["file_name"] not in text]
    assert not missing
    flickr = [e["flickr_url"] for e in origin["images"] if e.get("flickr_url") and e["flickr_url"] not in text]
    assert not flickr


# ---------------------------------------------------------------- datasets.yaml downloads


def test_every_download_records_size_and_sha256():
    entries = yaml.safe_load((ROOT / "bench" / "data" / "datasets.yaml").read_text())["datasets"]
    downloads = [(name, f) for name, e in entries.items() for f in e.get("download") or []]
    assert len(downloads) >= 5
    for name, f in downloads:
        assert isinstance(f.get("size"), int) and f["size"] > 0, (name, f["url"])
        assert isinstance(f.get("sha256"), str) and SHA256.fullmatch(f["sha256"]), (name, f["url"])
        assert f["url"].startswith(("http://", "https://"))
    same_url = {}
    for name, f in downloads:  # one URL, one file: the same size and checksum wherever it is listed
        assert same_url.setdefault(f["url"], (f["size"], f["sha256"])) == (f["size"], f["sha256"]), f["url"]


class Server:
    """Serves one payload from 127.0.0.1 (as tests/test_download.py does)."""

    def __init__(self, payload: bytes):
        owner = self
        self.payload, self.requests = payload, 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(owner.payload)))
                self.end_headers()
                self.wfile.write(owner.payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/data.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("recorded", [-1, +1])
def test_wrong_size_fails_before_hashing_and_leaves_no_file(tmp_path, monkeypatch, recorded):
    import bench.data.download as download

    payload = bytes(range(256)) * 3000
    hashed = []
    monkeypatch.setattr(download, "sha256_of", lambda path: hashed.append(path) or hashlib.sha256(Path(path).read_bytes()).hexdigest())
    srv = Server(payload)
    dest = tmp_path / "cache" / "data.zip"
    try:
        with pytest.raises(download.DownloadError, match="size mismatch") as err:
            download.fetch(srv.url, dest, hashlib.sha256(payload).hexdigest(), retries=0, size=len(payload) + recorded)
    finally:
        srv.close()
    assert f"expected {len(payload) + recorded} bytes, got {len(payload)}" in str(err.value)
    assert hashed == []  # the cheap check came first; nothing was hashed
    assert not dest.exists() and not list(dest.parent.iterdir())  # no file, no .part left behind
    assert srv.requests == 1


def test_right_size_and_checksum_are_accepted(tmp_path):
    import bench.data.download as download

    payload = b"detbench" * 5000
    srv = Server(payload)
    try:
        dest = download.fetch(srv.url, tmp_path / "data.zip", hashlib.sha256(payload).hexdigest(), retries=0, size=len(payload))
    finally:
        srv.close()
    assert dest.read_bytes() == payload and not list(tmp_path.glob("*.part"))
