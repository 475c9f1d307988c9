"""Weights never execute code: real pickle payloads in every place detbench reads a torch file.

Each payload, when unpickled with full pickle, calls ``open(marker, "w")`` and so creates the
marker file. Every test asserts that the marker is NOT created and that the error names the
file. ultralytics ``.pt`` files (full pickles by design) load only with ``trust_pickle=true``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from detectors.registry import REGISTRY, build  # noqa: E402

CLASSES = ["cat", "dog", "traffic_light"]
TV = "fasterrcnn_mobilenet_v3_large_320_fpn"
IMAGES = [np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)]


class Payload:
    """Unpickling this object creates ``marker`` (a stand-in for any code an attacker runs)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def save_payload(path, marker, wrap=lambda p: {"model": p, "train_args": {}}):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(wrap(Payload(marker)), path)
    return path


def hashed_name(path, stem: str) -> str:
    """``stem-<first 8 hex of sha256>.pth``: torchvision's checkpoint naming."""
    return f"{stem}-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}.pth"


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("DETBENCH_OFFLINE", "1")  # nothing is downloaded in these tests
    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    return ckpt


# ---------------------------------------------------------------------------------- ultralytics


def test_ultralytics_pt_payload_is_refused_without_trust(tmp_path):
    pytest.importorskip("ultralytics")
    marker = tmp_path / "PWNED"
    pt = save_payload(tmp_path / "evil.pt", marker)
    with pytest.raises(ValueError) as err:
        build("yolov8n", CLASSES, weights=str(pt))
    assert not marker.exists()
    msg = str(err.value)
    assert str(pt) in msg and "pickle" in msg and "arbitrary code" in msg and "trust_pickle=true" in msg and "ONNX" in msg


def test_ultralytics_trust_pickle_loads_own_file_and_is_recorded(tmp_path):
    pytest.importorskip("ultralytics")
    torch.manual_seed(0)
    a = build("yolov8n", CLASSES, weights="random", tiny=True)  # random weights: no flag needed
    assert a.describe()["trust_pickle"] is False
    a.model.names = dict(enumerate(CLASSES))
    torch.save({"model": a.model, "train_args": {}}, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="trust_pickle"):
        build("yolov8n", CLASSES, weights=str(tmp_path / "m.pt"), tiny=True)
    b = build("yolov8n", CLASSES, weights=str(tmp_path / "m.pt"), tiny=True, trust_pickle=True)
    assert b.model_names == CLASSES and b.describe()["trust_pickle"] is True
    (da,), (db,) = a.predict(IMAGES), b.predict(IMAGES)
    np.testing.assert_allclose(da.scores, db.scores, rtol=1e-5, atol=1e-6)


def test_trust_pickle_is_a_documented_ultralytics_option():
    from detectors.options import FAMILY_ARGS, check_detector_args

    assert "code" in FAMILY_ARGS["ultralytics"]["trust_pickle"].lower()
    check_detector_args("ultralytics", {"trust_pickle": True})
    with pytest.raises(ValueError):
        check_detector_args("torchvision", {"trust_pickle": True})


# ---------------------------------------------------------------------------------- torchvision hub cache


def test_torchvision_cached_payload_under_official_name_is_refused(torch_home, tmp_path):
    marker = tmp_path / "PWNED"
    official = torch_home / REGISTRY[TV][1]["checkpoint"]
    save_payload(official, marker, wrap=lambda p: {"backbone.body.0.0.weight": p})
    with pytest.raises(ValueError) as err:
        build(TV, CLASSES, tiny=True)
    assert not marker.exists()
    assert str(official) in str(err.value) and "sha256" in str(err.value)


def test_torchvision_cached_payload_with_matching_hash_is_refused(torch_home, tmp_path):
    """Even a file whose hash fits its name (a planted name) loads with weights_only=True."""
    marker = tmp_path / "PWNED"
    staged = save_payload(tmp_path / "staged.pth", marker, wrap=lambda p: {"backbone.body.0.0.weight": p})
    name = hashed_name(staged, TV)
    staged.rename(torch_home / name)
    with pytest.raises(ValueError) as err:
        build(TV, CLASSES, tiny=True, checkpoint=name)
    assert not marker.exists()
    assert str(torch_home / name) in str(err.value) and "state dict" in str(err.value)


def test_torchvision_cached_state_dict_with_matching_hash_loads(torch_home, tmp_path):
    torch.manual_seed(0)
    a = build(TV, CLASSES, weights="random", tiny=True, num_classes=91)
    staged = tmp_path / "staged.pth"
    torch.save(a.model.state_dict(), staged)
    name = hashed_name(staged, TV)
    staged.rename(torch_home / name)
    b = build(TV, CLASSES, tiny=True, checkpoint=name)
    for k, v in a.model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            torch.testing.assert_close(b.model.state_dict()[k], v, msg=k)
    assert b.describe()["weights_source"] == b.weights_enum.url and b.checkpoint_file == str(torch_home / name)
    (da,), (db,) = a.predict(IMAGES), b.predict(IMAGES)  # same weights: same detections (BatchNorm vs frozen BN in eval)
    np.testing.assert_allclose(da.scores, db.scores, rtol=1e-4, atol=1e-5)


def test_torchvision_cached_file_without_hash_in_name_is_refused(torch_home):
    from detectors.weights import WeightsRejected, verified_state_dict

    bad = torch_home / "nohash.pth"
    torch.save({"w": torch.zeros(1)}, bad)
    with pytest.raises(WeightsRejected, match="hash"):
        verified_state_dict(bad)


# ---------------------------------------------------------------------------------- local --weights file.pth


def test_local_pth_payload_is_refused_with_the_path(tmp_path):
    marker = tmp_path / "PWNED"
    pth = save_payload(tmp_path / "evil.pth", marker, wrap=lambda p: {"backbone.body.0.0.weight": p})
    with pytest.raises(ValueError) as err:
        build(TV, CLASSES, weights=str(pth), tiny=True)
    assert not marker.exists()
    assert str(pth) in str(err.value) and "state dict" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"this is not a checkpoint", "truncated"])
def test_local_pth_garbage_empty_truncated_give_a_clear_error(tmp_path, content):
    pth = tmp_path / "bad.pth"
    if content == "truncated":
        torch.save({"w": torch.zeros(1000)}, pth)
        content = pth.read_bytes()[: len(pth.read_bytes()) // 2]
    pth.write_bytes(content)
    with pytest.raises(ValueError) as err:
        build(TV, CLASSES, weights=str(pth), tiny=True)
    assert str(pth) in str(err.value) and "state dict" in str(err.value)


# ---------------------------------------------------------------------------------- HF local folder


def test_hf_pytorch_model_bin_payload_is_refused(tmp_path):
    pytest.importorskip("transformers")
    a = build("detr_resnet50", CLASSES, weights="random", tiny=True)
    a.model.save_pretrained(tmp_path, safe_serialization=False) if _accepts_safe_serialization() else a.model.save_pretrained(tmp_path)
    a.processor.save_pretrained(tmp_path)
    for f in tmp_path.glob("*.safetensors*"):
        f.unlink()
    marker = tmp_path / "PWNED"
    save_payload(tmp_path / "pytorch_model.bin", marker, wrap=lambda p: {"model.backbone.x": p})
    with pytest.raises(Exception):
        build("detr_resnet50", CLASSES, weights=str(tmp_path))
    assert not marker.exists()


def _accepts_safe_serialization() -> bool:
    import inspect

    from transformers import PreTrainedModel

    return "safe_serialization" in inspect.signature(PreTrainedModel.save_pretrained).parameters


def test_hf_model_loads_ask_for_weights_only():
    pytest.importorskip("transformers")
    from detectors.hf_common import safe_load_kwargs

    assert dict(safe_load_kwargs()) in ({"weights_only": True}, {"use_safetensors": True})
