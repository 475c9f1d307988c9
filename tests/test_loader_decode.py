"""The loader's device-side JPEG decode (``decode="device"``), run here on CPU tensors: the same
pixels as the CPU path, the same detections from a real detector, PNGs and unreadable files
handled as before."""

from __future__ import annotations

import numpy as np
import pytest

from bench.run.loader import iterate, loader_speed

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


def _mini():
    from bench.data.catalog import load_dataset

    ds, root, _ = load_dataset("coco-val2017-mini")
    return ds, root


def test_device_decode_on_cpu_gives_the_cpu_paths_pixels():
    ds, root = _mini()
    idx = list(range(6))
    cpu = [it for b in iterate(root, ds.images.files, idx, 4) for it in b]
    dev = [it for b in iterate(root, ds.images.files, idx, 4, "cpu", decode="device") for it in b]
    assert [i for i, _, _ in cpu] == [i for i, _, _ in dev] == idx
    for (_, a, ea), (_, t, et) in zip(cpu, dev):
        assert ea is None and et is None and isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.shape[0] == 3
        np.testing.assert_array_equal(t.permute(1, 2, 0).numpy(), a)


def test_png_and_unreadable_files_take_the_cpu_path(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((5, 7, 3), 40, np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff" + b"broken")
    items = [it for b in iterate(tmp_path, ["a.png", "b.jpg", "missing.jpg"], [0, 1, 2], 3, decode="device") for it in b]
    assert isinstance(items[0][1], np.ndarray) and items[0][1].shape == (5, 7, 3) and items[0][2] is None
    assert items[1][1] is None and "b.jpg" in items[1][2]
    assert items[2][1] is None and "missing.jpg" in items[2][2]
    with pytest.raises(ValueError, match="decode must be"):
        next(iterate(tmp_path, ["a.png"], [0], 1, decode="gpu"))


def test_a_real_detector_gives_identical_detections_on_device_decoded_images():
    pytest.importorskip("onnxruntime")
    from detectors.registry import build

    ds, root = _mini()
    det = build("yolox_nano", list(ds.categories.names))
    idx = [0, 1, 2]
    cpu = [im for b in iterate(root, ds.images.files, idx, 3) for _, im, _ in b]
    dev = [im for b in iterate(root, ds.images.files, idx, 3, decode="device") for _, im, _ in b]
    for a, b in zip(det.predict(cpu), det.predict(dev)):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)
    assert loader_speed(root, ds.images.files, idx, decode="device")["decode"] == "device"


def test_bench_run_decode_device_scores_as_the_cpu_path_and_records_it(tmp_path):
    """``bench run --decode device`` (here on CPU tensors): the unit records where JPEGs were
    decoded, in its settings and its loader figure, and its AP equals the CPU-decoded unit's."""
    pytest.importorskip("onnxruntime")
    from bench.cli.main import main
    from bench.jsonio import load_json
    from bench.protocols import get_protocol
    from bench.run.unit import UnitSettings, run_unit

    ds, root = _mini()
    recs = {}
    for decode in (None, "device"):
        s = UnitSettings(dataset="coco-val2017-mini", detector="yolox_nano", max_images=8, decode=decode)
        recs[decode] = run_unit(s, ds, root, get_protocol("coco"), tmp_path / "units", {}, speed=False, log=lambda m: None)
    cpu, dev = recs[None], recs["device"]
    assert cpu["status"] == dev["status"] == "ok"
    assert "decode" not in cpu["settings"] and dev["settings"]["decode"] == "device" and cpu["settings_key"] != dev["settings_key"]
    assert cpu["loader"]["decode"] == "cpu" and dev["loader"]["decode"] == "device"
    assert cpu["metrics_summary"] == dev["metrics_summary"] and cpu["metrics_summary"]["AP"] > 0.1

    assert main(["run", "--detector", "yolox_nano", "--dataset", "coco-val2017-mini", "--max-images", "3", "--decode", "device",
                 "--out", str(tmp_path / "runs")]) == 0  # fmt: skip
    (record,) = (tmp_path / "runs").rglob("record.json")
    assert load_json(record)["settings"]["decode"] == "device"


def test_bench_all_passes_decode_to_every_unit(monkeypatch, tmp_path):
    from bench.cli.main import build_parser
    from bench.run import unit

    seen = []
    monkeypatch.setenv("DETBENCH_OFFLINE", "1")
    monkeypatch.setattr(unit, "run_unit", lambda s, *a, **k: seen.append(s.decode) or {"status": "failed", "error": "stop"})
    args = build_parser().parse_args(["all", "--detectors", "yolox_nano", "--decode", "device", "--out", str(tmp_path / "r"),
                                      "--reports", str(tmp_path / "rep"), "--cache", str(tmp_path)])  # fmt: skip
    try:
        args.func(args)
    except Exception:
        pass  # the faked unit is no real record; only what reached run_unit matters here
    assert seen == ["device"]
