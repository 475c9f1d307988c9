"""The detector contract: ``Detector.predict(images) -> list[Detections]``.

Every adapter splits inference into three steps that the timing harness can time apart:

- ``preprocess(images) -> Batch``: resize / normalise / pad on the detector's device,
- ``forward(batch) -> raw``: the network (plus whatever the library fuses into it, e.g. NMS
  inside torchvision's ROI heads; ``describe()`` says where NMS runs),
- ``postprocess(raw, batch) -> list[Detections]``: decoding, top-k, label mapping, rescaling
  to the original image, score threshold and the per-image cap.

Boxes are XYXY in absolute, continuous pixels of the ORIGINAL image (see ``bench.boxes``).
Instance masks (segmentation models only) are compressed RLE in the ORIGINAL image's pixels,
one per box; turning the network's mask output into them (pasting, thresholding, encoding) is
part of ``postprocess``, so latency counts it.
Heavy libraries (torch, transformers, onnxruntime) are imported inside the adapters only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

DTYPES = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Detections:
    """Predictions for ONE image.

    boxes:  float32 [N, 4], absolute pixel XYXY in the ORIGINAL image, inside the image.
    scores: float32 [N], higher is more confident, sorted descending.
    labels: int64  [N], index into the class names the detector was built with.
    masks:  None (the detector predicts no masks), or N instance masks in the same order as the
            boxes: compressed RLE dicts ``{"size": [H, W], "counts": str}`` (the COCO results
            form, pycocotools' encoding) of a binary mask over the ORIGINAL H x W image.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: list[dict] | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])


@dataclass
class Batch:
    """A preprocessed batch. ``sizes``: original (height, width) per image, in pixels;
    ``inputs``: what ``forward`` feeds the network; ``meta``: per-batch geometry (scales, pads)."""

    inputs: Any
    sizes: list[tuple[int, int]]
    meta: dict = field(default_factory=dict)


class WeightsUnavailable(RuntimeError):
    """The requested weights are neither on this machine nor downloadable from here."""


def image_size(image) -> tuple[int, int]:
    """(height, width) of an HxWx3 array or a 3xHxW tensor."""
    shape = tuple(image.shape)
    if len(shape) != 3:
        raise ValueError(f"an image must be HxWx3 (uint8 array) or 3xHxW (tensor), got shape {shape}")
    if shape[-1] == 3 and not hasattr(image, "detach"):  # numpy HxWx3
        return int(shape[0]), int(shape[1])
    if shape[0] == 3:  # torch 3xHxW
        return int(shape[1]), int(shape[2])
    raise ValueError(f"an image must have 3 channels (RGB), got shape {shape}")


def to_hwc_uint8(images: Sequence) -> list[np.ndarray]:
    """RGB images as uint8 HxWx3 numpy arrays (torch CHW tensors are moved to the CPU)."""
    out = []
    for im in images:
        if hasattr(im, "detach"):  # a torch tensor, 3xHxW
            arr = im.detach().cpu().numpy()
            arr = np.ascontiguousarray(arr.transpose(1, 2, 0)) if arr.shape[0] == 3 else arr
        else:
            arr = np.asarray(im)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"an image must be HxWx3 RGB, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            arr = np.clip(np.round(arr * 255.0 if arr.dtype.kind == "f" and arr.max() <= 1.0 else arr), 0, 255).astype(np.uint8)
        out.append(arr)
    return out


def to_chw_tensors(images: Sequence, device) -> list:
    """RGB images as uint8 3xHxW torch tensors on ``device``. For a CUDA device a numpy image is
    copied into pinned (page-locked) memory first, so the upload is asynchronous and overlaps
    with work already queued on the GPU (the offline scenario's pipeline)."""
    import torch

    pin = str(device).startswith("cuda") and torch.cuda.is_available()
    out = []
    for im in images:
        if isinstance(im, torch.Tensor):
            t = im if im.shape[0] == 3 else im.permute(2, 0, 1)
        else:
            (arr,) = to_hwc_uint8([im])
            hwc = torch.from_numpy(np.ascontiguousarray(arr))
            t = (hwc.pin_memory() if pin else hwc).permute(2, 0, 1)
        if t.dtype.is_floating_point:
            t = (t * 255.0 if t.max() <= 1.0 else t).round().clamp(0, 255).to(torch.uint8)
        out.append(t.to(device, non_blocking=True))
    return out


def torch_dtype(name: str):
    import torch

    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def encode_binary_masks(masks, size: tuple[int, int]) -> list[dict]:
    """Binary masks (bool / uint8 [N, H, W], numpy or torch) -> N compressed RLE dicts."""
    from bench.masks.rle import encode_masks

    masks = masks.detach().cpu().numpy() if hasattr(masks, "detach") else np.asarray(masks)
    masks = masks.reshape(-1, *size)
    return encode_masks(masks.astype(bool, copy=False)) if len(masks) else []


def finalize(boxes, scores, labels, size: tuple[int, int], score_threshold: float, max_detections: int,
             label_map: np.ndarray | None = None, masks: Callable[[np.ndarray], list[dict]] | None = None) -> Detections:
    """Common last step of every adapter, for one image.

    boxes: [N, 4] XYXY absolute pixels of the original image; scores: [N]; labels: [N] in the
    MODEL's label space. ``label_map`` (int64 [num_model_classes]) maps them to dataset
    indices, -1 = the dataset has no such class (dropped). Boxes are clipped to the image,
    detections below ``score_threshold`` dropped, the rest sorted by score (stable) and capped.
    ``masks`` (segmentation models): called with the kept rows' indices into the input rows, in
    output order; returns their masks as compressed RLE (so only kept masks are pasted/encoded).
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if label_map is not None:
        labels = label_map[labels] if labels.size else labels
    keep = np.flatnonzero((scores >= score_threshold) & (labels >= 0) & np.isfinite(scores))
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    h, w = size
    np.clip(boxes[:, 0::2], 0, w, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, h, out=boxes[:, 1::2])
    order = np.argsort(-scores, kind="stable")[:max_detections]
    rle = None if masks is None else masks(keep[order])
    if rle is not None and len(rle) != len(order):
        raise ValueError(f"{len(order)} detections but {len(rle)} masks")
    return Detections(np.ascontiguousarray(boxes[order]), scores[order], labels[order], rle)


class Detector:
    """Base class: settings shared by every family, ``predict`` chaining the three steps.

    classes:          the dataset's class names; ``Detections.labels`` index this list.
    device:           "cpu", "cuda", "cuda:1", ...
    dtype:            "fp32", "fp16" or "bf16" (the model's own half mode).
    weights:          None = the official pretrained weights; "random" = random initialisation
                      (speed and smoke runs only; recorded); or a local file / folder.
    score_threshold:  detections below it are dropped (default 0.001, for evaluation).
    max_detections:   per image (default 100; use 300 for LVIS).
    nms_iou:          NMS IoU threshold where the model has NMS (None = the model's default).
    """

    family = "base"

    def __init__(self, classes: Sequence[str], device: str = "cpu", dtype: str = "fp32", weights: str | None = None,
                 score_threshold: float = 0.001, max_detections: int = 100, nms_iou: float | None = None):
        if not classes:
            raise ValueError("a detector needs the dataset's class names")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if max_detections < 1:
            raise ValueError(f"max_detections must be at least 1, got {max_detections}")
        self.classes = [str(c) for c in classes]
        self.device = device
        self.dtype = dtype
        self.weights = weights
        self.score_threshold = float(score_threshold)
        self.max_detections = int(max_detections)
        self.nms_iou = nms_iou

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    def preprocess(self, images: Sequence) -> Batch:
        raise NotImplementedError

    def forward(self, batch: Batch):
        raise NotImplementedError

    def postprocess(self, raw, batch: Batch) -> list[Detections]:
        raise NotImplementedError

    def predict(self, images: Sequence) -> list[Detections]:
        """One ``Detections`` per input image, in order."""
        batch = self.preprocess(images)
        return self.postprocess(self.forward(batch), batch)

    def compile(self, **options) -> None:
        """``torch.compile`` the network (the part ``forward`` runs). Adapters without a torch
        module raise ``NotImplementedError``, which timing records as "not supported"."""
        import torch

        if not hasattr(self, "model"):
            raise NotImplementedError(f"{type(self).__name__} has no torch module to compile")
        self.model = torch.compile(self.model, **options)

    def channels_last(self) -> None:
        """Use the channels-last memory format for the network's weights."""
        import torch

        if not hasattr(self, "model"):
            raise NotImplementedError(f"{type(self).__name__} has no torch module")
        self.model = self.model.to(memory_format=torch.channels_last)

    def synchronize(self) -> None:
        """Wait for queued device work (CUDA); a no-op elsewhere."""
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def settings(self) -> dict:
        return {
            "device": self.device, "dtype": self.dtype, "weights": self.weights or "pretrained",
            "score_threshold": self.score_threshold, "max_detections": self.max_detections, "nms_iou": self.nms_iou,
        }  # fmt: skip

    def describe(self) -> dict:
        """Provenance: family, variant, weights and their source, input size, parameters,
        post-processing settings, published accuracy where known. Adapters extend it."""
        return {"family": self.family, "settings": self.settings(), "random_weights": self.random_weights}


def count_parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))
