"""Tiny models built inside the tests (no network): ONNX exports in every layout, shaped as the
official exporters shape them (names, output counts). They prove plumbing only; the embedded
real exports (detectors/embedded/) prove the conventions."""

from __future__ import annotations

import warnings

import numpy as np

from detectors.yolo_decode import nanodet_priors


def _raw_template(layout: str, num_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A plausible raw output for one image, in the layout's shape, input-pixel coordinates."""
    if layout in ("nanodet", "nanodet-plus"):
        n = len(nanodet_priors((size, size), (8, 16, 32) if layout == "nanodet" else (8, 16, 32, 64))[0])
        return np.concatenate([rng.uniform(0, 1, (n, num_classes)), rng.normal(0, 1, (n, 32))], 1)
    if layout == "yolox":  # raw head: offsets in cells, log sizes, sigmoid obj / cls
        n = sum((size // s) ** 2 for s in (8, 16, 32))
        return np.concatenate([rng.uniform(-0.5, 1.5, (n, 2)), rng.uniform(-1, 2, (n, 2)), rng.uniform(0, 1, (n, 1 + num_classes))], 1)
    n = sum((size // s) ** 2 for s in (8, 16, 32)) * (3 if layout == "yolov5" else 1)  # the exporters' row counts
    cxcy = rng.uniform(8, size - 8, (n, 2))
    wh = rng.uniform(4, size / 2, (n, 2))
    cls = rng.uniform(0, 1, (n, num_classes))
    if layout == "yolov8":
        return np.concatenate([cxcy, wh, cls], 1).T  # [4 + C, N]
    if layout in ("yolov5", "yolox-decoded"):
        return np.concatenate([cxcy, wh, rng.uniform(0, 1, (n, 1)), cls], 1)
    if layout == "end2end":
        n = 24
        xyxy = np.concatenate([cxcy[:n] - wh[:n] / 2, cxcy[:n] + wh[:n] / 2], 1)
        return np.concatenate([xyxy, np.sort(rng.uniform(0, 1, (n, 1)), 0)[::-1], rng.integers(0, num_classes, (n, 1))], 1)
    raise ValueError(layout)


def _outputs(layout: str, template: np.ndarray, num_classes: int, size: int) -> dict[str, np.ndarray]:
    """Output name -> array [1, ...] as the exporter names them (NanoDet v0.x: six outputs)."""
    if layout != "nanodet":
        return {"output0": template[None]}
    out, start = {}, 0
    for s in (8, 16, 32):
        n = (-(-size // s)) ** 2
        out[f"cls_pred_stride_{s}"] = template[None, start: start + n, :num_classes]
        out[f"dis_pred_stride_{s}"] = template[None, start: start + n, num_classes:]
        start += n
    return dict(sorted(out.items(), key=lambda kv: kv[0].startswith("dis")))


def export_tiny_onnx(path, layout: str, num_classes: int = 3, size: int = 64, names=None, seed: int = 0) -> np.ndarray:
    """Export a tiny torch model whose outputs are a fixed template (the layout's shape) plus a
    small input-dependent term, so the graph really reads its input. Returns the template
    (one image's raw array as ``detectors.yolo_decode.candidates`` reads it)."""
    import onnx
    import torch

    template = _raw_template(layout, num_classes, size, np.random.default_rng(seed)).astype(np.float32)
    outputs = _outputs(layout, template, num_classes, size)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)
            for i, arr in enumerate(outputs.values()):
                self.register_buffer(f"t{i}", torch.from_numpy(np.ascontiguousarray(arr)))

        def forward(self, images):
            eps = 0.0 * self.conv(images).mean()
            return tuple(getattr(self, f"t{i}") + eps for i in range(len(outputs)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Tiny().eval(), torch.zeros(1, 3, size, size), str(path), input_names=["images"],
                          output_names=list(outputs), dynamo=False)  # fmt: skip
    if names is not None:  # what ultralytics exports carry
        model = onnx.load(str(path))
        for k, v in {"names": str(dict(enumerate(names))), "imgsz": str([size, size]), "stride": "32"}.items():
            model.metadata_props.add(key=k, value=v)
        onnx.save(model, str(path))
    return template
