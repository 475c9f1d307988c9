"""Which output layout an ONNX detector export has, read from its graph's inputs and outputs.

Rules (input ``h x w``; ``P`` = sum over strides 8, 16, 32 of (h // s) * (w // s)):

- outputs named ``cls_pred_stride_S`` / ``dis_pred_stride_S``: ``nanodet`` (v0.x);
- one output [1, K, 6] with K <= 1000: ``end2end``;
- [1, 4 + C, P]: ``yolov8`` (ultralytics, C from the shape);
- [1, P, 5 + C] (or P over strides up to 64): ``yolox``; raw head or decoded is told by a probe
  run (raw x, y are offsets of a few grid cells; decoded ones are pixels across the image);
- [1, 3 * P, 5 + C]: ``yolov5`` (three anchors per cell);
- [1, sum over 8..64 of ceil(h / s) * ceil(w / s), C + 32]: ``nanodet-plus`` (at multiples of 64
  a YOLOX-P6 grid has the same row count: the probe tells them apart by the value range).

A YOLOX export whose score columns are not probabilities on a probe image (logits: the
sigmoid left out of the graph) is refused too. Anything else, or more than one fit, is an error naming the outputs found and the layouts
that would fit, so a wrong guess never turns into a silent 0 AP.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Callable, Sequence

import numpy as np

NANODET_V0 = re.compile(r"^(cls|dis)_pred_stride_(\d+)$")


def _cells(h: int, w: int, strides, ceil: bool) -> int:
    return sum((math.ceil(h / s) * math.ceil(w / s)) if ceil else (h // s) * (w // s) for s in strides)


def nanodet_v0_outputs(names: Sequence[str]) -> dict[int, tuple[str, str]] | None:
    """{stride: (cls output, dis output)} when the outputs are NanoDet v0.x's per-stride pairs."""
    found: dict[int, dict[str, str]] = {}
    for n in names:
        m = NANODET_V0.match(n)
        if m:
            found.setdefault(int(m.group(2)), {})[m.group(1)] = n
    pairs = {s: (d["cls"], d["dis"]) for s, d in found.items() if set(d) == {"cls", "dis"}}
    return dict(sorted(pairs.items())) if pairs and len(pairs) == len(found) else None


def fitting(size: tuple[int, int] | None, outputs: list[tuple[str, list]]) -> dict[str, str]:
    """Layouts whose shape rule the outputs satisfy: {layout: why}."""
    names = [n for n, _ in outputs]
    pairs = nanodet_v0_outputs(names)
    if pairs:
        return {"nanodet": f"per-stride outputs for strides {list(pairs)}"}
    shape = list(outputs[0][1])
    dims = shape[1:] if len(shape) == 3 else shape
    if len(dims) != 2 or not all(isinstance(d, int) for d in dims):
        return {}
    a, d = dims
    fits = {}
    if d in (6, 7) and a <= 1000:
        fits["end2end"] = f"[{a}, {d}]: boxes, score, class after NMS"
    if size is None:
        return fits
    h, w = size
    p3, p6 = _cells(h, w, (8, 16, 32), False), _cells(h, w, (8, 16, 32, 64), False)
    if d == p3 and a > 4:
        fits["yolov8"] = f"[4 + {a - 4}, {d}] over {d} cells of strides 8/16/32"
    if a in (p3, p6) and d > 5:
        fits["yolox"] = f"[{a}, 5 + {d - 5}] over {a} cells of strides 8..{32 if a == p3 else 64}"
    if a == 3 * p3 and d > 5:
        fits["yolov5"] = f"[{a}, 5 + {d - 5}] = 3 anchors x {p3} cells"
    if a == _cells(h, w, (8, 16, 32, 64), True) and d > 32:
        fits["nanodet-plus"] = f"[{a}, {d - 32} + 32] over {a} priors of strides 8..64"
    return fits


def yolox_decoded(sample: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether a YOLOX output [N, 5 + C] holds decoded pixel boxes (``--decode_in_inference``)
    rather than the raw head: raw centre offsets stay within a few grid cells."""
    return float(np.abs(sample[:, :2]).max()) > min(size) / 4


def detect(size: tuple[int, int] | None, outputs: list[tuple[str, list]], probe: Callable[[], np.ndarray], where: str) -> str:
    """The layout of an export, or ValueError naming what was found and what would fit."""
    probe = functools.lru_cache(maxsize=1)(probe)  # one model run at most, whichever checks need it
    fits = fitting(size, outputs)
    if set(fits) == {"yolox", "nanodet-plus"}:  # at multiples of 64 a YOLOX-P6 grid has NanoDet-Plus's row count:
        sample = probe()  # YOLOX rows end in sigmoid obj + classes; NanoDet-Plus rows in unbounded distribution logits
        fits.pop("nanodet-plus" if float(sample[:, 4:].min()) >= 0.0 and float(sample[:, 4:].max()) <= 1.0 else "yolox")
    found = ", ".join(f"{n} {list(s)}" for n, s in outputs)
    if len(fits) != 1:
        why = ("no known layout fits" if not fits else "several layouts fit: " + "; ".join(f"{k} ({v})" for k, v in fits.items()))
        raise ValueError(f"{where}: cannot tell the output layout ({why}); outputs: {found}; input "
                         f"{'dynamic' if size is None else f'{size[0]}x{size[1]}'}. Pass layout=NAME (--detector-arg layout=NAME) "
                         f"with one of: yolov8, yolov5, yolox, yolox-decoded, nanodet, nanodet-plus, end2end"
                         + (", and input_size=H,W for a dynamic input" if size is None else ""))
    (layout,) = fits
    if layout == "yolox":  # the probe runs for YOLOX-shaped outputs only (one model run)
        check_probabilities(probe(), layout, where)
    if layout == "yolox" and yolox_decoded(probe(), size):
        return "yolox-decoded"
    return layout


def check_probabilities(sample: np.ndarray, layout: str, where: str) -> None:
    """A YOLOX row ends in objectness and class scores that the official exporters put
    through a sigmoid in the graph; logits there (an export that leaves the sigmoid to its own
    post-processing, e.g. bubbliiiing's yolox-pytorch) would be read as scores and give a
    plausible-looking wrong result, so they are refused."""
    lo, hi = float(sample[:, 4:].min()), float(sample[:, 4:].max())
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        raise ValueError(f"{where}: the {layout} output's objectness/class columns range over [{lo:.3g}, {hi:.3g}] on a grey "
                         "image, not [0, 1]: the graph leaves out the sigmoid the official exporter puts in, so its scores "
                         "cannot be read by this layout (re-export with the upstream's export script)")
