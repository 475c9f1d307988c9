"""Image loading for inference: a torch DataLoader with worker processes (and pinned memory on
CUDA) when torch is installed, so decoding overlaps with the model; a plain loop otherwise.

Items are ``(dataset index, RGB uint8 [H, W, 3] or None, error or None)``: an unreadable image
is reported, not raised, so one corrupt file never stops a run.

``decode="device"``: the workers only read the files; JPEGs are decoded in one batched call of
``torchvision.io.decode_jpeg`` on the detector's device (nvJPEG on CUDA), giving RGB uint8
[3, H, W] torch tensors on that device (detectors accept both forms). Other formats, and any
JPEG the device decoder refuses, are decoded on the CPU as before. On a CPU device the same
code runs libjpeg-turbo through torchvision, the pixels ``bench.data.images.load_image`` gives
(tests/test_loader_decode.py). The default is ``"cpu"``: nvJPEG's pixels differ slightly from
libjpeg-turbo's and the AP effect cannot be measured without a GPU (docs/gpu.md).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator, Sequence

DECODES = ("cpu", "device")


def _read(root: Path, files: Sequence[str], i: int):
    from bench.data.images import load_image
    from bench.errors import InputError

    try:
        return i, load_image(Path(root) / files[i]), None
    except InputError as e:
        return i, None, str(e)


def _read_bytes(root: Path, files: Sequence[str], i: int):
    """(index, file bytes, error): JPEGs are decoded later, on the device; other files now."""
    path = Path(root) / files[i]
    try:
        data = path.read_bytes()
    except OSError as e:
        return i, None, f"{path}: image file cannot be read ({e.strerror or e})"
    return (i, data, None) if data[:3] == b"\xff\xd8\xff" else _read(root, files, i)


class _ImageSet:
    """A map-style dataset over image indices (picklable, for worker processes)."""

    def __init__(self, root: Path, files: Sequence[str], idx: Sequence[int], raw: bool = False):
        self.root, self.files, self.idx, self.raw = Path(root), list(files), list(idx), raw

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, k: int):
        return (_read_bytes if self.raw else _read)(self.root, self.files, self.idx[k])


def _collate(items):
    return items


def workers() -> int:
    return min(4, max(0, (os.cpu_count() or 1) - 1))


def decode_on_device(items: list, device: str, root: Path, files: Sequence[str]) -> list:
    """Items whose image is JPEG bytes -> RGB uint8 [3, H, W] tensors decoded on ``device``
    (one batched ``decode_jpeg``); a JPEG the device decoder rejects is decoded on the CPU."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    todo = [k for k, (_, im, err) in enumerate(items) if err is None and isinstance(im, bytes)]
    if not todo:
        return items
    out = list(items)
    data = [torch.frombuffer(bytearray(items[k][1]), dtype=torch.uint8) for k in todo]
    try:
        decoded = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:  # one bad or unusual JPEG fails the batch: decode one by one, the CPU for what the device refuses
        decoded = []
        for k, d in zip(todo, data):
            try:
                decoded.append(decode_jpeg(d, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                i, im, err = _read(root, files, items[k][0])
                decoded.append(im if err is None else err)
    for k, t in zip(todo, decoded):
        out[k] = (items[k][0], None, t) if isinstance(t, str) else (items[k][0], t, None)
    return out


def iterate(root: Path, files: Sequence[str], idx: Sequence[int], batch_size: int, device: str = "cpu",
            decode: str = "cpu") -> Iterator[list]:
    """Batches of ``(index, image, error)`` in ``idx`` order; ``decode``: ``cpu`` (numpy images,
    default) or ``device`` (JPEGs as torch tensors decoded on ``device``; needs torchvision)."""
    if decode not in DECODES:
        raise ValueError(f"decode must be one of {', '.join(DECODES)}, got {decode!r}")
    try:
        from torch.utils.data import DataLoader
    except ImportError:
        if decode == "device":
            raise ValueError("decode=device needs torch and torchvision (pip install 'detbench[torch]')") from None
        for s in range(0, len(idx), batch_size):
            yield [_read(root, files, i) for i in idx[s: s + batch_size]]
        return
    n = workers() if len(idx) > 16 else 0  # starting worker processes costs more than a few decodes
    loader = DataLoader(_ImageSet(root, files, idx, raw=decode == "device"), batch_size=batch_size, shuffle=False, num_workers=n,
                        collate_fn=_collate, pin_memory=str(device).startswith("cuda"), persistent_workers=False,
                        prefetch_factor=4 if n else None)  # fmt: skip
    for items in loader:
        yield decode_on_device(items, device, root, files) if decode == "device" else items


def loader_speed(root: Path, files: Sequence[str], idx: Sequence[int], limit: int = 64, device: str = "cpu", decode: str = "cpu") -> dict:
    """Images/s of the loader alone over the first ``limit`` images (no model)."""
    sample = list(idx)[:limit]
    t0 = time.perf_counter()
    count = sum(len(b) for b in iterate(root, files, sample, 8, device, decode))
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    return {"images": count, "seconds": seconds, "images_per_s": count / seconds if seconds > 0 else None,
            "workers": workers() if len(sample) > 16 else 0, "decode": decode, "device": str(device)}
