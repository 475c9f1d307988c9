"""Detections files: COCO results JSON and the VOC devkit's ``comp4_det_<split>_<class>.txt``.

COCO results are a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` in
continuous pixel coordinates. Devkit files hold lines ``image score xmin ymin xmax ymax`` in
1-based inclusive pixel indices. Both become a :class:`DetectionTable` (continuous XYXY).
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import replace
from numbers import Real
from operator import itemgetter
from pathlib import Path

import numpy as np

from bench.data import columns as col
from bench.data.model import Dataset, DetectionTable
from bench.errors import InputError
from bench.jsonio import parse_json_bytes, read_bytes, read_text


class ImageKeyIndex:
    """Resolves the ``image_id`` of a results record to an image row.

    COCO/LVIS: integer ids. VOC: the file stem (``"000005"``) or, where every stem is a
    number, that number (``5``), as converted-to-COCO VOC files write it.
    """

    def __init__(self, ds: Dataset):
        self.numeric = ds.format != "voc"
        self.rows = {k: i for i, k in enumerate(ds.images.keys)}
        if self.numeric:
            self.sorted_ids = np.asarray(ds.images.keys, dtype=np.int64)
        else:
            try:
                ints = {int(k): i for i, k in enumerate(ds.images.keys)}
                self.int_rows = ints if len(ints) == len(self.rows) else {}
            except ValueError:
                self.int_rows = {}

    def lookup(self, records: list, file: str, section: str) -> np.ndarray:
        if self.numeric:
            ids = col.int_column(records, "image_id", file, section)
            return col.id_lookup(self.sorted_ids, ids, file, section, "image_id", "image id")
        out = np.empty(len(records), np.int64)
        for i, r in enumerate(records):
            key = r.get("image_id") if isinstance(r, dict) else None
            if isinstance(key, bool):
                row = None  # true == 1 as a dict key: not an image
            else:
                row = self.rows.get(str(key)) if isinstance(key, str) else self.int_rows.get(key)
            if row is None:
                raise InputError(file, f"{section}[{i}]", "image_id", f"image {key!r} is not in the ground truth")
            out[i] = row
        return out


def parse_results(records, ds: Dataset, file: str = "<results>", masks: bool = False) -> DetectionTable:
    """Validate COCO-format result records against ``ds`` and build a :class:`DetectionTable`.

    Errors name the record and field: unknown image or category ids, a missing field,
    non-finite numbers, negative width or height, a non-finite score. ``masks``: read every
    record's ``segmentation`` (compressed RLE at its image's size) too; as pycocotools'
    loadRes and LVISResults do, boxes then come from the masks unless the first record has
    a ``bbox``, and each detection's area is its box's w*h if so, else its mask area.
    """
    if isinstance(records, dict):
        records = dataset_shaped_records(records, ds, file)
    if not isinstance(records, list):
        raise InputError(file, None, None, f"expected a list of detections, got {type(records).__name__}")
    section = "detections"
    image_idx = ImageKeyIndex(ds).lookup(records, file, section)
    if ds.format != "voc":  # VOC keys may be stems (strings); COCO/LVIS ids are numbers
        _require_numbers(records, "image_id", file, section, "an integer")
    cat_ids = col.int_column(records, "category_id", file, section)
    _require_numbers(records, "category_id", file, section, "an integer")
    category_idx = col.id_lookup(ds.categories.ids, cat_ids, file, section, "category_id", "category id")
    scores = col.float_column(records, "score", file, section)
    _require_numbers(records, "score", file, section, "a number")
    if masks and records and "bbox" not in records[0]:  # boxes and areas from the masks
        return _mask_table(records, ds, file, image_idx, category_idx, scores)
    xywh = col.xywh_column(records, "bbox", file, section)
    _require_boxes(records, "bbox", file, section)
    table = _table(image_idx, category_idx, xywh, scores)
    if masks:
        table = replace(table, segmentation=_masks(records, ds, file, table))
    return table


def dataset_shaped_records(obj: dict, ds: Dataset, file: str) -> list:
    """The ``annotations`` of a results file written as a dataset (a JSON object, as a COCO
    ground-truth file is), taken only where its own ``images`` / ``categories`` tables agree with
    the ground truth's (every id it lists is there, under the same ``file_name`` / ``name``):
    its ids mean what they say. Otherwise an :class:`InputError` says what the file is and how to
    pass its detections. pycocotools' loadRes refuses every such file; the C and numba fast
    readers decline any JSON object, so every reader comes here."""
    how = ("pass a results file that is a JSON list of detections {image_id, category_id, bbox, score}, e.g. its "
           "'annotations' list with image and category ids remapped to the ground truth's")  # fmt: skip
    if "annotations" not in obj:
        raise InputError(file, None, None, f"expected a list of detections, got a JSON object with keys {sorted(obj)[:8]}; {how}")
    missing = [k for k in ("images", "categories") if not isinstance(obj.get(k), list)]
    if missing:
        raise InputError(file, None, None, f"this is a dataset-shaped JSON object (with 'annotations') without its own "
                         f"{' and '.join(repr(k) for k in missing)} table, so nothing ties its ids to the ground truth's; {how}")  # fmt: skip
    gt_files = dict(zip(ds.images.keys, ds.images.files))
    gt_names = {int(c): n for c, n in zip(ds.categories.ids, ds.categories.names)}
    for table, known, name_key in (("images", gt_files, "file_name"), ("categories", gt_names, "name")):
        for i, rec in enumerate(obj[table]):
            rid = rec.get("id") if isinstance(rec, dict) else None
            if isinstance(rid, bool) or not isinstance(rid, (int, str)) or rid not in known:
                why = f"id {rid!r} is not in the ground truth's {table}"
            elif name_key in rec and rec[name_key] != known[rid]:
                why = f"id {rid!r} is {rec[name_key]!r} here but {known[rid]!r} in the ground truth"
            elif table == "categories" and name_key not in rec:
                why = f"category {rid!r} has no 'name' to check against the ground truth's {known[rid]!r}"
            else:
                continue
            raise InputError(file, f"{table}[{i}]", name_key, f"this results file is a dataset (a JSON object with its own "
                             f"'images' and 'categories' tables) whose {table} disagree with the ground truth's: {why}; "
                             f"its ids would be scored against the wrong {table}; {how}")  # fmt: skip
    return obj["annotations"]


def _masks(records: list, ds: Dataset, file: str, table: DetectionTable):
    """Every record's ``segmentation``, packed and checked against its image's size."""
    from bench.data.segmentation import detection_masks, pack_detection_masks

    for i, r in enumerate(records):
        if "segmentation" not in r:
            raise InputError(file, f"detections[{i}]", "segmentation", "missing field (mask evaluation needs a mask on every detection)")
    packed = pack_detection_masks([r["segmentation"] for r in records], file)
    return detection_masks(ds, replace(table, segmentation=packed), file)


def _mask_table(records, ds, file, image_idx, category_idx, scores) -> DetectionTable:
    empty = np.zeros(len(records))
    table = DetectionTable(image_idx, category_idx, np.zeros((len(records), 4)), empty, scores)
    packed = _masks(records, ds, file, table)
    bb = packed.bbox()
    xyxy = np.concatenate([bb[:, :2], bb[:, :2] + bb[:, 2:]], axis=1)
    return DetectionTable(image_idx, category_idx, xyxy, packed.area().astype(np.float64), scores, packed)


def _is_number_type(t: type) -> bool:
    """A JSON number's Python type (numpy numbers too), not a string or a boolean."""
    return issubclass(t, Real) and not issubclass(t, (bool, np.bool_))


def _require_numbers(records: list, key: str, file: str, section: str, what: str) -> None:
    """After a column converted: raise for the first record whose value was not a number
    (numpy converts ``"0.5"`` and ``true``; the file said a string or a boolean)."""
    types = set(map(type, map(itemgetter(key), records)))
    if all(_is_number_type(t) for t in types):
        return
    for i, r in enumerate(records):
        if not _is_number_type(type(r[key])):
            raise InputError(file, f"{section}[{i}]", key, f"expected {what}, got {r[key]!r}")


def _require_boxes(records: list, key: str, file: str, section: str) -> None:
    """After the box column converted: raise for the first box that is not a list of 4
    numbers (numpy converts ``["1", 2, 3, 4]``, ``[true, ...]`` and ``"1234"``)."""
    boxes = [r[key] for r in records]
    outer = set(map(type, boxes))
    inner = set(map(type, itertools.chain.from_iterable(boxes))) if outer <= {list, tuple} else set()
    if outer <= {list, tuple} and all(_is_number_type(t) for t in inner):
        return
    for i, v in enumerate(boxes):
        if not isinstance(v, (list, tuple, np.ndarray)) or not all(_is_number_type(type(c)) for c in v):
            raise InputError(file, f"{section}[{i}]", key, f"expected [x, y, width, height] as 4 numbers, got {v!r}")


def _table(image_idx: np.ndarray, category_idx: np.ndarray, xywh: np.ndarray, scores: np.ndarray) -> DetectionTable:
    """A DetectionTable from validated COCO boxes; ``box_area`` is w*h as pycocotools takes it."""
    return DetectionTable(image_idx, category_idx, col.xywh_to_xyxy(xywh), xywh[:, 2] * xywh[:, 3], scores)


class ResultsReader(threading.Thread):
    """Reads a results file and runs the C fast parser on it in a thread of its own, so that
    the ground truth can load meanwhile (the parser releases the GIL); :func:`load_results`
    takes it as ``reader``. Only where the C parser is built: numba's keeps the GIL.
    ``masks``: find the records' compressed RLE too (:func:`fast_masks`)."""

    def __init__(self, path: str | os.PathLike, masks: bool = False):
        super().__init__(name="results-reader")
        self.path = path
        self.masks = masks
        self.data: bytes | None = None
        self.columns = None
        self.packed = None
        self.error: BaseException | None = None

    @staticmethod
    def useful(path: str | os.PathLike) -> bool:
        from bench.native.results import available

        return not Path(path).is_dir() and available()

    def run(self) -> None:
        try:
            self.data = read_bytes(self.path)
            scan = _MaskScan(self.data) if self.masks else None  # the masks' scan runs beside the box parser
            if scan is not None:
                scan.start()
            self.columns = _fast_columns(self.data)
            if scan is not None:
                scan.join()
                if scan.error is not None:
                    raise scan.error
                self.packed = scan.found if self.columns is not None else None
        except BaseException as e:  # re-raised by load_results, in the caller's thread
            self.error = e

    def result(self) -> tuple[bytes, tuple | None, object]:
        """(the file's bytes, the fast parser's columns or None, the masks (:func:`fast_masks`) or None);
        the reading's error if it failed."""
        self.join()
        if self.error is not None:
            raise self.error
        return self.data, self.columns, self.packed


class _MaskScan(threading.Thread):
    """:func:`fast_masks` of a file's bytes in a thread of its own (its C parts release the GIL)."""

    def __init__(self, data: bytes):
        super().__init__(name="results-masks")
        self.data = data
        self.found = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.found = fast_masks(self.data)
        except BaseException as e:  # re-raised by ResultsReader.run
            self.error = e


def fast_masks(data: bytes, records: int | None = None):
    """The records' compressed RLE (``segmentation``) as :class:`bench.masks.strings.StringMasks`
    (spans of ``data``, checked and measured, not decoded), by the C reader of
    :mod:`bench.native.rle` (no JSON objects built); None where that reader is not built or
    enabled, or declines the file (another shape, a malformed string): the general path then
    reads it and names any error. Sizes are checked against the images by the caller. ``records``:
    the box parser's record count, when known (a file with more masks is declined)."""
    from bench.native import rle as native

    if not native.available():
        return None
    found = native.scan_spans(data, records)
    if found is None:
        return None
    from bench.masks.strings import StringMasks

    sizes, starts, ends, esc = found
    masks, _ = StringMasks.from_spans(data, sizes[:, 0], sizes[:, 1], starts, ends, esc)
    return masks


def load_results(path: str | os.PathLike, ds: Dataset, split: str | None = None, masks: bool = False,
                 reader: ResultsReader | None = None) -> DetectionTable:  # fmt: skip
    """Load detections for ``ds`` from a COCO results JSON file, or (VOC) a folder of devkit
    ``*_det_<split>_<class>.txt`` files. ``masks``: read the records' ``segmentation`` too
    (see :func:`parse_results`). ``reader``: a started :class:`ResultsReader` of ``path``."""
    p = Path(path)
    if p.is_dir():
        if split is None:
            raise InputError(str(p), None, None, "a folder of devkit detection files needs the split name")
        return load_devkit_results(p, ds, split)
    if reader is not None:
        data, cols, packed = reader.result()
    else:
        data = read_bytes(p)
        cols = None if ds.format == "voc" else _fast_columns(data)
        packed = fast_masks(data, len(cols[0])) if masks and cols is not None else None
    fast = None if cols is None or (masks and packed is None) else fast_table(data, ds, str(p), cols)
    if fast is not None and masks:
        if len(packed) != len(fast):  # the two readers disagree on the records: the general path decides
            fast = None
        else:
            from bench.data.segmentation import detection_masks

            fast = replace(fast, segmentation=detection_masks(ds, replace(fast, segmentation=packed), str(p)))
    return fast if fast is not None else parse_results(parse_json_bytes(data, str(p)), ds, str(p), masks)


def fast_table(data: bytes, ds: Dataset, file: str, cols: tuple | None = None) -> DetectionTable | None:
    """The compiled fast path for COCO/LVIS ground truth (the C parser of
    :mod:`bench.native.results` where built, else numba's :mod:`bench.data.fast_results`, the
    same accepted shape and numbers); None when the file or its values need the general path
    (which then names any error). ``cols``: the parser's columns of ``data``, when already read."""
    if ds.format == "voc":
        return None
    if cols is None:
        cols = _fast_columns(data)
    if cols is None:
        return None
    img, cat, xywh, scores = cols
    if not (np.isfinite(xywh).all() and np.isfinite(scores).all() and (xywh[:, 2:] >= 0).all()):
        return None
    image_idx = _dense_lookup(np.asarray(ds.images.keys, dtype=np.int64), img, file, "image_id", "image id")
    category_idx = _dense_lookup(np.asarray(ds.categories.ids, dtype=np.int64), cat, file, "category_id", "category id")
    return _table(image_idx, category_idx, xywh, scores)


def _fast_columns(data: bytes):
    """(image_id, category_id, xywh, score) columns of a results file in the fast path's shape, or None."""
    from bench.native import results as native  # importable without the extension: available() says

    if native.available():  # built, and not turned off by DETBENCH_NATIVE=0
        return native.parse_columns(data)
    from bench.data.fast_results import parse_columns

    return parse_columns(data)


def _dense_lookup(sorted_ids: np.ndarray, query: np.ndarray, file: str, key: str, what: str) -> np.ndarray:
    """:func:`columns.id_lookup` (same rows, same errors) by a direct table where the ids are
    dense enough (span at most 4x their count plus 4096): one gather instead of a binary search."""
    if len(sorted_ids) == 0 or len(query) == 0:
        return col.id_lookup(sorted_ids, query, file, "detections", key, what)
    lo, hi = int(sorted_ids[0]), int(sorted_ids[-1])
    if hi - lo > 4 * len(sorted_ids) + 4096:
        return col.id_lookup(sorted_ids, query, file, "detections", key, what)
    table = np.full(hi - lo + 1, -1, np.int64)
    table[sorted_ids - lo] = np.arange(len(sorted_ids))
    shifted = query - lo
    inside = (shifted >= 0) & (shifted <= hi - lo)
    rows = table[np.where(inside, shifted, 0)]
    if not inside.all() or (rows < 0).any():  # an unknown id: the general lookup names the record
        return col.id_lookup(sorted_ids, query, file, "detections", key, what)
    return rows




def load_devkit_results(folder: Path, ds: Dataset, split: str) -> DetectionTable:
    """Read ``comp*_det_<split>_<class>.txt`` files (lines ``image score xmin ymin xmax ymax``)."""
    index = ImageKeyIndex(ds)
    tables = []
    found = False
    for k, cname in enumerate(ds.categories.names):
        matches = sorted(folder.glob(f"*det_{split}_{cname}.txt"))
        if not matches:
            continue
        found = True
        path = matches[0]
        rows, boxes, scores = [], [], []
        for n, line in enumerate(read_text(path).splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            where = f"line {n}"
            if len(parts) != 6:
                raise InputError(str(path), where, None, f"expected 'image score xmin ymin xmax ymax', got {line!r}")
            row = index.rows.get(parts[0])
            if row is None:
                raise InputError(str(path), where, "image", f"image {parts[0]!r} is not in split {split!r}")
            try:
                values = [float(v) for v in parts[1:]]
            except ValueError:
                raise InputError(str(path), where, None, f"expected numbers, got {line!r}") from None
            if not all(np.isfinite(values)):
                raise InputError(str(path), where, None, f"non-finite value in {line!r}")
            s, x1, y1, x2, y2 = values
            if x2 < x1 - 1 or y2 < y1 - 1:
                raise InputError(str(path), where, None, f"negative box size in {line!r}")
            rows.append(row)
            scores.append(s)
            boxes.append((x1 - 1.0, y1 - 1.0, x2, y2))
        xyxy = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        tables.append(
            DetectionTable(
                np.array(rows, np.int64),
                np.full(len(rows), k, np.int64),
                xyxy,
                (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]),
                np.array(scores, np.float64),
            )
        )
    if not found:
        raise InputError(str(folder), None, None, f"no detection files named like comp4_det_{split}_<class>.txt")
    return DetectionTable.concat(tables)
