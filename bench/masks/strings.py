"""Detection masks kept as their compressed counts strings, never all decoded at once.

A results file's masks are most of its bytes, and their decoded runs are larger still (~700
bytes per COCO-scale detection, 4 bytes a run). :class:`StringMasks` keeps instead each
detection's counts string as a span of the file's bytes (which stay in memory), with the
per-mask numbers every detection needs computed once, in the pass that checks the strings
(the runs added up as they are decoded, none stored): rleArea and the runs' pixel total. The IoU
kernel (:func:`bench.native.rle.group_ious` with ``strings``) decodes a string, into a per-thread
scratch buffer, only where the detection's (image, category) group has ground truth, and takes
its rleToBbox from those runs. Anything else that needs runs or boxes decodes on demand
(:meth:`StringMasks.take`, :meth:`StringMasks.bbox`). Built by the C results reader only (:func:`bench.data.results.fast_masks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bench.masks.rle import Packed
from bench.native import rle as native


@dataclass(frozen=True)
class StringMasks:
    """N compressed RLE strings ``buf[starts[i]:ends[i]]`` (``json_escapes``: a JSON ``\\\\``
    pair in them stands for one backslash) at heights, widths int64 ``[N]``, with their rleArea
    (uint32 ``[N]``) and pixel totals (int64 ``[N]``)."""

    heights: np.ndarray
    widths: np.ndarray
    buf: bytes
    starts: np.ndarray
    ends: np.ndarray
    json_escapes: bool
    areas: np.ndarray
    pixel_totals: np.ndarray

    @classmethod
    def from_spans(cls, buf: bytes, heights, widths, starts, ends, json_escapes: bool) -> tuple[StringMasks | None, int]:
        """Check and measure the strings in one pass: (masks, -1), or (None, i) where string
        ``i`` is malformed (see :func:`bench.masks.kernels.from_string`)."""
        hs, ws = np.ascontiguousarray(heights, np.int64), np.ascontiguousarray(widths, np.int64)
        area, totals, _, bad = native.string_stats(buf, starts, ends, json_escapes, hs, ws, bbox=False)
        if bad >= 0:
            return None, bad
        return cls(hs, ws, buf, np.asarray(starts, np.int64), np.asarray(ends, np.int64), json_escapes, area, totals), -1

    def __len__(self) -> int:
        return len(self.heights)

    def area(self) -> np.ndarray:
        """rleArea: foreground pixels, uint32 ``[n]``."""
        return self.areas

    def bbox(self) -> np.ndarray:
        """rleToBbox: [x, y, w, h] float64 ``[n, 4]`` (decoded for it, on first use)."""
        return self._boxes

    @cached_property
    def _boxes(self) -> np.ndarray:
        return native.string_stats(self.buf, self.starts, self.ends, self.json_escapes, self.heights, self.widths)[2]

    def totals(self) -> np.ndarray:
        """Pixels covered by all runs, int64 ``[n]`` (h*w for a valid RLE)."""
        return self.pixel_totals

    def spans(self) -> tuple:
        """(buf, starts, ends, json_escapes): the ``strings`` argument of :func:`bench.native.rle.group_ious`."""
        return self.buf, self.starts, self.ends, self.json_escapes

    def take(self, rows: np.ndarray) -> Packed:
        """The masks at ``rows``, in that order, decoded."""
        rows = np.asarray(rows, np.int64)
        cnts, offs, bad = native.decode_strings(self.buf, self.starts[rows], self.ends[rows], self.json_escapes)
        if bad >= 0:  # checked when built: the buffer changed under us
            raise ValueError(f"mask {int(rows[bad])}: malformed compressed counts string")
        return Packed(self.heights[rows], self.widths[rows], cnts, offs)

    def _unescaped(self, s: bytes) -> bytes:
        return s.replace(b"\\\\", b"\\") if self.json_escapes else s

    def strings(self) -> list[bytes]:
        """Each counts string as pycocotools holds it (JSON ``\\\\`` pairs unescaped)."""
        return [self._unescaped(self.buf[s:e]) for s, e in zip(self.starts.tolist(), self.ends.tolist())]

    def to_dicts(self, as_str: bool = False) -> list[dict]:
        """pycocotools RLE dicts (counts bytes, or ASCII str with ``as_str``)."""
        return [{"size": [h, w], "counts": s.decode("ascii") if as_str else s}
                for h, w, s in zip(self.heights.tolist(), self.widths.tolist(), self.strings())]  # fmt: skip

    def __getitem__(self, i: int) -> dict:
        """Mask ``i`` as a results-JSON dict (counts an ASCII str), like a list of dicts."""
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return {"size": [int(self.heights[i]), int(self.widths[i])], "counts": self._unescaped(self.buf[int(self.starts[i]):int(self.ends[i])]).decode("ascii")}

    def __iter__(self):
        return iter(self.to_dicts(as_str=True))
