"""The accuracy pass's batch size: chosen from GPU memory, and only where batching is proven not to
change the predictions.

Batch padding changes DETR-family outputs (shared/DESIGN.md), and an AP computed at another batch
size than the adapter was proven at is not the same number. So ``choose_batch_size`` (used when
``--batch-size`` is not given) decides per unit, and the record keeps the decision:

- on the CPU: batch 1 (no memory-bound gain to have; the accuracy pass stays the proven path);
- on CUDA: a padding-invariance proof on two real images of different sizes: ``predict([a])``,
  ``predict([b])`` and ``predict([a, b])`` must agree (:func:`same_predictions`: the top
  ``TOP`` detections per image by score, same count and labels, boxes within ``BOX_TOL_PX`` pixels,
  scores within ``SCORE_TOL``). An adapter that fails it runs at batch 1, and the reason is
  recorded. One that passes gets the largest power of two up to ``CAP`` whose estimated memory
  (the batch-2 peak per image, measured in the proof) fits in ``MEMORY_SHARE`` of the free memory.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

CAP = 32
MEMORY_SHARE = 0.5
TOP = 20
BOX_TOL_PX = 0.5
SCORE_TOL = 1e-3


def same_predictions(single: Sequence, batched: Sequence) -> str | None:
    """Why two lists of Detections (same images) differ, or None when they agree (see module doc)."""
    if len(single) != len(batched):
        return f"{len(single)} vs {len(batched)} images"
    for i, (a, b) in enumerate(zip(single, batched)):
        oa, ob = np.argsort(-np.asarray(a.scores), kind="stable")[:TOP], np.argsort(-np.asarray(b.scores), kind="stable")[:TOP]
        if len(oa) != len(ob):
            return f"image {i}: {len(oa)} vs {len(ob)} top detections"
        if len(oa) == 0:
            continue
        if not np.array_equal(np.asarray(a.labels)[oa], np.asarray(b.labels)[ob]):
            return f"image {i}: labels of the top detections differ"
        box = float(np.abs(np.asarray(a.boxes, np.float64)[oa] - np.asarray(b.boxes, np.float64)[ob]).max())
        score = float(np.abs(np.asarray(a.scores, np.float64)[oa] - np.asarray(b.scores, np.float64)[ob]).max())
        if box > BOX_TOL_PX or score > SCORE_TOL:
            return f"image {i}: boxes differ by up to {box:.3g} px, scores by {score:.3g}"
    return None


def cuda_memory(device: str) -> tuple[Callable[[], float], Callable[[Callable[[], object]], float]]:
    """(free MiB now, peak MiB a call allocates beyond what was allocated before it) on ``device``."""
    import torch

    def free() -> float:
        return torch.cuda.mem_get_info(torch.device(device))[0] / 2**20

    def peak(call) -> float:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        call()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20

    return free, peak


def choose_batch_size(detector, images: Sequence, device: str, requested: int | None = None, memory=None) -> dict:
    """The accuracy pass's batch size and why: ``{"batch_size", "rule", "padding_invariant",
    "per_image_mb", "free_mb"}``. ``images``: at least two decoded images (of different sizes where
    the dataset has them); ``memory``: ``(free, peak)`` as from :func:`cuda_memory` (None: CUDA's
    when ``device`` is cuda)."""
    out = {"batch_size": 1, "rule": "", "padding_invariant": None, "per_image_mb": None, "free_mb": None}
    if requested is not None:
        return {**out, "batch_size": requested, "rule": "given (--batch-size)"}
    if memory is None and not str(device).startswith("cuda"):
        return {**out, "rule": "cpu: batch 1"}
    if len(images) < 2:
        return {**out, "rule": "batch 1: fewer than two images to prove batching harmless"}
    free, peak = memory or cuda_memory(device)
    a, b = images[0], next((im for im in images[1:] if im.shape != images[0].shape), images[1])
    single = detector.predict([a]) + detector.predict([b])
    batched: list = []
    per_image = peak(lambda: batched.extend(detector.predict([a, b]))) / 2.0
    why = same_predictions(single, batched)
    out.update(padding_invariant=why is None, per_image_mb=per_image, free_mb=free())
    if why is not None:
        return {**out, "rule": f"batch 1: batched predictions differ from one-by-one ({why})"}
    fits = MEMORY_SHARE * out["free_mb"] / max(per_image, 1.0)
    size = 1 if fits < 2 else min(CAP, 2 ** int(math.floor(math.log2(fits))))
    return {**out, "batch_size": size,
            "rule": f"proven padding-invariant on 2 images; largest power of two <= {CAP} with {size} x {per_image:.0f} MiB "
                    f"within {MEMORY_SHARE:.0%} of {out['free_mb']:.0f} MiB free"}  # fmt: skip
