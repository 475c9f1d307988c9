"""Instance masks of ground truth and detections, turned into packed RLE (:class:`Packed`).

Ground truth (COCO / LVIS ``segmentation``) is converted exactly as pycocotools' and
lvis-api's ``annToRLE``: polygons are rasterised at the image's size and merged into one
RLE, uncompressed RLE (``counts`` a list, COCO's crowd regions) is compressed, compressed RLE
is taken as it is. Detections carry compressed RLE (the COCO results form). Every value is
validated; a bad one is an :class:`InputError` naming the file, record and field.
"""

from __future__ import annotations

import itertools
import reprlib
from numbers import Real

import numpy as np

from bench.data.model import Dataset, DetectionTable
from bench.errors import InputError
from bench.masks import rle
from bench.masks.rle import Packed
from bench.masks.strings import StringMasks


def _shown(value) -> str:
    """A bad value for an error message, shortened at element boundaries (never mid-number)."""
    r = reprlib.Repr()  # Python 3.11 takes no keyword arguments here
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother = 3, 8, 4, 40, 40
    return r.repr(value)


def _numbers_ok(values) -> bool:
    return all(issubclass(t, Real) and t is not bool for t in set(map(type, values)))


class GtMasks:
    """The annotations' raw ``segmentation`` values, converted to RLE on first use (box-only
    evaluation never pays for it). ``heights``/``widths``: int64 ``[N]`` the size of each
    annotation's image; ``section`` names the records in errors (``annotations``)."""

    def __init__(self, raw: list, file: str, heights: np.ndarray, widths: np.ndarray, section: str = "annotations"):
        self.raw = raw
        self.file = file
        self.heights = heights
        self.widths = widths
        self.section = section
        self._packed: Packed | None = None

    def __len__(self) -> int:
        return len(self.raw)

    def packed(self) -> Packed:
        if self._packed is None:
            self._packed = gt_to_rle(self.raw, self.file, self.heights, self.widths, self.section)
        return self._packed

    def take(self, rows: np.ndarray) -> "GtMasks":
        """The masks of annotations ``rows`` (an index array), in that order."""
        rows = np.asarray(rows, np.int64)
        out = GtMasks([self.raw[i] for i in rows.tolist()], self.file, self.heights[rows], self.widths[rows], self.section)
        if self._packed is not None:
            out._packed = self._packed.take(rows)
        return out

    def to_dicts(self) -> list[dict]:
        """pycocotools RLE dicts (counts as bytes), one per annotation."""
        return self.packed().to_dicts()


def _all_polygons_typed(raw: list) -> bool:
    """One pass over every list-valued segmentation: all polygons lists, all coordinates numbers
    (what :func:`_polygons` checks per annotation; it then skips that part)."""
    polys = [p for segm in raw if isinstance(segm, list) for p in segm]
    return set(map(type, polys)) <= {list} and _numbers_ok(itertools.chain.from_iterable(polys))


def _polygons(i: int, segm: list, file: str, section: str, typed: bool = False) -> list:
    """The polygons of a list-valued segmentation, checked as pycocotools' frPyObjects reads them
    (``typed``: the polygons' and coordinates' types are known good)."""
    where = f"{section}[{i}]"
    if not segm or not isinstance(segm[0], list):
        raise InputError(file, where, "segmentation", f"expected a list of polygons [x0, y0, x1, y1, ...], got {_shown(segm)}")
    if len(segm[0]) <= 4:
        raise InputError(file, where, "segmentation", f"the first polygon has {len(segm[0])} coordinates; pycocotools needs more than 4")
    if typed:
        return segm
    if not all(type(p) is list for p in segm) or not _numbers_ok(itertools.chain.from_iterable(segm)):
        raise InputError(file, where, "segmentation", "expected polygons as lists of numbers")
    return segm


def _rle_size(i: int, segm: dict, h: int, w: int, file: str, section: str) -> None:
    size = segm.get("size")
    where = f"{section}[{i}]"
    if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int for v in size)):
        raise InputError(file, where, "segmentation.size", f"expected [height, width] as integers, got {size!r}")
    if size != [h, w]:
        raise InputError(file, where, "segmentation.size", f"mask size {size} is not the image's [height, width] [{h}, {w}]")


def gt_to_rle(raw: list, file: str, heights: np.ndarray, widths: np.ndarray, section: str = "annotations") -> Packed:
    """Every annotation's segmentation as one RLE (pycocotools' annToRLE), packed in order."""
    n = len(raw)
    coords: list = []
    poly_ann: list[int] = []
    unc_counts: list[np.ndarray] = []
    unc_ann: list[int] = []
    compressed: list[int] = []
    hs, ws = heights.tolist(), widths.tolist()
    typed = _all_polygons_typed(raw)  # else each annotation is checked in turn: the first bad one is named
    for i, segm in enumerate(raw):
        h, w = hs[i], ws[i]
        if isinstance(segm, list):
            if h <= 0 or w <= 0:
                raise InputError(file, f"{section}[{i}]", "segmentation", f"its image has no positive height/width ({h} x {w}) to draw polygons at")
            polys = _polygons(i, segm, file, section, typed)
            coords.extend(polys)
            poly_ann.extend([i] * len(polys))
        elif isinstance(segm, dict) and isinstance(segm.get("counts"), list):
            _rle_size(i, segm, h, w, file, section)
            if not all(type(c) is int and 0 <= c < 2**32 for c in segm["counts"]):
                raise InputError(file, f"{section}[{i}]", "segmentation.counts", "expected run lengths as non-negative integers")
            unc_counts.append(np.array(segm["counts"], np.uint32))
            unc_ann.append(i)
        elif isinstance(segm, dict) and isinstance(segm.get("counts"), (str, bytes)):
            _rle_size(i, segm, h, w, file, section)
            compressed.append(i)
        else:
            raise InputError(file, f"{section}[{i}]", "segmentation", f"expected polygons or an RLE {{size, counts}}, got {_shown(segm)}")
    parts, owners = [], []
    if coords:  # each annotation's polygons rasterised, then merged into one RLE (annToRLE)
        ann = np.asarray(poly_ann, np.int64)
        polys = rle.fr_polygons(coords, heights[ann], widths[ann])
        bounds = np.r_[0, np.flatnonzero(np.diff(ann)) + 1, len(ann)].astype(np.int64)
        parts.append(rle.merge_groups(polys, bounds))
        owners.append(ann[bounds[:-1]])
    if unc_ann:
        parts.append(rle.from_counts(unc_counts, heights[unc_ann], widths[unc_ann]))
        owners.append(np.asarray(unc_ann, np.int64))
    if compressed:
        packed, bad = rle.pack_strings([raw[i]["counts"] for i in compressed], heights[compressed], widths[compressed])
        if packed is None:
            raise InputError(file, f"{section}[{compressed[bad]}]", "segmentation.counts", "malformed compressed RLE string")
        parts.append(packed)
        owners.append(np.asarray(compressed, np.int64))
    row = np.zeros(n, np.int64)
    if owners:
        row[np.concatenate(owners)] = np.arange(n)
    out = rle.concat(parts).take(row)
    check_totals(out, file, section)
    return out


def check_totals(packed: Packed | StringMasks, file: str, section: str) -> None:
    """Every RLE's runs must cover exactly height*width pixels (pycocotools would read past
    a short one, or loop forever comparing RLEs of different totals)."""
    totals = packed.totals()
    bad = np.flatnonzero(totals != packed.heights * packed.widths)
    if len(bad):
        i = int(bad[0])
        raise InputError(file, f"{section}[{i}]", "segmentation.counts",
                         f"runs cover {int(totals[i])} pixels, not height*width = {int(packed.heights[i] * packed.widths[i])}")  # fmt: skip


def detection_masks(ds: Dataset, det: DetectionTable, file: str = "<detections>") -> Packed | StringMasks:
    """The detections' masks packed (or as the C reader's :class:`StringMasks`, kept so), checked
    against their images' sizes."""
    seg = det.segmentation
    if seg is None:
        raise InputError(file, None, "segmentation", "iou_type='segm' needs a mask (compressed RLE) for every detection")
    if isinstance(seg, (Packed, StringMasks)):
        packed = seg
    else:
        packed = pack_detection_masks(seg, file)
    h, w = ds.images.heights[det.image_idx], ds.images.widths[det.image_idx]
    wrong = np.flatnonzero((packed.heights != h) | (packed.widths != w))
    if len(wrong):
        i = int(wrong[0])
        raise InputError(file, f"detections[{i}]", "segmentation.size",
                         f"mask size [{packed.heights[i]}, {packed.widths[i]}] is not the image's [height, width] [{h[i]}, {w[i]}]")  # fmt: skip
    check_totals(packed, file, "detections")
    return packed


def pack_detection_masks(seg: list, file: str, section: str = "detections") -> Packed:
    """Compressed RLE dicts ``{"size": [h, w], "counts": str}`` -> Packed; errors name the record."""
    try:
        size_lists = [r["size"] for r in seg]
        counts = [r["counts"] for r in seg]
        ok = set(map(type, counts)) <= {str, bytes} and set(map(type, size_lists)) <= {list}
        ok = ok and set(map(type, itertools.chain.from_iterable(size_lists))) <= {int}
        sizes = np.array(size_lists, np.int64).reshape(len(seg), 2)
        ok = ok and bool((sizes >= 0).all())
    except (KeyError, TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        for i, r in enumerate(seg):
            if not isinstance(r, dict) or not isinstance(r.get("counts"), (str, bytes)):
                raise InputError(file, f"{section}[{i}]", "segmentation", f"expected a compressed RLE {{size: [h, w], counts: str}}, got {_shown(r)}")
            size = r.get("size")
            if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int and v >= 0 for v in size)):
                raise InputError(file, f"{section}[{i}]", "segmentation.size", f"expected [height, width] as integers, got {_shown(size)}")
        raise InputError(file, section, "segmentation", "unreadable masks")
    packed, bad = rle.pack_strings(counts, sizes[:, 0], sizes[:, 1])
    if packed is None:
        raise InputError(file, f"{section}[{bad}]", "segmentation.counts", "malformed compressed RLE string")
    return packed
