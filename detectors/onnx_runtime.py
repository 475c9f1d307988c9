"""ONNX Runtime adapter for exported detectors (what users deploy).

Takes the model file (``weights``) and its output ``layout`` (see ``detectors.yolo_decode``),
and reads what the export carries in its metadata: ultralytics exports store ``names`` and
``imgsz``; a static input shape also gives the input size. Anything else can be passed:
``input_size``, ``colour`` ("rgb"/"bgr"), ``scale``/``mean``/``std``, ``model_classes``.
No torch needed: letterbox, decoding and NMS are numpy.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from detectors.base import Detector
from detectors.labels import COCO80, build_label_map
from detectors.yolo_decode import DEFAULTS, LAYOUTS, YoloBase


def _metadata(session) -> dict:
    meta = dict(session.get_modelmeta().custom_metadata_map or {})
    out = {}
    for k, v in meta.items():
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


class OnnxDetector(YoloBase, Detector):
    family = "onnxruntime"

    def __init__(self, classes: Sequence[str], layout: str = "yolov8", input_size: int | Sequence[int] | None = None,
                 colour: str | None = None, scale: float | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, model_classes: Sequence[str] | None = None, multi_label: bool = True, **common):
        super().__init__(classes, **common)
        import onnxruntime as ort

        if layout not in LAYOUTS:
            raise ValueError(f"unknown ONNX output layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
        if not self.weights or self.weights == "random":
            raise ValueError("the ONNX detector needs a model file: pass --weights path/to/model.onnx "
                             "(random weights are not possible for an exported graph)")
        path = Path(self.weights)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX model file not found")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if str(self.device).startswith("cuda") else ["CPUExecutionProvider"]
        providers = [p for p in providers if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(path), providers=providers)
        self.meta = _metadata(self.session)
        inp = self.session.get_inputs()[0]
        self.input_name, self.input_type = inp.name, inp.type
        self.static_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        if input_size is None:
            input_size = self.meta.get("imgsz") or [d if isinstance(d, int) else None for d in inp.shape[2:]]
            if None in list(input_size):
                raise ValueError(f"{path}: the input size is dynamic and not in the metadata; pass input_size=H,W")
        size = [int(input_size)] * 2 if isinstance(input_size, (int, np.integer)) else [int(v) for v in input_size]
        self.input_size = (size[0], size[-1])
        self.layout = layout
        pre, default_iou = DEFAULTS[layout]
        changes = {k: v for k, v in {"colour": colour, "scale": scale, "mean": tuple(mean) if mean else None,
                                      "std": tuple(std) if std else None}.items() if v is not None}  # fmt: skip
        self.pre = replace(pre, **changes)
        self.iou = float(self.nms_iou) if self.nms_iou is not None else default_iou
        self.multi_label = bool(multi_label)
        names = self.meta.get("names")
        if model_classes:
            self.model_names, self.names_source = [str(c) for c in model_classes], "model_classes argument"
        elif isinstance(names, dict):
            self.model_names, self.names_source = [names[i] for i in sorted(names)], "model metadata"
        elif isinstance(names, (list, tuple)):
            self.model_names, self.names_source = list(names), "model metadata"
        else:
            self.model_names, self.names_source = list(COCO80), "assumed COCO 80-class order (no names in the model)"
        self.num_model_classes = len(self.model_names)
        self.label_map = build_label_map(self.model_names, self.classes)
        self.cap_factor = 1 if self.label_map.mapped == self.num_model_classes else 10

    def compile(self, **options) -> None:
        raise NotImplementedError("torch.compile does not apply to an ONNX Runtime session")

    def channels_last(self) -> None:
        raise NotImplementedError("an ONNX Runtime session has no torch memory format")

    def to_input(self, x: np.ndarray):
        return x.astype(np.float16) if "float16" in self.input_type else x

    def forward(self, batch):
        x = batch.inputs
        if self.static_batch == 1 and len(x) > 1:
            return np.concatenate([self.session.run(None, {self.input_name: x[i: i + 1]})[0] for i in range(len(x))])
        return self.session.run(None, {self.input_name: x})[0]

    def describe(self) -> dict:
        return {
            **super().describe(), **self.yolo_describe(),
            "variant": Path(self.weights).name, "weights_id": Path(self.weights).name, "weights_source": str(Path(self.weights).resolve()),
            "providers": self.session.get_providers(), "class_names": self.names_source,
            "metadata": {k: v for k, v in self.meta.items() if k != "names"},
            "parameters": None, "published": {},
        }  # fmt: skip
