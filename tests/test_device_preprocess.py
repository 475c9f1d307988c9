"""Device-side preprocessing of the HF families (``--detector-arg preprocess=device``), run on CPU
tensors here: the same pixels and the same detections as the CPU path on real images (random
weights: pretrained HF weights cannot be downloaded here, so AP is not measurable; the pixel
and output differences are what this proves). The CPU path stays the default and selectable."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def _images(n=3):
    from bench.data.catalog import load_dataset
    from bench.data.images import load_image

    ds, root, _ = load_dataset("coco-val2017-mini")
    return list(ds.categories.names), [load_image(root / f) for f in ds.images.files[:n]]


@pytest.mark.parametrize("name", ["rtdetr_r50vd", "detr_resnet50"])
def test_hf_device_preprocess_equals_the_cpu_path_on_cpu_tensors(name):
    from detectors.registry import build

    classes, images = _images()
    torch.manual_seed(0)
    cpu = build(name, classes, weights="random", tiny=True)
    dev = build(name, classes, weights="random", tiny=True, preprocess="device")
    dev.model = cpu.model  # the same random network: only the preprocessing path differs
    assert cpu.describe()["preprocess"]["where"] == "cpu" and dev.describe()["preprocess"]["where"] == "device"
    a, b = cpu.preprocess(images), dev.preprocess(images)
    assert a.inputs.keys() == b.inputs.keys()
    for k in a.inputs:
        assert torch.equal(a.inputs[k], b.inputs[k]), k
    for x, y in zip(cpu.predict(images), dev.predict(images)):
        np.testing.assert_array_equal(x.boxes, y.boxes)
        np.testing.assert_array_equal(x.scores, y.scores)


def test_open_vocabulary_device_preprocess_equals_the_cpu_path():
    from detectors.registry import build

    classes, images = _images(2)
    torch.manual_seed(0)
    cpu = build("owlv2_base_patch16_ensemble", classes[:3], weights="random", tiny=True)
    dev = build("owlv2_base_patch16_ensemble", classes[:3], weights="random", tiny=True, preprocess="device")
    assert dev.describe()["preprocess"]["where"] == "device"
    a, b = cpu.preprocess(images), dev.preprocess(images)
    for k in a.inputs:
        if isinstance(a.inputs[k], torch.Tensor):
            assert torch.equal(a.inputs[k], b.inputs[k]), k


def test_preprocess_values_are_checked_and_slow_processors_stay_on_the_cpu():
    from detectors.hf_common import preprocess_where
    from detectors.registry import build

    classes, _ = _images(1)
    with pytest.raises(ValueError, match="cpu or device"):
        build("rtdetr_r50vd", classes, weights="random", tiny=True, preprocess="gpu")

    class Slow:
        pass

    where, note = preprocess_where(Slow(), "device")
    assert where == "cpu" and "not torch-backed" in note
