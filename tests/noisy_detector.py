"""A TEST-ONLY detector: the ground truth, perturbed with seeded noise. Never registered, never
shown as a real detector. It exists so the CI gate can be shown to catch a degraded detector
(random weights score ~0 AP and cannot show that).

noise: box jitter as a fraction of the box size; also the rate of dropped boxes and the score
noise. shuffle: scores in random order (destroys the ranking)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bench.data.images import load_image
from detectors.base import Batch, Detections, Detector, finalize


class NoisyGroundTruth(Detector):
    family = "test-only-noisy-ground-truth"

    def __init__(self, classes, dataset=None, root=None, noise: float = 0.05, shuffle: bool = False, seed: int = 0, **common):
        super().__init__(classes, **common)
        self.ds, self.noise, self.shuffle, self.seed = dataset, float(noise), bool(shuffle), int(seed)
        self.index = {hashlib.sha1(load_image(Path(root) / f).tobytes()).hexdigest(): i for i, f in enumerate(dataset.images.files)}

    def preprocess(self, images):
        idx = [self.index[hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest()] for im in images]
        return Batch(idx, [im.shape[:2] for im in images])

    def forward(self, batch):
        return batch.inputs

    def noisy_rows(self, i: int):
        """Image ``i``'s annotations perturbed: (annotation rows, jittered XYXY, scores, kept rows
        (bool), the image's generator for further seeded draws)."""
        b = self.ds.boxes
        rng = np.random.default_rng([self.seed, i])
        rows = np.flatnonzero(b.image_idx == i)
        xyxy = b.xyxy[rows].copy()
        wh = np.repeat(xyxy[:, 2:] - xyxy[:, :2], 2, axis=0).reshape(-1, 4)
        xyxy += rng.normal(0, self.noise, xyxy.shape) * wh
        scores = np.clip(1.0 - self.noise * rng.random(len(rows)) * 4, 0.01, 1.0)
        if self.shuffle:
            scores = rng.random(len(rows))
        keep = rng.random(len(rows)) >= self.noise
        return rows, xyxy, scores, keep, rng

    def postprocess(self, raw, batch):
        out = []
        for i, size in zip(raw, batch.sizes):
            rows, xyxy, scores, keep, _ = self.noisy_rows(i)
            out.append(finalize(xyxy[keep], scores[keep], self.ds.boxes.category_idx[rows][keep], size, self.score_threshold,
                                self.max_detections))  # fmt: skip
        return out

    def describe(self):
        return {**super().describe(), "variant": f"noise={self.noise} shuffle={self.shuffle}", "parameters": 0}
