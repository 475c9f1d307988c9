"""The two inputs of a scoring: a ground-truth file or folder and a results file, loaded and checked
to fit together (what ``bench eval`` reads before :mod:`bench.metrics.files` scores it).

No model dependencies: this path imports numpy, numba and orjson only.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.data.coco import is_lvis, parse_gt
from bench.data.model import Dataset, DetectionTable
from bench.data.results import ResultsReader, load_results
from bench.errors import InputError
from bench.jsonio import load_json, parse_json_bytes, read_bytes
from bench.protocols import EvalProtocol, get_protocol


def load_ground_truth(path: str | os.PathLike, split: str | None = None, masks: bool = True) -> Dataset:
    """A COCO or LVIS JSON file, or a VOCdevkit year folder. ``masks=False`` (box scoring): the
    annotations' masks are not kept, and their array is read in C where the extension is built."""
    p = Path(path)
    if p.is_dir():
        from bench.data.voc import default_split, load_voc

        return load_voc(p, split or default_split(p))
    if not masks:
        from bench.native import results as native_results

        if native_results.available():
            fast = native_results.parse_gt_annotations(read_bytes(p))
            if fast is not None:  # else the general path below (it names any bad record)
                obj = parse_json_bytes(fast[0], str(p))
                return parse_gt(obj, str(p), "lvis" if isinstance(obj, dict) and is_lvis(obj) else "coco", columns=fast[1])
    obj = load_json(p)
    return parse_gt(obj, str(p), "lvis" if isinstance(obj, dict) and is_lvis(obj) else "coco")


def default_protocol(ds: Dataset) -> str:
    if ds.format == "voc":
        return "voc07" if "2007" in Path(ds.source).name else "voc12"
    return ds.format


def load_inputs(gt: str, results: str, protocol: str | None = None, split: str | None = None,
                iou_type: str = "bbox") -> tuple[Dataset, DetectionTable, EvalProtocol]:  # fmt: skip
    """Both files, checked to fit together and the protocol (default: the ground truth's format):
    (Dataset, DetectionTable, EvalProtocol). ``iou_type`` "segm" loads the results' masks, which
    both files must carry. A COCO/LVIS box results file is read and parsed (C) while the ground
    truth loads; errors come in the same order (the ground truth's first)."""
    reader = None
    if not Path(gt).is_dir() and ResultsReader.useful(results):
        reader = ResultsReader(results, masks=iou_type != "bbox")
        reader.start()
    try:
        ds = load_ground_truth(gt, split, masks=iou_type != "bbox")
        name = protocol or default_protocol(ds)
        p = get_protocol(name)
        if p.federated and ds.format != "lvis":
            raise InputError(gt, None, None, f"protocol {name!r} needs an LVIS annotation file (with neg_category_ids)")
        if ds.format == "voc" and split is None:
            from bench.data.voc import default_split

            split = default_split(gt)
        if iou_type == "bbox" and ds.missing_fields.get("bbox"):
            raise InputError(gt, None, "bbox", f"{ds.missing_fields['bbox']} annotations have a 'segmentation' and no 'bbox': box AP needs "
                             "ground-truth boxes (pycocotools stops with a KeyError); score the masks with --iou-type segm")  # fmt: skip
        if iou_type != "bbox" and ds.boxes.segmentation is None:
            raise InputError(gt, None, "segmentation", f"--iou-type {iou_type} needs ground-truth masks (COCO/LVIS 'segmentation'), which this file lacks")
        if reader is not None and iou_type != "bbox":  # rasterise the polygons while the reader thread works
            ds.boxes.segmentation.packed()
        return ds, load_results(results, ds, split, masks=iou_type != "bbox", reader=reader), p
    except BaseException:
        if reader is not None:
            reader.join()  # an earlier error wins; nothing is left running
        raise
