"""Shared pieces of the HF transformers adapters: loading, preprocessing, box decoding.

Weights load with ``from_pretrained``: first from the local cache only, then (unless offline)
from the hub under a socket timeout, so an unreachable hub gives ``WeightsUnavailable``
instead of a hang. ``weights`` may also be a local folder written by ``save_pretrained``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detectors.base import Batch, torch_dtype
from detectors.weights import hf_cache_dir, is_local, network_timeout, require_hub, unavailable


def from_pretrained(cls, repo_or_path: str, detector: str, **kwargs):
    """``cls.from_pretrained`` with cache-first loading and a clear error when unreachable."""
    if is_local(repo_or_path):
        return cls.from_pretrained(repo_or_path, **kwargs)
    try:
        return cls.from_pretrained(repo_or_path, local_files_only=True, **kwargs)
    except (OSError, ValueError) as cached_error:
        why = require_hub("hf")
        if why:
            raise unavailable(repo_or_path, detector, why, hf_cache_dir(), "a folder written by save_pretrained") from cached_error
    try:
        with network_timeout():
            return cls.from_pretrained(repo_or_path, **kwargs)
    except Exception as e:  # connection errors, timeouts, missing repos
        raise unavailable(repo_or_path, detector, e, hf_cache_dir(), "a folder written by save_pretrained") from e


def load_pretrained(model_cls, processor_cls, weights: str | None, repo: str):
    """(model, processor) from a local folder (``weights``) or the official ``repo``."""
    source = weights or repo
    return from_pretrained(model_cls, source, repo), from_pretrained(processor_cls, source, repo)


def weights_source(weights: str | None, repo: str) -> str:
    if weights == "random":
        return "random"
    return str(Path(weights).resolve()) if is_local(weights) else f"https://huggingface.co/{repo}"


def prepare_model(model, device: str, dtype: str):
    return model.eval().to(device, torch_dtype(dtype))


def pixel_inputs(processor, images, device: str, dtype: str) -> dict:
    """Run an HF image processor and move its tensors to the device; pixel values get ``dtype``."""
    enc = processor(images=list(images), return_tensors="pt")
    out = {}
    for k, v in enc.items():
        v = v.to(device, non_blocking=True)
        out[k] = v.to(torch_dtype(dtype)) if v.is_floating_point() else v
    return out


def scale_boxes(cxcywh_norm: np.ndarray, size: tuple[int, int], padded_square: bool = False) -> np.ndarray:
    """Normalised CXCYWH [N, 4] -> absolute XYXY pixels of the original (h, w) image.
    ``padded_square``: boxes are relative to the image padded (bottom/right) to a square (OWLv2)."""
    from bench.boxes import to_xyxy

    h, w = size
    if padded_square:
        h = w = max(h, w)
    return to_xyxy(cxcywh_norm, "cxcywh_norm", w, h)


def topk_flat(prob, k: int):
    """Top-k over flattened (query, class) scores. prob: [Q, C] -> (scores [k], query [k], class [k])."""
    import torch

    q, c = prob.shape
    scores, idx = torch.topk(prob.reshape(-1), min(k, q * c))
    return scores, idx // c, idx % c


def to_numpy(t) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def batch_sizes(images) -> list[tuple[int, int]]:
    from detectors.base import image_size

    return [image_size(im) for im in images]


def make_batch(inputs: dict, images) -> Batch:
    return Batch(inputs, batch_sizes(images))
