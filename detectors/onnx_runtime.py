"""ONNX Runtime adapter for exported detectors (what users deploy).

Takes the model file (``weights``; registry entries with ``embedded`` ship their own) and its
output ``layout`` (``auto`` reads it from the graph: ``detectors.onnx_layouts``; the layouts
are documented in ``detectors.yolo_decode``). It reads what the export carries in its metadata:
ultralytics exports store ``names`` and ``imgsz``; a static input shape also gives the input
size. Anything else is a ``--detector-arg``: ``layout``, ``input_size``, ``colour``
("rgb"/"bgr"), ``scale``, ``mean``, ``std``, ``resize`` ("letterbox"/"warp"), ``keep_ratio``,
``centre``, ``pad_value``, ``model_classes``, ``multi_label``, ``provider`` (auto, cpu, cuda,
tensorrt) and ``cpu_fallback`` (``detectors.onnx_providers``: ``--device cuda`` without a GPU
provider is an error unless this asks for a recorded CPU fallback). No torch needed.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from detectors.base import Detector
from detectors.labels import COCO80, build_label_map
from detectors.onnx_layouts import detect, fitting, nanodet_v0_outputs
from detectors.onnx_providers import check_session, choose
from detectors.yolo_decode import LAYOUTS, YoloBase, prepare


def _metadata(session) -> dict:
    meta = dict(session.get_modelmeta().custom_metadata_map or {})
    out = {}
    for k, v in meta.items():
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def _classes_in(layout: str, outputs: list[tuple[str, list]], v0_pairs: dict | None) -> int | None:
    """The number of classes the export's outputs hold, from their static shapes (None: unknown)."""
    shapes = dict(outputs)
    if v0_pairs:  # NanoDet v0.x: the last dimension of a cls_pred_stride_S output
        c = shapes[next(iter(v0_pairs.values()))[0]][-1]
        return c if isinstance(c, int) else None
    shape = outputs[0][1]
    dims = shape[1:] if len(shape) == 3 else shape
    if not all(isinstance(d, int) for d in dims) or layout == "end2end":
        return None
    return {"yolov8": dims[0] - 4, "yolov5": dims[1] - 5, "yolox": dims[1] - 5, "yolox-decoded": dims[1] - 5,
            "nanodet-plus": dims[1] - 32}[layout]  # fmt: skip


def _input_size(given, shape: list, path: Path) -> tuple[int, int]:
    """(h, w) from ``input_size`` (one int or H,W), checked against a static input shape."""
    values = [given] if isinstance(given, (int, np.integer)) else list(given)
    if len(values) not in (1, 2) or not all(isinstance(v, (int, np.integer)) and v > 0 for v in values):
        raise ValueError(f"input_size must be one positive int or H,W, got {given!r}")
    h, w = int(values[0]), int(values[-1])
    static = shape[2:] if len(shape) == 4 else []
    if all(isinstance(d, int) for d in static) and static and list(static) != [h, w]:
        raise ValueError(f"{path}: the model's input is fixed at {static[0]}x{static[1]}; input_size={given!r} cannot be used")
    return h, w


class OnnxDetector(YoloBase, Detector):
    family = "onnxruntime"

    def __init__(self, classes: Sequence[str], layout: str = "auto", input_size: int | Sequence[int] | None = None,
                 colour: str | None = None, scale: float | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, resize: str | None = None, keep_ratio: bool | None = None,
                 centre: bool | None = None, pad_value: float | None = None, model_classes: Sequence[str] | None = None,
                 multi_label: bool | None = None, embedded: str | None = None, published: dict | None = None,
                 provider: str = "auto", cpu_fallback: bool = False, **common):
        super().__init__(classes, **common)
        import onnxruntime as ort

        if layout != "auto" and layout not in LAYOUTS:
            raise ValueError(f"unknown ONNX output layout {layout!r}; expected auto or one of {', '.join(LAYOUTS)}")
        self.embedded = None
        if embedded and not self.weights:
            from detectors.embedded import verified_path

            self.embedded = embedded
            self.weights = str(verified_path(embedded))
        if not self.weights or self.weights == "random":
            raise ValueError("the ONNX detector needs a model file: pass --weights path/to/model.onnx "
                             "(random weights are not possible for an exported graph)")
        path = Path(self.weights)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX model file not found")
        self.provider = choose(provider, self.device, list(ort.get_available_providers()), bool(cpu_fallback), str(path))
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 3  # errors only: old exporters list weights as inputs, which ORT warns about per tensor
            self.session = ort.InferenceSession(str(path), options, providers=self.provider.providers)
        except Exception as e:
            raise ValueError(f"{path}: not a loadable ONNX model ({type(e).__name__}: {str(e)[:300]})") from e
        self.provider = check_session(self.provider, list(self.session.get_providers()), bool(cpu_fallback), str(path))
        self.device = self.provider.device  # "cpu" after a recorded fallback: the record and every display say where it ran
        self.meta = _metadata(self.session)
        inp = self.session.get_inputs()[0]
        self.input_name, self.input_type = inp.name, inp.type
        self.static_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        if input_size is None:
            input_size = self.meta.get("imgsz") or [d if isinstance(d, int) else None for d in inp.shape[2:]]
            if None in list(input_size):
                raise ValueError(f"{path}: the input size is dynamic and not in the metadata; pass input_size=H,W")
        self.input_size = _input_size(input_size, inp.shape, path)
        self.outputs = [(o.name, list(o.shape)) for o in self.session.get_outputs()]
        self.layout_detected = layout == "auto"
        self.layout = detect(self.input_size, self.outputs, self._probe, str(path)) if layout == "auto" else layout
        self.v0_pairs = nanodet_v0_outputs([n for n, _ in self.outputs]) if self.layout == "nanodet" else None
        if self.layout == "nanodet" and not self.v0_pairs:
            raise ValueError(f"{path}: layout nanodet (v0.x) needs outputs cls_pred_stride_S / dis_pred_stride_S; found "
                             f"{[n for n, _ in self.outputs]} (a single-output NanoDet export is layout nanodet-plus)")
        self.strides = tuple(self.v0_pairs) if self.v0_pairs else None
        if self.layout == "end2end" and not (len(self.outputs[0][1]) in (2, 3) and self.outputs[0][1][-1] in (6, 7, None)):
            raise ValueError(f"{path}: layout end2end needs an output [1, K, 6] (x1, y1, x2, y2, score, class); found {self.outputs}")
        spec = LAYOUTS[self.layout]
        changes = {"colour": colour, "scale": scale, "mean": mean, "std": std, "resize": resize, "keep_ratio": keep_ratio,
                   "centre": centre, "pad_value": pad_value}  # fmt: skip
        self.pre = replace(spec.pre, **{k: v for k, v in changes.items() if v is not None})  # Preprocessing checks each value
        self.iou = float(self.nms_iou) if self.nms_iou is not None else spec.nms_iou
        self.multi_label = spec.multi_label if multi_label is None else bool(multi_label)
        self.published = dict(published or {})
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
        held = _classes_in(self.layout, self.outputs, self.v0_pairs)
        if held is not None and held != self.num_model_classes:
            raise ValueError(f"{path}: the {self.layout} output holds {held} classes but {self.num_model_classes} class names are "
                             f"known ({self.names_source}); pass model_classes=[...] with the model's {held} names in order")
        self.label_map = build_label_map(self.model_names, self.classes)

    def _probe(self) -> np.ndarray:
        """The first output for one mid-grey image (used to tell raw from decoded YOLOX heads)."""
        x, _ = prepare(np.full((self.input_size[0], self.input_size[1], 3), 128, np.uint8), self.input_size, LAYOUTS["yolox"].pre)
        return np.asarray(self.session.run(None, {self.input_name: self.to_input(x[None])})[0])[0]

    def compile(self, **options) -> None:
        raise NotImplementedError("torch.compile does not apply to an ONNX Runtime session")

    def channels_last(self) -> None:
        raise NotImplementedError("an ONNX Runtime session has no torch memory format")

    def to_input(self, x: np.ndarray):
        return x.astype(np.float16) if "float16" in self.input_type else x

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The graph on a batch -> the layout's raw array [B, ...] (NanoDet v0.x: its per-stride
        outputs joined as [B, N, C + 32] in stride order)."""
        outs = self.session.run(None, {self.input_name: x})
        if not self.v0_pairs:
            return np.asarray(outs[0])
        by_name = dict(zip([n for n, _ in self.outputs], outs))
        per = []
        for cls_name, dis_name in self.v0_pairs.values():
            c, d = (np.asarray(by_name[n], np.float32) for n in (cls_name, dis_name))
            c, d = c.reshape(len(x), -1, c.shape[-1]), d.reshape(len(x), -1, d.shape[-1])
            per.append(np.concatenate([c, d], -1))
        return np.concatenate(per, 1)

    def forward(self, batch):
        x = batch.inputs
        if self.static_batch == 1 and len(x) > 1:
            return np.concatenate([self._run(x[i: i + 1]) for i in range(len(x))])
        return self._run(x)

    def describe(self) -> dict:
        return {
            **super().describe(), **self.yolo_describe(),
            "layout_detected": self.layout_detected, "outputs": self.outputs,
            "variant": Path(self.weights).name, "weights_id": self.embedded or Path(self.weights).name,
            "weights_source": str(Path(self.weights).resolve()), "embedded": self.embedded,
            "providers": self.session.get_providers(), "provider": self.provider.wanted, "device_fallback": self.provider.fallback,
            "class_names": self.names_source,
            "metadata": {k: v for k, v in self.meta.items() if k != "names"},
            "parameters": None, "published": self.published,
        }  # fmt: skip


__all__ = ["OnnxDetector", "fitting"]
