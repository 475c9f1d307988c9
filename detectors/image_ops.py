"""Resizing as the exporters' own pipelines do it, on uint8 RGB images [H, W, 3].

Upstream pre-processing (ultralytics' LetterBox, YOLOX's ``preproc``, NanoDet's warp) runs
OpenCV on 8-bit images: ``cv2.resize`` / ``cv2.warpPerspective`` with bilinear interpolation,
and the result is 8-bit again before normalisation. Matching that bit for bit is what makes a
detbench score equal the upstream one, so OpenCV is used when it is installed (it is part of
the ``[onnx]`` extra). Without it a numpy bilinear with the same sampling rule and rounding to
uint8 is used; it can differ by one grey level on some pixels, and ``backend()`` says which ran.
"""

from __future__ import annotations

import numpy as np


def backend() -> str:
    try:
        import cv2  # noqa: F401

        return "opencv"
    except ImportError:
        return "numpy"


def resize_bilinear(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [h, w, 3], bilinear with half-pixel centres (OpenCV's
    INTER_LINEAR sampling rule, no antialiasing), not rounded."""
    H, W = img.shape[:2]
    if (H, W) == (h, w):
        return img.astype(np.float32)
    ys = np.clip((np.arange(h) + 0.5) * (H / h) - 0.5, 0, H - 1)
    xs = np.clip((np.arange(w) + 0.5) * (W / w) - 0.5, 0, W - 1)
    return _sample(img.astype(np.float32), ys[:, None].repeat(w, 1), xs[None, :].repeat(h, 0), border=False)


def _sample(f: np.ndarray, ys: np.ndarray, xs: np.ndarray, border: bool) -> np.ndarray:
    """Bilinear samples of float [H, W, 3] at (ys, xs) [h, w]; ``border``: outside pixels are 0."""
    H, W = f.shape[:2]
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    wy, wx = (ys - y0)[..., None].astype(np.float32), (xs - x0)[..., None].astype(np.float32)
    out = np.zeros(ys.shape + (3,), np.float32)
    for dy, fy in ((0, 1 - wy), (1, wy)):
        for dx, fx in ((0, 1 - wx), (1, wx)):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            vals = f[np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]
            if border:
                vals = vals * inside[..., None]
            out += vals * fy * fx
    return out


def resize_uint8(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """``cv2.resize(img, (w, h), interpolation=INTER_LINEAR)`` on uint8, as the exporters do."""
    if img.shape[:2] == (h, w):
        return img
    try:
        import cv2
    except ImportError:
        return np.clip(np.round(resize_bilinear(img, h, w)), 0, 255).astype(np.uint8)
    return cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=cv2.INTER_LINEAR)


def warp_scale_translate(img: np.ndarray, rx: float, ry: float, tx: float, ty: float, h: int, w: int, border: int = 0) -> np.ndarray:
    """``cv2.warpPerspective(img, M, (w, h))`` with M = [[rx, 0, tx], [0, ry, ty], [0, 0, 1]]:
    output pixel (x, y) samples the input at ((x - tx) / rx, (y - ty) / ry), bilinear, with a
    constant ``border`` (0 in NanoDet's ``warp_and_resize``). uint8 in, uint8 out."""
    try:
        import cv2
    except ImportError:
        ys = (np.arange(h, dtype=np.float64)[:, None].repeat(w, 1) - ty) / ry
        xs = (np.arange(w, dtype=np.float64)[None, :].repeat(h, 0) - tx) / rx
        f = img.astype(np.float32) - border  # outside pixels read as 0 here, i.e. as ``border`` after adding it back
        return np.clip(np.round(_sample(f, ys, xs, border=True) + border), 0, 255).astype(np.uint8)
    m = np.array([[rx, 0.0, tx], [0.0, ry, ty], [0.0, 0.0, 1.0]], dtype=np.float64)
    return cv2.warpPerspective(np.ascontiguousarray(img), m, dsize=(w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(border,) * 3)
