"""Image loading for inference: a torch DataLoader with worker processes (and pinned memory on
CUDA) when torch is installed, so decoding overlaps with the model; a plain loop otherwise.

Items are ``(dataset index, RGB uint8 [H, W, 3] or None, error or None)``: an unreadable image
is reported, not raised, so one corrupt file never stops a run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator, Sequence


def _read(root: Path, files: Sequence[str], i: int):
    from bench.data.images import load_image
    from bench.errors import InputError

    try:
        return i, load_image(Path(root) / files[i]), None
    except InputError as e:
        return i, None, str(e)


class _ImageSet:
    """A map-style dataset over image indices (picklable, for worker processes)."""

    def __init__(self, root: Path, files: Sequence[str], idx: Sequence[int]):
        self.root, self.files, self.idx = Path(root), list(files), list(idx)

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, k: int):
        return _read(self.root, self.files, self.idx[k])


def _collate(items):
    return items


def workers() -> int:
    return min(4, max(0, (os.cpu_count() or 1) - 1))


def iterate(root: Path, files: Sequence[str], idx: Sequence[int], batch_size: int, device: str = "cpu") -> Iterator[list]:
    """Batches of ``(index, image, error)`` in ``idx`` order."""
    try:
        from torch.utils.data import DataLoader
    except ImportError:
        for s in range(0, len(idx), batch_size):
            yield [_read(root, files, i) for i in idx[s: s + batch_size]]
        return
    n = workers() if len(idx) > 16 else 0  # starting worker processes costs more than a few decodes
    loader = DataLoader(_ImageSet(root, files, idx), batch_size=batch_size, shuffle=False, num_workers=n, collate_fn=_collate,
                        pin_memory=str(device).startswith("cuda"), persistent_workers=False, prefetch_factor=4 if n else None)  # fmt: skip
    yield from loader


def loader_speed(root: Path, files: Sequence[str], idx: Sequence[int], limit: int = 64) -> dict:
    """Images/s of the loader alone over the first ``limit`` images (no model)."""
    sample = list(idx)[:limit]
    t0 = time.perf_counter()
    count = sum(len(b) for b in iterate(root, files, sample, 8))
    seconds = time.perf_counter() - t0
    return {"images": count, "seconds": seconds, "images_per_s": count / seconds if seconds > 0 else None,
            "workers": workers() if len(sample) > 16 else 0}
