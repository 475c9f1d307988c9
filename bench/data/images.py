"""Reading a dataset's images as RGB uint8 ``[H, W, 3]`` arrays.

PNG files (the synthetic dataset) decode with detbench's own decoder; other formats with
torchvision.io when torch is installed, else Pillow. A missing or corrupt file raises
``InputError`` naming the file, so a run can record it and skip the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data.model import Dataset
from bench.errors import InputError


def image_root(ds: Dataset) -> Path:
    """The image folder next to the annotations: ``images/`` (COCO/LVIS layout written by
    detbench) or ``JPEGImages/`` (a VOCdevkit year folder)."""
    src = Path(ds.source)
    if ds.format == "voc":
        return src / "JPEGImages"
    return src.parent / "images"


def load_image(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(str(path), "image", "file", f"cannot be read ({e.strerror or e})") from e
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            from bench.data.png import decode_png

            try:
                return decode_png(data)
            except ValueError:
                pass  # a PNG variant our decoder does not handle: fall through
        return _decode_library(data)
    except InputError:
        raise
    except Exception as e:
        raise InputError(str(path), "image", "pixels", f"cannot be decoded ({type(e).__name__}: {e})") from e


def _decode_library(data: bytes) -> np.ndarray:
    try:
        import torch
        from torchvision.io import ImageReadMode, decode_image

        t = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        return t.permute(1, 2, 0).numpy()
    except ImportError:
        import io

        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

