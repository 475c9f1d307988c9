"""Run-length encoded masks, bit-equal to ``pycocotools.mask`` and compiled (numba).

The functions below take and return what ``pycocotools.mask`` does: an RLE is a dict
``{"size": [h, w], "counts": bytes}`` (compressed: pycocotools' 6-bit ASCII string; ``str``
is accepted on input too), masks are uint8 ``[h, w, n]`` in Fortran order (or ``[h, w]`` for
one). Pixels run column by column (x-major), as COCO stores them.

For bulk work (the metric core, the results reader) :class:`Packed` holds many RLEs as flat
arrays; :func:`pack` builds it from dicts with one compiled pass over their strings.

Bulk kernels run in C (:mod:`bench.native.rle`) where the extension is built and enabled, else
in numba (:mod:`bench.masks.kernels`, imported only then): the same bits either way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from bench.native import rle as native


def c_kernels():
    """:mod:`bench.native.rle` when its extensions are built and enabled, else None."""
    return native if native.available() else None


class _Numba:
    """The numba kernels, imported on first use (numba's start-up is paid only where needed)."""

    def __getattr__(self, name: str):
        from bench.masks import kernels

        return getattr(kernels, name)


k = _Numba()


@dataclass(frozen=True)
class Packed:
    """N RLEs as flat arrays: heights, widths int64 ``[N]``; counts uint32 (all runs,
    concatenated); offs int64 ``[N+1]`` (RLE i is ``counts[offs[i]:offs[i+1]]``)."""

    heights: np.ndarray
    widths: np.ndarray
    counts: np.ndarray
    offs: np.ndarray

    def __len__(self) -> int:
        return len(self.heights)

    def __getitem__(self, i: int) -> dict:
        """RLE ``i`` as a results-JSON dict (counts an ASCII str), like a list of dicts."""
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.take(np.array([i % len(self)])).to_dicts(as_str=True)[0]

    def __iter__(self):
        return iter(self.to_dicts(as_str=True))

    def take(self, rows: np.ndarray) -> "Packed":
        """The RLEs at ``rows``, in that order."""
        rows = np.asarray(rows, np.int64)
        c = c_kernels()
        counts, offs = (k.take_runs if c is None else c.take)(self.counts, self.offs, rows)
        return Packed(self.heights[rows], self.widths[rows], counts, offs)

    def _c_stats(self, bbox: bool = False):
        """(area, totals, bbox or None) by the C kernels, or None where numba is in use."""
        c = c_kernels()
        return None if c is None else c.stats(self.counts, self.offs, self.heights, self.widths, bbox)

    def area(self) -> np.ndarray:
        """rleArea: foreground pixels, uint32 ``[n]``."""
        s = self._c_stats()
        return k.area(self.counts, self.offs) if s is None else s[0]

    def bbox(self) -> np.ndarray:
        """rleToBbox: [x, y, w, h] float64 ``[n, 4]``."""
        s = self._c_stats(bbox=True)
        return k.to_bbox(self.counts, self.offs, self.heights, self.widths) if s is None else s[2]

    def totals(self) -> np.ndarray:
        """Pixels covered by all runs, int64 ``[n]`` (h*w for a valid RLE)."""
        s = self._c_stats()
        return k.sums(self.counts, self.offs) if s is None else s[1]

    def strings(self) -> list[bytes]:
        buf, soffs = k.to_string(self.counts, self.offs)
        raw = buf.tobytes()
        return [raw[soffs[i]:soffs[i + 1]] for i in range(len(self))]

    def to_dicts(self, as_str: bool = False) -> list[dict]:
        """pycocotools RLE dicts (counts bytes, or ASCII str with ``as_str``)."""
        out = []
        for h, w, s in zip(self.heights.tolist(), self.widths.tolist(), self.strings()):
            out.append({"size": [h, w], "counts": s.decode("ascii") if as_str else s})
        return out


def _size(obj: dict) -> tuple[int, int]:
    h, w = obj["size"]
    return int(h), int(w)


def pack_strings(counts: list, heights: np.ndarray, widths: np.ndarray) -> tuple[Packed | None, int]:
    """Decode compressed count strings (str or bytes) in one pass. Returns (packed, -1), or
    (None, i) where string ``i`` is malformed."""
    if set(map(type, counts)) == {str}:
        raw = "".join(counts).encode("ascii", "replace")  # non-ASCII becomes '?', refused below
        lengths = np.fromiter(map(len, counts), np.int64, len(counts))
    else:
        parts = [c.encode("ascii", "replace") if isinstance(c, str) else bytes(c) for c in counts]
        raw = b"".join(parts)
        lengths = np.fromiter(map(len, parts), np.int64, len(parts))
    soffs = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(lengths, out=soffs[1:])
    c = c_kernels()
    if c is None:
        cnts, offs, bad = k.from_string(np.frombuffer(raw, np.uint8), soffs)
    else:
        cnts, offs, bad = c.decode_strings(raw, soffs[:-1], soffs[1:])
    if bad >= 0:
        return None, int(bad)
    return Packed(np.asarray(heights, np.int64), np.asarray(widths, np.int64), cnts, offs), -1


def pack(rles: list[dict]) -> Packed:
    """Compressed RLE dicts -> :class:`Packed` (ValueError for a malformed string)."""
    sizes = np.array([_size(r) for r in rles], np.int64).reshape(-1, 2)
    packed, bad = pack_strings([r["counts"] for r in rles], sizes[:, 0], sizes[:, 1])
    if packed is None:
        raise ValueError(f"RLE {bad}: malformed compressed counts string")
    return packed


def from_counts(counts: list[np.ndarray], heights, widths) -> Packed:
    offs = np.zeros(len(counts) + 1, np.int64)
    np.cumsum([len(c) for c in counts], out=offs[1:])
    flat = np.concatenate(counts).astype(np.uint32) if counts else np.zeros(0, np.uint32)
    return Packed(np.asarray(heights, np.int64), np.asarray(widths, np.int64), flat, offs)


def concat(parts: list[Packed]) -> Packed:
    """One Packed of several, in order."""
    if not parts:
        return Packed(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(1, np.int64))
    offs = [np.zeros(1, np.int64)]
    base = 0
    for p in parts:
        offs.append(p.offs[1:] + base)
        base += p.offs[-1]
    return Packed(
        np.concatenate([p.heights for p in parts]), np.concatenate([p.widths for p in parts]),
        np.concatenate([p.counts for p in parts]), np.concatenate(offs),
    )  # fmt: skip


# ----------------------------------------------------------------- pycocotools.mask API


def _encode_packed(bimask: np.ndarray) -> Packed:
    m = np.asarray(bimask)
    if m.dtype not in (np.uint8, np.bool_):
        raise TypeError(f"masks must be uint8 (or bool), got {m.dtype}")
    if m.ndim != 3:
        raise ValueError(f"expected masks [h, w, n], got shape {m.shape}")
    h, w, n = m.shape
    flat = np.asfortranarray(m).view(np.uint8).reshape(-1, order="F")
    cnts, offs = k.encode(flat, h * w, n)
    return Packed(np.full(n, h, np.int64), np.full(n, w, np.int64), cnts, offs)


def encode(bimask: np.ndarray):
    """``pycocotools.mask.encode``: ``[h, w, n]`` -> list of RLE dicts; ``[h, w]`` -> one dict."""
    m = np.asarray(bimask)
    if m.ndim == 2:
        return _encode_packed(m.reshape(m.shape + (1,), order="F")).to_dicts()[0]
    return _encode_packed(m).to_dicts()


def encode_masks(masks: np.ndarray) -> list[dict]:
    """Bool/uint8 masks ``[N, H, W]`` -> compressed RLE dicts ``{"size": [H, W], "counts": str}``
    (the COCO results JSON form), one per mask, in order."""
    m = np.asarray(masks)
    if m.ndim != 3:
        raise ValueError(f"expected masks [N, H, W], got shape {m.shape}")
    if m.dtype != np.bool_:
        m = m != 0
    return _encode_packed(np.transpose(m, (1, 2, 0))).to_dicts(as_str=True)


def decode(rleObjs):
    """``pycocotools.mask.decode``: list -> uint8 ``[h, w, n]`` (Fortran order); dict -> ``[h, w]``."""
    if isinstance(rleObjs, list):
        p = pack(rleObjs)
        h, w = (int(p.heights[0]), int(p.widths[0])) if len(p) else (0, 0)
        flat, ok = k.decode(p.counts, p.offs, h * w)
        if not ok:
            raise ValueError("Invalid RLE mask representation")
        return flat.reshape((h, w, len(p)), order="F")
    return decode([rleObjs])[:, :, 0]


def area(rleObjs):
    """``pycocotools.mask.area``: uint32 ``[n]`` for a list, one uint32 for a dict."""
    if isinstance(rleObjs, list):
        return pack(rleObjs).area()
    return area([rleObjs])[0]


def toBbox(rleObjs):  # noqa: N802 - pycocotools' name
    """``pycocotools.mask.toBbox``: float64 ``[n, 4]`` [x, y, w, h], or ``[4]`` for a dict."""
    if isinstance(rleObjs, list):
        return pack(rleObjs).bbox()
    return toBbox([rleObjs])[0]


def merge(rleObjs: list[dict], intersect: int = 0) -> dict:
    """``pycocotools.mask.merge``: the union (or intersection) of RLEs as one RLE dict."""
    if len(rleObjs) == 0:
        return {"size": [0, 0], "counts": b""}
    p = pack(rleObjs)
    cnts, h, w = k.merge(p.counts, p.offs, p.heights, p.widths, bool(intersect))
    return from_counts([cnts], [h], [w]).to_dicts()[0]


def _boxes_or_rles(objs):
    """pycocotools' iou ``_preproc``: an ``[N, 4]`` float array of boxes, or a Packed."""
    if isinstance(objs, np.ndarray):
        if objs.ndim == 1:
            objs = objs.reshape((objs[0], 1))
        if objs.ndim != 2 or objs.shape[1] != 4:
            raise ValueError("numpy ndarray input is only for *bounding boxes* and should have Nx4 dimension")
        return objs.astype(np.double)
    if isinstance(objs, list):
        if all(len(o) == 4 and isinstance(o, (list, np.ndarray)) for o in objs):
            return np.array(objs, dtype=np.double).reshape(-1, 4)
        if all(isinstance(o, dict) for o in objs):
            return pack(objs)
        raise ValueError("list input can be bounding box (Nx4) or RLEs ([RLE])")
    raise TypeError("unrecognized type. The following type: RLEs (rle), np.ndarray (box), and list (box) are supported.")


def iou(dt, gt, iscrowd):
    """``pycocotools.mask.iou``: ``[len(dt), len(gt)]`` IoU of RLEs (or of [x, y, w, h]
    boxes); a crowd ground truth is scored by intersection over the detection's area.
    Returns ``[]`` when either side is empty, as pycocotools does."""
    if len(dt) == 0 or len(gt) == 0:
        return []
    d, g = _boxes_or_rles(dt), _boxes_or_rles(gt)
    crowd = np.array(iscrowd, dtype=np.uint8).reshape(-1)
    if len(crowd) != len(g):
        raise ValueError("The iscrowd should have the same length as gt")
    if isinstance(d, np.ndarray) != isinstance(g, np.ndarray):
        raise ValueError("The dt and gt should have the same data type, either RLEs, list or np.ndarray")
    if isinstance(d, np.ndarray):
        return k.bb_iou(d, g, crowd)
    return k.rle_iou(
        d.counts, d.offs, d.bbox(), d.heights, d.widths, d.area().astype(np.int64),
        g.counts, g.offs, g.bbox(), g.heights, g.widths, crowd,
    )  # fmt: skip


def fr_polygons(polys: list, h, w) -> Packed:
    """rleFrPoly for each polygon ``[x0, y0, x1, y1, ...]`` (an odd last value is ignored),
    at size h x w (ints, or int64 ``[n]`` arrays: one size per polygon)."""
    n = len(polys)
    lengths = np.fromiter(map(len, polys), np.int64, n)
    offs = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offs[1:])
    coords = np.fromiter(itertools.chain.from_iterable(polys), np.double, int(offs[-1]))
    hs = np.broadcast_to(np.asarray(h, np.int64), (n,)).copy()
    ws = np.broadcast_to(np.asarray(w, np.int64), (n,)).copy()
    c = c_kernels()
    if c is None:
        from bench.masks.poly import fr_polys

        cnts, roffs = fr_polys(coords, offs, hs, ws)
    else:
        return concat([Packed(hs[lo:hi], ws[lo:hi], cn, of) for lo, hi, cn, of in c.fr_polys(coords, offs, hs, ws)])
    return Packed(hs, ws, cnts, roffs)


def merge_groups(p: Packed, bounds: np.ndarray) -> Packed:
    """The union (rleMerge) of RLEs ``bounds[i]:bounds[i+1]`` of ``p`` for every group ``i``
    (each group non-empty, its RLEs of one size): one RLE per group, at its first RLE's size."""
    bounds = np.asarray(bounds, np.int64)
    c = c_kernels()
    if c is None:
        cnts, offs = k.merge_groups(p.counts, p.offs, p.heights, p.widths, bounds)
    else:
        cnts, offs = c.merge_groups(p.counts, p.offs, bounds)
    return Packed(p.heights[bounds[:-1]], p.widths[bounds[:-1]], cnts, offs)


def fr_bboxes(bb, h: int, w: int) -> Packed:
    """rleFrBbox: each [x, y, w, h] as the polygon pycocotools draws for it."""
    b = np.asarray(bb, dtype=np.double).reshape(-1, 4)
    xs, ys, xe, ye = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    return fr_polygons(np.stack([xs, ys, xs, ye, xe, ye, xe, ys], axis=1).tolist(), h, w)


def fr_uncompressed(objs: list[dict]) -> Packed:
    """Uncompressed RLEs (``counts`` a list of ints) at their own ``size``."""
    counts = [np.array(o["counts"], dtype=np.uint32).reshape(-1) for o in objs]
    sizes = np.array([_size(o) for o in objs], np.int64).reshape(-1, 2)
    return from_counts(counts, sizes[:, 0], sizes[:, 1])


def frPyObjects(pyobj, h, w):  # noqa: N802 - pycocotools' name
    """``pycocotools.mask.frPyObjects``: polygons, boxes or uncompressed RLEs -> RLE dicts
    (a list for a list of objects, one dict for one object), dispatched as pycocotools does."""
    if isinstance(pyobj, np.ndarray):
        return fr_bboxes(pyobj, h, w).to_dicts()
    if isinstance(pyobj, list) and len(pyobj) and not isinstance(pyobj[0], dict) and len(pyobj[0]) == 4:
        return fr_bboxes(pyobj, h, w).to_dicts()
    if isinstance(pyobj, list) and len(pyobj) and not isinstance(pyobj[0], dict) and len(pyobj[0]) > 4:
        return fr_polygons(pyobj, h, w).to_dicts()
    if isinstance(pyobj, list) and len(pyobj) and isinstance(pyobj[0], dict) and "counts" in pyobj[0] and "size" in pyobj[0]:
        return fr_uncompressed(pyobj).to_dicts()
    if isinstance(pyobj, list) and len(pyobj) == 4:
        return fr_bboxes([pyobj], h, w).to_dicts()[0]
    if isinstance(pyobj, list) and len(pyobj) > 4:
        return fr_polygons([pyobj], h, w).to_dicts()[0]
    if isinstance(pyobj, dict) and "counts" in pyobj and "size" in pyobj:
        return fr_uncompressed([pyobj]).to_dicts()[0]
    raise TypeError("input type is not supported.")
