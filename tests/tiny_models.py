"""Tiny models built inside the tests (no network): ONNX exports in every YOLO layout."""

from __future__ import annotations

import warnings

import numpy as np

from detectors.yolo_decode import nanodet_priors


def _raw_template(layout: str, num_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A plausible raw output for one image, in the layout's shape, input-pixel coordinates."""
    if layout == "nanodet":
        n = len(nanodet_priors((size, size))[0])
        return np.concatenate([rng.uniform(0, 1, (n, num_classes)), rng.normal(0, 1, (n, 32))], 1)
    n = 24
    cxcy = rng.uniform(8, size - 8, (n, 2))
    wh = rng.uniform(4, size / 2, (n, 2))
    cls = rng.uniform(0, 1, (n, num_classes))
    if layout == "yolov8":
        return np.concatenate([cxcy, wh, cls], 1).T  # [4 + C, N]
    if layout in ("yolov5", "yolox"):
        return np.concatenate([cxcy, wh, rng.uniform(0, 1, (n, 1)), cls], 1)
    if layout == "end2end":
        xyxy = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1)
        return np.concatenate([xyxy, np.sort(rng.uniform(0, 1, (n, 1)), 0)[::-1], rng.integers(0, num_classes, (n, 1))], 1)
    raise ValueError(layout)


def export_tiny_onnx(path, layout: str, num_classes: int = 3, size: int = 64, names=None, seed: int = 0) -> np.ndarray:
    """Export a tiny torch model whose output is a fixed template (the layout's shape) plus a
    small input-dependent term, so the graph really reads its input. Returns the template."""
    import onnx
    import torch

    template = _raw_template(layout, num_classes, size, np.random.default_rng(seed)).astype(np.float32)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)
            self.register_buffer("template", torch.from_numpy(template)[None])

        def forward(self, images):
            return self.template + 0.0 * self.conv(images).mean()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Tiny().eval(), torch.zeros(1, 3, size, size), str(path), input_names=["images"], output_names=["output0"], dynamo=False)
    if names is not None:  # what ultralytics exports carry
        model = onnx.load(str(path))
        for k, v in {"names": str(dict(enumerate(names))), "imgsz": str([size, size]), "stride": "32"}.items():
            model.metadata_props.add(key=k, value=v)
        onnx.save(model, str(path))
    return template
