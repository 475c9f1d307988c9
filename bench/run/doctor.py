"""``bench doctor``: which preprocessing makes an exported detector see the images as it was trained to.

An export fed another colour order, scale, mean/std or letterbox placement than it was made for
still runs and still gives varied boxes, only wrong ones (AP near 0). The doctor runs the
detector's layout under each variant of those settings on a few real images, scores each
(COCO AP50 on those images, true positives at IoU 0.5) and prints the table, best first, with the
``--detector-arg`` flags of the plausible ones. It is advice: nothing is applied to any run.

The input size is the graph's when it is static (an export's fixed shape); a dynamic one is
the detector's ``input_size``. Applies to detectors with a layout's ``Preprocessing`` (the
ONNX adapter: ``detectors.onnx_runtime``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, of pixels scaled to [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
PLAUSIBLE_AP50 = 0.05  # on a handful of real images a working detector scores far above this
NORMALISATIONS = {
    "0-255": {"scale": 1.0, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)},
    "0-1": {"scale": 1 / 255.0, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)},
    "imagenet": {"scale": 1 / 255.0, "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
}


@dataclass
class Variant:
    """One preprocessing to try: ``args`` are the detector keyword arguments that set it."""

    label: str
    args: dict
    current: bool = False
    ap50: float | None = None
    true_positives: int = 0
    detections: int = 0
    plausible: bool = False


def normalisation_of(pre) -> str | None:
    """The name in :data:`NORMALISATIONS` of a ``Preprocessing``'s ``(x * scale - mean) / std``
    (compared as mean / scale and std / scale, in 0-255 units), or None for another one."""
    for name, n in NORMALISATIONS.items():
        mean, std = (n["mean"], n["std"]) if pre.colour == "rgb" else (n["mean"][::-1], n["std"][::-1])
        pairs = [(a / pre.scale, b / n["scale"]) for a, b in (*zip(pre.mean, mean), *zip(pre.std, std))]
        if all(abs(x - y) < 0.01 for x, y in pairs):
            return name
    return None


def variants(pre) -> list[Variant]:
    """Colour order x normalisation x placement (letterbox: centred or top-left; warp: kept ratio
    or stretched) for a layout's ``Preprocessing``; the one given is marked ``current``."""
    out = []
    placements = ([("centred", {"centre": True}), ("top-left", {"centre": False})] if pre.resize == "letterbox"
                  else [("kept ratio", {"keep_ratio": True}), ("stretched", {"keep_ratio": False})])  # fmt: skip
    current_norm = normalisation_of(pre)
    for colour in ("bgr", "rgb"):
        for norm, n in NORMALISATIONS.items():
            mean, std = (n["mean"], n["std"]) if colour == "rgb" else (n["mean"][::-1], n["std"][::-1])
            for place, place_args in placements:
                args = {"colour": colour, "scale": n["scale"], "mean": list(mean), "std": list(std), **place_args}
                here = (colour == pre.colour and norm == current_norm
                        and all(getattr(pre, k) == v for k, v in place_args.items()))  # fmt: skip
                out.append(Variant(f"{colour.upper()} {norm} {place}", args, here))
    return out


def diagnose(make: Callable[..., object], ds, images: Sequence, idx: Sequence[int], protocol) -> list[Variant]:
    """Every variant of ``make()``'s preprocessing scored on ``images`` (uint8 RGB, dataset rows
    ``idx``), best first. ``make(**args)`` builds the detector with those preprocessing arguments."""
    from bench.metrics.codes import TP
    from bench.run.inference import score

    base = make()
    if not hasattr(base, "pre"):
        raise ValueError(f"{type(base).__name__} has no layout preprocessing to vary (bench doctor applies to exported layouts, e.g. ONNX)")
    found = variants(base.pre)
    if not any(v.current for v in found):  # the given preprocessing is none of the grid's: try it too
        found.insert(0, Variant("as given", {}, True))
    for v in found:
        det = make(**v.args) if v.args else base
        dets = [det.predict([im])[0] for im in images]
        _, _, result = score(ds, idx, dets, protocol)
        t50 = result.protocol.iou_index(0.5)
        v.ap50, v.detections = result.metrics.get("AP50"), sum(len(d) for d in dets)
        v.true_positives = int((result.table.status[t50] == TP).sum()) if t50 is not None else 0
    best = max((v.ap50 or 0.0) for v in found)
    for v in found:
        v.plausible = (v.ap50 or 0.0) >= max(PLAUSIBLE_AP50, 0.5 * best) and v.true_positives > 0
    return sorted(found, key=lambda v: -(v.ap50 or 0.0))


def flags(v: Variant) -> str:
    """The ``--detector-arg`` flags that select variant ``v``."""

    def show(x):  # YAML, as parse_detector_args reads it back
        return "[" + ",".join(repr(float(e)) for e in x) + "]" if isinstance(x, (list, tuple)) else str(x).lower() if isinstance(x, bool) else repr(x) if isinstance(x, float) else str(x)

    return " ".join(f"--detector-arg '{k}={show(x)}'" for k, x in v.args.items())


def format_diagnosis(found: list[Variant], name: str, images: int) -> str:
    from bench.fmt import pts

    lines = [f"{name}: {len(found)} preprocessing variants on {images} images (AP50 on those images; advice only, nothing is applied)",
             f"  {'variant':<28} {'AP50':>6} {'TP@0.5':>7} {'detections':>10}"]  # fmt: skip
    for v in found:
        mark = ("  <- given" if v.current else "") + ("  plausible" if v.plausible else "")
        lines.append(f"  {v.label:<28} {pts(v.ap50, width=6)} {v.true_positives:>7} {v.detections:>10}{mark}")
    good = [v for v in found if v.plausible]
    if not good:
        lines.append("no variant gives plausible detections: check the layout, the weights, the label map and the input size")
    elif any(v.current for v in good):
        lines.append("the given preprocessing is among the plausible ones" + ("" if good[0].current else
                     f"; best on these images: {good[0].label} ({flags(good[0])}); a gap of a few AP50 points on "
                     f"{images} images is within their noise: score both on the full dataset before changing anything"))  # fmt: skip
    else:
        lines.append(f"the given preprocessing is not plausible; best: {good[0].label}: {flags(good[0])}")
    return "\n".join(lines)



def run_doctor(detector: str, dataset: str = "coco-val2017-mini", images: int = 8, weights: str | None = None,
               detector_args: dict | None = None) -> tuple[list[Variant], str]:  # fmt: skip
    """Diagnose registered ``detector`` (``weights``: a model file) on the first ``images`` images
    of ``dataset`` that hold ground truth: (variants best first, the printed table)."""
    import numpy as np

    from bench.data.catalog import load_dataset
    from bench.data.images import load_image
    from bench.protocols import get_protocol
    from detectors.registry import build

    ds, root, protocol = load_dataset(dataset)
    with_gt = np.unique(ds.boxes.image_idx[~ds.boxes.iscrowd])
    idx = [int(i) for i in with_gt[:images]]
    loaded = [load_image(root / ds.images.files[i]) for i in idx]
    base = {**(detector_args or {}), **({"weights": weights} if weights else {})}
    found = diagnose(lambda **kw: build(detector, list(ds.categories.names), **{**base, **kw}), ds, loaded, idx, get_protocol(protocol))
    return found, format_diagnosis(found, detector + (f" ({weights})" if weights else ""), len(idx))
