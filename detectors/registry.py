"""The detector registry: a literal dict from name to ``("module:Class", kwargs)``.

Adapters are imported lazily, only when a detector is built; listing the registry imports
nothing heavy. Adding a detector is its adapter plus one line here; the contract tests are
parametrised over this dict. ``published`` figures are COCO val2017 box AP (and mask AP for segmentation models; percent) as the
weights' metadata (torchvision) or the model's paper / card states them.
"""

from __future__ import annotations

import difflib
import importlib

_TV = "detectors.torchvision_zoo:TorchvisionDetector"
_HF = "detectors.hf_closed:HFDetector"
_OV = "detectors.hf_open_vocab:OpenVocabDetector"
_YOLO = "detectors.ultralytics_yolo:UltralyticsDetector"
_ONNX = "detectors.onnx_runtime:OnnxDetector"


def _tv(builder: str, enum: str, checkpoint: str, kind: str, box_map: float, mask_map: float | None = None) -> tuple[str, dict]:
    published = {"box_map": box_map, **({"mask_map": mask_map} if mask_map is not None else {}), "source": "torchvision weights meta"}
    return _TV, {"builder": builder, "weights_enum": enum, "checkpoint": checkpoint, "kind": kind, "published": published}


def _hf(target: str, repo: str, arch: str, ap: float | None = None, source: str = "paper", **kw) -> tuple[str, dict]:
    published = {"box_map": ap, "source": source} if ap is not None else {}
    return target, {"repo": repo, "arch": arch, "published": published, **kw}


def _yolo(name: str, ap: float, mask_ap: float | None = None) -> tuple[str, dict]:
    published = {"box_map": ap, **({"mask_map": mask_ap} if mask_ap is not None else {}), "source": "ultralytics docs"}
    task = {"task": "segment"} if mask_ap is not None else {}
    return _YOLO, {"weights_name": f"{name}.pt", "variant": f"{name}.yaml", "published": published, **task}


REGISTRY: dict[str, tuple[str, dict]] = {
    # torchvision
    "fasterrcnn_resnet50_fpn": _tv("fasterrcnn_resnet50_fpn", "FasterRCNN_ResNet50_FPN_Weights.COCO_V1", "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", "rcnn", 37.0),
    "fasterrcnn_resnet50_fpn_v2": _tv("fasterrcnn_resnet50_fpn_v2", "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1", "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth", "rcnn", 46.7),
    "fasterrcnn_mobilenet_v3_large_fpn": _tv("fasterrcnn_mobilenet_v3_large_fpn", "FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1", "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth", "rcnn", 32.8),
    "fasterrcnn_mobilenet_v3_large_320_fpn": _tv("fasterrcnn_mobilenet_v3_large_320_fpn", "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1", "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth", "rcnn", 22.8),
    "retinanet_resnet50_fpn": _tv("retinanet_resnet50_fpn", "RetinaNet_ResNet50_FPN_Weights.COCO_V1", "retinanet_resnet50_fpn_coco-eeacb38b.pth", "retinanet", 36.4),
    "retinanet_resnet50_fpn_v2": _tv("retinanet_resnet50_fpn_v2", "RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1", "retinanet_resnet50_fpn_v2_coco-5905b1c5.pth", "retinanet", 41.5),
    "fcos_resnet50_fpn": _tv("fcos_resnet50_fpn", "FCOS_ResNet50_FPN_Weights.COCO_V1", "fcos_resnet50_fpn_coco-99b0c9b7.pth", "fcos", 39.2),
    "ssd300_vgg16": _tv("ssd300_vgg16", "SSD300_VGG16_Weights.COCO_V1", "ssd300_vgg16_coco-b556d3b4.pth", "ssd", 25.1),
    "ssdlite320_mobilenet_v3_large": _tv("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1", "ssdlite320_mobilenet_v3_large_coco-a79551df.pth", "ssd", 21.3),
    "maskrcnn_resnet50_fpn": _tv("maskrcnn_resnet50_fpn", "MaskRCNN_ResNet50_FPN_Weights.COCO_V1", "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth", "rcnn", 37.9, 34.6),
    "maskrcnn_resnet50_fpn_v2": _tv("maskrcnn_resnet50_fpn_v2", "MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1", "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth", "rcnn", 47.4, 41.8),
    # HF transformers, closed vocabulary
    "detr_resnet50": _hf(_HF, "facebook/detr-resnet-50", "detr", 42.0),
    "detr_resnet101": _hf(_HF, "facebook/detr-resnet-101", "detr", 43.5),
    "conditional_detr_resnet50": _hf(_HF, "microsoft/conditional-detr-resnet-50", "conditional_detr", 40.9),
    "deformable_detr": _hf(_HF, "SenseTime/deformable-detr", "deformable_detr"),
    "deformable_detr_box_refine_two_stage": _hf(_HF, "SenseTime/deformable-detr-with-box-refine-two-stage", "deformable_detr"),
    "dab_detr_resnet50": _hf(_HF, "IDEA-Research/dab-detr-resnet-50", "dab_detr"),
    "rtdetr_r18vd": _hf(_HF, "PekingU/rtdetr_r18vd", "rt_detr", 46.5),
    "rtdetr_r50vd": _hf(_HF, "PekingU/rtdetr_r50vd", "rt_detr", 53.1),
    "rtdetr_r101vd": _hf(_HF, "PekingU/rtdetr_r101vd", "rt_detr", 54.3),
    "rtdetr_v2_r18vd": _hf(_HF, "PekingU/rtdetr_v2_r18vd", "rt_detr_v2", 47.9),
    "rtdetr_v2_r50vd": _hf(_HF, "PekingU/rtdetr_v2_r50vd", "rt_detr_v2", 53.4),
    "dfine_nano": _hf(_HF, "ustc-community/dfine-nano-coco", "d_fine", 42.8),
    "dfine_small": _hf(_HF, "ustc-community/dfine-small-coco", "d_fine", 48.5),
    "dfine_large": _hf(_HF, "ustc-community/dfine-large-coco", "d_fine", 54.0),
    "dfine_xlarge": _hf(_HF, "ustc-community/dfine-xlarge-coco", "d_fine", 55.8),
    "yolos_tiny": _hf(_HF, "hustvl/yolos-tiny", "yolos", 28.7),
    "yolos_small": _hf(_HF, "hustvl/yolos-small", "yolos", 36.1),
    # HF transformers, open vocabulary (the dataset's class names are the queries)
    "owlvit_base_patch32": _hf(_OV, "google/owlvit-base-patch32", "owlvit"),
    "owlvit_base_patch16": _hf(_OV, "google/owlvit-base-patch16", "owlvit"),
    "owlvit_large_patch14": _hf(_OV, "google/owlvit-large-patch14", "owlvit"),
    "owlv2_base_patch16_ensemble": _hf(_OV, "google/owlv2-base-patch16-ensemble", "owlv2"),
    "owlv2_large_patch14_ensemble": _hf(_OV, "google/owlv2-large-patch14-ensemble", "owlv2"),
    "grounding_dino_tiny": _hf(_OV, "IDEA-Research/grounding-dino-tiny", "grounding_dino", 48.4, source="paper, zero-shot"),
    "grounding_dino_base": _hf(_OV, "IDEA-Research/grounding-dino-base", "grounding_dino"),
    # YOLO: ultralytics (AGPL-3.0, optional extra) and exported ONNX models (pass --weights FILE; "onnx" reads the layout from the graph)
    "yolov8n": _yolo("yolov8n", 37.3),
    "yolov8s": _yolo("yolov8s", 44.9),
    "yolo11n": _yolo("yolo11n", 39.5),
    "yolo11s": _yolo("yolo11s", 47.0),
    "yolov8n-seg": _yolo("yolov8n-seg", 36.7, mask_ap=30.5),  # segmentation: masks too
    "yolo11n-seg": _yolo("yolo11n-seg", 38.9, mask_ap=32.0),
    "onnx": (_ONNX, {"layout": "auto"}),
    "onnx_yolov8": (_ONNX, {"layout": "yolov8"}),
    "onnx_yolov5": (_ONNX, {"layout": "yolov5"}),
    "onnx_yolox": (_ONNX, {"layout": "yolox"}),
    "onnx_yolox_decoded": (_ONNX, {"layout": "yolox-decoded"}),
    "onnx_nanodet": (_ONNX, {"layout": "nanodet"}),
    "onnx_nanodet_plus": (_ONNX, {"layout": "nanodet-plus"}),
    # Real pretrained exports shipped in the package (detectors/embedded/: origin, sha256, licence)
    "yolox_nano": (_ONNX, {"layout": "yolox", "embedded": "yolox_nano",
                           "published": {"box_map": 25.8, "input_size": 416, "source": "YOLOX README (Megvii-BaseDetection/YOLOX)"}}),
    "nanodet_m": (_ONNX, {"layout": "nanodet", "embedded": "nanodet_m",
                          "published": {"box_map": 20.6, "input_size": 320, "source": "NanoDet v0.x README (RangiLyu/nanodet)"}}),
}  # fmt: skip

FAMILIES = {
    "detectors.torchvision_zoo": "torchvision",
    "detectors.hf_closed": "hf-transformers",
    "detectors.hf_open_vocab": "hf-open-vocabulary",
    "detectors.ultralytics_yolo": "ultralytics",
    "detectors.onnx_runtime": "onnxruntime",
}


def resolve(name: str) -> tuple[str, dict]:
    """The registry entry of ``name``; unknown names get close matches or the full list."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=5)
        hint = f" did you mean: {', '.join(close)}?" if close else f" registered: {', '.join(sorted(REGISTRY))}"
        raise KeyError(f"unknown detector {name!r};{hint}")
    return REGISTRY[name]


def family(name: str) -> str:
    return FAMILIES[resolve(name)[0].split(":")[0]]


def produces_masks(name: str) -> bool:
    """Whether the registered detector ``name`` predicts instance masks (``Detections.masks``),
    known without building it: Mask R-CNN, and ultralytics segmentation models."""
    target, kw = resolve(name)
    return str(kw.get("builder", "")).startswith("maskrcnn") or kw.get("task") == "segment"


def build(name: str, classes, **kwargs):
    """Instantiate the registered detector ``name`` for the dataset's ``classes``."""
    target, defaults = resolve(name)
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(classes, **{**defaults, **kwargs})


# What a detector saw in training, per target benchmark (the dataset family a protocol scores):
#   zero-shot:       no annotations of the target dataset (its classes may still occur in other data)
#   open-vocabulary: the target dataset's base classes only, novel ones held out (OV-COCO 48/17, LVIS without rare)
#   fine-tuned:      the target dataset's annotations of every class it is scored on
#   partial-label:   part of the target dataset's labels (a fraction of images or of classes' annotations)
# Only what a source states is listed; anything else is unknown ("?" in the leaderboard). A run
# may override it (``--training-regime``), and the record says which.
REGIMES = ("zero-shot", "open-vocabulary", "fine-tuned", "partial-label")
_GDINO_PAPER = "Grounding DINO paper (Liu et al. 2023), Tables 2-3: Swin-T trained on O365, GoldG, Cap4M; COCO and LVIS minival zero-shot"
_OWL_README = "google-research/scenic scenic/projects/owl_vit/README.md: headline figures are 'zero-shot LVIS APr'"
TRAINING_REGIME: dict[str, dict[str, tuple[str, str]]] = {
    "grounding_dino_tiny": {"coco": ("zero-shot", _GDINO_PAPER), "lvis": ("zero-shot", _GDINO_PAPER)},
    **{n: {"lvis": ("zero-shot", _OWL_README)} for n, (_, kw) in REGISTRY.items() if kw.get("arch") in ("owlvit", "owlv2")},
    **{n: {"coco": ("fine-tuned", "COCO train2017 weights (" + kw["published"]["source"] + ")")}
       for n, (_, kw) in REGISTRY.items() if (kw.get("published") or {}).get("box_map") and kw.get("arch") not in ("grounding_dino",)},
}  # fmt: skip


def training_regime(name: str, benchmark: str) -> tuple[str, str] | None:
    """(regime, source) of registered detector ``name`` on ``benchmark`` ("coco", "lvis", ...); None: unknown."""
    return TRAINING_REGIME.get(name, {}).get(benchmark)
