"""A TEST-ONLY segmentation detector: the ground truth with its masks, perturbed with seeded noise
(never registered). Boxes as :class:`tests.noisy_detector.NoisyGroundTruth` jitters them; masks are
the annotations' own masks for a fraction ``own_masks`` of the detections (seeded) and the filled
jittered box for the others, so that mask AP and box AP differ and both are far from 0 and 1; the
boxes do not depend on ``own_masks``."""

from __future__ import annotations

import numpy as np

from detectors.base import encode_binary_masks, finalize
from tests.noisy_detector import NoisyGroundTruth


class NoisyMasks(NoisyGroundTruth):
    family = "test-only-noisy-ground-truth-masks"

    def __init__(self, classes, dataset=None, root=None, own_masks: float = 0.5, **kw):
        super().__init__(classes, dataset, root, **kw)
        self.own_masks = float(own_masks)

    def postprocess(self, raw, batch):
        from bench.masks.rle import decode

        out = []
        b = self.ds.boxes
        for i, size in zip(raw, batch.sizes):
            rows, xyxy, scores, keep, rng = self.noisy_rows(i)
            own_mask = rng.random(len(rows)) < self.own_masks
            gt = b.segmentation.take(rows).to_dicts()

            def masks(kept, rows=rows, xyxy=xyxy, own_mask=own_mask, gt=gt, size=size, keep=keep):
                idx = np.flatnonzero(keep)[kept]  # finalize's rows -> this image's annotations
                out_masks = np.zeros((len(idx), *size), bool)
                for k, a in enumerate(idx):
                    if own_mask[a]:
                        out_masks[k] = decode(gt[a]).astype(bool)
                    else:
                        x0, y0, x1, y1 = np.clip(np.round(xyxy[a]), 0, [size[1], size[0], size[1], size[0]]).astype(int)
                        out_masks[k, y0:y1, x0:x1] = True
                return encode_binary_masks(out_masks, size)

            out.append(finalize(xyxy[keep], scores[keep], b.category_idx[rows][keep], size, self.score_threshold, self.max_detections,
                                masks=masks))  # fmt: skip
        return out
