"""ultralytics YOLO (v8, 11, and the NMS-free v10 / 26) as a torch model, with detbench's own
letterbox and NMS (``detectors.yolo_decode``) so that stages and settings are explicit.

Segmentation models (``task="segment"``, e.g. ``yolov8n-seg``): the head's mask coefficients
follow each detection through detbench's decode and NMS; the masks are then made as
ultralytics' segment predictor makes them with ``retina_masks=True`` (``ops.process_mask_native``:
prototypes x coefficients, letterbox-aware upsampling to the ORIGINAL image, > 0, cropped to the
box), in ``postprocess``, kept detections only. Unlike the predictor (which drops detections
whose mask is empty), every detection is kept, as ultralytics' validator keeps them.

ultralytics is AGPL-3.0: it is an optional extra (``pip install detbench[yolo]``), never part
of the default install. Weights: a local ``.pt`` file, or an official name (``yolov8n.pt``)
which ultralytics downloads when the network allows; ``weights="random"`` builds the model from
its YAML (``variant``) with the dataset's classes.

A ``.pt`` file is a full pickle (ultralytics loads it with ``weights_only=False``): unpickling
it can run arbitrary code from the file. It is refused unless ``trust_pickle=true``
(``--detector-arg trust_pickle=true``), which ``describe()`` records; random weights need no flag.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from detectors.base import Detector, count_parameters, torch_dtype
from detectors.labels import build_label_map
from detectors.weights import WeightsRejected, network_timeout, require_hub, unavailable
from detectors.yolo_decode import DEFAULTS, YoloBase, rect_input


class UltralyticsDetector(YoloBase, Detector):
    """weights_name: the official checkpoint (e.g. "yolov8n.pt"); variant: its YAML for random
    weights; imgsz: square input size; published: reference accuracy from ultralytics' docs."""

    family = "ultralytics"

    def __init__(self, classes: Sequence[str], weights_name: str = "yolov8n.pt", variant: str = "yolov8n.yaml",
                 imgsz: int = 640, published: dict | None = None, multi_label: bool = True, tiny: bool = False,
                 trust_pickle: bool | str = False, task: str = "detect", rect: bool | str = False, **common):
        super().__init__(classes, **common)
        self.trust_pickle = _flag(trust_pickle, "trust_pickle")
        self.rect = _flag(rect, "rect")
        os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks or telemetry
        from ultralytics import YOLO
        from ultralytics.nn.tasks import DetectionModel, SegmentationModel

        if task not in ("detect", "segment"):
            raise ValueError(f"task must be detect or segment, got {task!r}")
        self.variant, self.published, self.task = variant, dict(published or {}), task
        self.masks = task == "segment"
        if self.random_weights:
            model = (SegmentationModel if self.masks else DetectionModel)(variant, nc=len(self.classes), verbose=False)
            _plausible_class_bias(model)
            names = list(self.classes)
            self.weights_source = "random"
        else:
            path = Path(self.weights or weights_name)
            why = None if path.exists() else ("file not found" if self.weights else require_hub("ultralytics"))
            if why:
                raise unavailable(str(path), weights_name, why, Path.cwd(), "a .pt file saved by ultralytics")
            if not self.trust_pickle and path.suffix.lower() not in (".yaml", ".yml"):
                raise WeightsRejected(
                    f"{path}: refused: an ultralytics {path.suffix or '.pt'} file is a pickle, and loading it can run arbitrary "
                    f"code from the file (ultralytics loads it with torch.load(weights_only=False)). Export it to ONNX and run "
                    f"that (--detector onnx --weights model.onnx), or pass --detector-arg trust_pickle=true "
                    f"(trust_pickle=True in Python) only for a file you trust"
                )
            try:
                with network_timeout():
                    yolo = YOLO(str(path))
            except Exception as e:
                raise unavailable(str(path), weights_name, e, Path.cwd(), "a .pt file saved by ultralytics") from e
            model = yolo.model
            if getattr(yolo, "task", task) != task:
                raise WeightsRejected(f"{path}: an ultralytics {yolo.task} model, not a {task} model (choose a matching detector)")
            names = [yolo.names[i] for i in sorted(yolo.names)]
            self.weights_source = str(path.resolve()) if path.exists() else weights_name
        if hasattr(model, "fuse"):
            model = model.fuse(verbose=False) if "verbose" in model.fuse.__code__.co_varnames else model.fuse()
        self.model = model.eval().to(self.device, torch_dtype(self.dtype))
        self.end2end = bool(getattr(self.model, "end2end", False))
        self.layout = "end2end" if self.end2end else "yolov8"
        self.pre, default_iou = DEFAULTS["yolov8"]
        self.iou = float(self.nms_iou) if self.nms_iou is not None else default_iou
        self.multi_label = bool(multi_label)
        self.input_size = (64, 64) if tiny else (int(imgsz), int(imgsz))
        self.model_names = names
        self.num_model_classes = len(names)
        self.label_map = build_label_map(names, self.classes)

    def batch_input(self, shapes):
        """``rect``: as ``model.predict`` (``rect=True``), the minimum rectangle (the kept-ratio
        size padded up to a multiple of the model's largest stride) when every image of the batch
        has the same shape, else the square ``imgsz`` input, as ultralytics' predictor decides."""
        if not self.rect or len(set(shapes)) != 1:
            return self.input_size, None
        return rect_input(shapes[0], self.input_size[0], int(max(self.model.stride)))

    def to_input(self, x):
        import torch

        return torch.from_numpy(x).to(self.device, torch_dtype(self.dtype))

    def forward(self, batch):
        import torch

        with torch.inference_mode():
            out = self.model(batch.inputs)
        out = out[0] if isinstance(out, (tuple, list)) else out
        if self.masks:  # (pred [B, 4 + C + 32, N], prototypes [B, 32, H / 4, W / 4]); masks are made in postprocess
            pred, protos = out
            return pred.float().cpu().numpy(), protos.float()
        if isinstance(out, dict):  # end2end heads return a dict in some versions
            out = out.get("one2one", next(iter(out.values())))
        return out.float().cpu().numpy()

    def mask_maker(self, protos, coeffs, boxes, size: tuple[int, int]):
        """For ``finalize``: the masks of chosen rows, as ultralytics' segment predictor makes them
        with ``retina_masks=True``. protos: [32, h, w]; coeffs: [N, 32]; boxes: [N, 4] XYXY in
        ORIGINAL pixels (clipped, as the predictor's ``scale_boxes``); size: (H, W) of the original."""

        def make(rows):
            import torch
            from ultralytics.utils import ops

            from detectors.base import encode_binary_masks

            with torch.inference_mode():
                sel = lambda a: torch.from_numpy(np.ascontiguousarray(a[rows], np.float32)).to(protos.device)  # noqa: E731
                return encode_binary_masks(ops.process_mask_native(protos, sel(coeffs), sel(boxes), size), size)

        return make

    def describe(self) -> dict:
        extra = {"task": self.task, "masks": MASKS_NOTE} if self.masks else {}
        return {
            **super().describe(), **self.yolo_describe(), **extra, "rect": self.rect,
            "variant": self.variant, "weights_id": "random" if self.random_weights else Path(self.weights or "").name or self.variant,
            "weights_source": self.weights_source, "trust_pickle": self.trust_pickle,
            "licence": "AGPL-3.0 (ultralytics, optional extra)",
            "parameters": count_parameters(self.model), "published": {} if self.random_weights else self.published,
        }  # fmt: skip


def _flag(value, name: str) -> bool:
    """A boolean detector-arg: True / False, or the words true / false (yes / no, 1 / 0)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "yes", "1"):
        return True
    if word in ("false", "no", "0", "none", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


MASKS_NOTE = ("ultralytics ops.process_mask_native (the segment predictor with retina_masks=True): prototypes x coefficients, "
              "letterbox-aware upsampling to the original image, > 0, cropped to the box; compressed RLE; empty masks kept")
RANDOM_CLASS_PRIOR = 0.01


def _plausible_class_bias(model) -> None:
    """A fresh ultralytics head starts its class logits near -9 (prior 5 / nc / cells), so a
    random model scores every candidate under 0.001 and its timing skips all NMS work. Set the
    prior to 1 %: at conf 0.001 the candidate counts, and so the NMS cost, resemble a trained
    model's. Speed runs only; random weights never give a meaningful AP."""
    import math

    import torch

    head = model.model[-1]
    for branch in [*getattr(head, "cv3", []), *getattr(head, "one2one_cv3", [])]:
        bias = branch[-1].bias
        spread = torch.linspace(-1.0, 1.0, bias.numel(), dtype=bias.dtype)  # distinct per class: no tied scores
        with torch.no_grad():
            bias.copy_(math.log(RANDOM_CLASS_PRIOR / (1 - RANDOM_CLASS_PRIOR)) + spread)
