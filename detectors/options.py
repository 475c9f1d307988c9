"""The ``--detector-arg KEY=VALUE`` keys each family accepts, with what they do.

Run settings (device, dtype, weights, score threshold, max detections, NMS IoU) are options of
their own (``--device``, ``--max-detections``, ...) and are refused here, so that a value is
never given twice and silently resolved. Unknown keys are refused with the list of known ones.
"""

from __future__ import annotations

SETTINGS = ("device", "dtype", "weights", "score_threshold", "max_detections", "nms_iou")

_TINY = {"tiny": "true: a minimal configuration of the same architecture (smoke tests with random weights only)"}
_HF_PRE = ("cpu (default): the image processor on numpy images, tensors moved after; device: uint8 tensors uploaded, "
           "resized and normalised on --device (a torch-backed processor; docs/gpu.md has the measured differences)")
FAMILY_ARGS: dict[str, dict[str, str]] = {
    "torchvision": {
        **_TINY,
        "min_size": "shorter side the model resizes to (torchvision's GeneralizedRCNNTransform; default: the checkpoint's)",
        "max_size": "cap on the longer side after resizing (default: the checkpoint's)",
    },
    "hf-transformers": {**_TINY, "preprocess": _HF_PRE},
    "hf-open-vocabulary": {
        **_TINY,
        "preprocess": _HF_PRE,
        "prompt": "text template per class name, e.g. 'a photo of a {}' (OWL-ViT / OWLv2)",
    },
    "ultralytics": {
        **_TINY,
        "imgsz": "square input size (default 640)",
        "rect": "true: the minimum-rectangle letterbox of `model.predict` (its default rect=True: the kept-ratio size padded "
                "up to a multiple of 32) when a batch's images share a shape; false: the square imgsz input (default), as "
                "`predict(rect=False)` and a static export",
        "multi_label": "true: one detection per (box, class) above the threshold, as `yolo val` does (default true)",
        "trust_pickle": "true: load a .pt file (an official name or --weights FILE) with full pickle, which runs code from "
                        "the file; only for files you trust (default false: .pt files are refused; export to ONNX instead)",
    },
    "onnxruntime": {
        "layout": "output layout: auto (read from the graph, default), yolov8, yolov5, yolox (raw head), yolox-decoded, "
                  "nanodet (v0.x), nanodet-plus, end2end",
        "input_size": "H,W or one int, when the input is dynamic and the metadata has no imgsz",
        "colour": "rgb or bgr: channel order fed to the model (default: the layout's exporter convention)",
        "scale": "multiply 0-255 pixels by this before mean/std (1/255 or 1)",
        "mean": "per-channel mean, in the fed channel order, after scaling",
        "std": "per-channel std, in the fed channel order, after scaling",
        "resize": "letterbox (cv2.resize + pad) or warp (NanoDet's warpPerspective)",
        "keep_ratio": "true: keep the aspect ratio and pad; false: stretch to the input size",
        "centre": "letterbox only: true pads on both sides (ultralytics), false at the bottom/right (YOLOX)",
        "pad_value": "grey level of the padding (114 YOLO/YOLOX, 0 NanoDet)",
        "model_classes": "the model's class names in output order, when the export carries none (default: COCO's 80)",
        "multi_label": "true: one detection per (box, class) above the threshold; false: the best class per box",
        "provider": "execution provider: auto (CUDA with --device cuda, else CPU; default), cpu, cuda, tensorrt",
        "cpu_fallback": "true: when --device cuda cannot get a GPU provider (CPU-only onnxruntime), run on the CPU and record and "
                        "show device cpu; default false: that is an error naming the fix (pip install onnxruntime-gpu)",
    },
}


def check_detector_args(family: str, args: dict) -> None:
    """ValueError for a key that is a run setting, or that the family does not accept."""
    clash = sorted(set(args) & set(SETTINGS))
    if clash:
        raise ValueError(f"--detector-arg {', '.join(clash)} would override a run setting; use "
                         f"{', '.join('--' + k.replace('_', '-') for k in clash)} instead")
    known = FAMILY_ARGS.get(family, {})
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise ValueError(f"--detector-arg {', '.join(unknown)}: not accepted by the {family} family; "
                         f"accepted: {', '.join(known) or 'none'} (see python -m bench run --help)")


def help_text() -> str:
    lines = ["--detector-arg keys, per family (python -m bench list shows each detector's family):"]
    for fam, keys in FAMILY_ARGS.items():
        lines.append(f"  {fam}:" + ("" if keys else " none"))
        lines += [f"    {k}: {v}" for k, v in keys.items()]
    return "\n".join(lines)
