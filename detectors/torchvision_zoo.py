"""torchvision detectors: Faster R-CNN, Mask R-CNN (boxes and instance masks), RetinaNet, FCOS, SSD, SSDlite.

Stages: ``preprocess`` = uint8 -> float, torchvision's GeneralizedRCNNTransform (normalise,
resize to ``min_size``/``max_size``, batch with padding); ``forward`` = backbone + heads
(for the two-stage models this includes the RPN and the ROI heads, whose NMS torchvision
fuses into them); ``postprocess`` = box decoding + NMS (one-stage models), rescaling to the
original image, label mapping, threshold and cap; for Mask R-CNN also pasting the kept
detections' 28x28 mask probabilities into the original image (torchvision's own
``paste_masks_in_image``), thresholding at 0.5 (as torchvision's reference COCO evaluation
does) and RLE encoding.

Evaluation settings are passed to torchvision explicitly: the score threshold (torchvision's
own default is 0.05, which cuts the PR curve), ``detections_per_img`` (default 100 caps LVIS
at the wrong place) and the NMS IoU.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

from detectors.base import Batch, Detections, Detector, count_parameters, finalize, to_chw_tensors, torch_dtype
from detectors.labels import build_label_map
from detectors.weights import WeightsRejected, download_checkpoint, is_local, load_state_dict_file, require_hub, torch_checkpoint_dir, unavailable, verified_state_dict

# threshold / cap / NMS keyword names of the torchvision builders, per model kind
_SETTING_NAMES = {
    "rcnn": ("box_score_thresh", "box_detections_per_img", "box_nms_thresh"),
    "retinanet": ("score_thresh", "detections_per_img", "nms_thresh"),
    "fcos": ("score_thresh", "detections_per_img", "nms_thresh"),
    "ssd": ("score_thresh", "detections_per_img", "nms_thresh"),
}


def _float(raw):
    """Head outputs and anchors in float32: box decoding and NMS kernels lack half types on CPU."""
    head, anchors, features = raw
    return {k: v.float() for k, v in head.items()}, [a.float() for a in anchors], features


_BUILD_LOCK = threading.Lock()


def _build_with_state_dict(fn, weights_enum, state: dict, path: Path, kwargs: dict):
    """``fn(weights=weights_enum)`` (so that the builder makes every choice it makes for trained
    weights: frozen BatchNorm, eps overrides, class count) with ``state`` as the weights: while it
    runs, torchvision's loader returns the state dict detbench loaded and verified itself instead
    of ``torch.load``-ing the cache with full pickle. Any other download it asks for is refused."""
    import torchvision.models._api as api

    def verified_only(url, *args, **kw):
        if url != weights_enum.url:
            raise WeightsRejected(f"{fn.__name__} asked for {url}, which detbench does not load (only {weights_enum.url})")
        return state

    with _BUILD_LOCK:
        original = api.load_state_dict_from_url
        api.load_state_dict_from_url = verified_only
        try:
            return fn(weights=weights_enum, **kwargs)
        except RuntimeError as e:  # the verified file does not fit the architecture
            raise WeightsRejected(f"{path}: does not fit {fn.__name__} ({weights_enum}): {str(e)[:300]}") from e
        finally:
            api.load_state_dict_from_url = original


MASK_THRESHOLD = 0.5  # torchvision's references/detection/coco_eval.py: masks = masks > 0.5
MASKS_NOTE = (f"mask probabilities pasted into the original image by torchvision's paste_masks_in_image (kept detections only), "
              f"> {MASK_THRESHOLD}, compressed RLE")


def _mask_paster(mask_probs, boxes, size: tuple[int, int]):
    """For ``finalize``: the masks of chosen rows. mask_probs: [N, 1, M, M] ROI mask
    probabilities; boxes: [N, 4] XYXY in ORIGINAL pixels as torchvision pastes with them
    (resized back, not yet clipped); size: (H, W) of the original image."""

    def paste(rows):
        import torch
        from torchvision.models.detection.roi_heads import paste_masks_in_image

        from detectors.base import encode_binary_masks

        sel = torch.as_tensor(rows, dtype=torch.long, device=mask_probs.device)
        with torch.inference_mode():
            pasted = paste_masks_in_image(mask_probs[sel].float(), boxes[sel].float(), size)  # [K, 1, H, W]
            return encode_binary_masks(pasted[:, 0] > MASK_THRESHOLD, size)

    return paste


class TorchvisionDetector(Detector):
    """builder: name in ``torchvision.models.detection``; weights_enum: "EnumClass.MEMBER";
    checkpoint: the file name torchvision caches it under; kind: rcnn | retinanet | fcos | ssd;
    num_classes: of a local checkpoint (default 91, COCO); min_size / max_size / tiny: input
    size overrides (tiny: a small input and, for R-CNNs, 100 RPN proposals, for smoke tests)."""

    family = "torchvision"

    def __init__(self, classes: Sequence[str], builder: str, weights_enum: str, checkpoint: str, kind: str,
                 published: dict | None = None, num_classes: int | None = None, min_size: int | None = None,
                 max_size: int | None = None, tiny: bool = False, **common):
        super().__init__(classes, **common)
        import torchvision.models.detection as tvd

        self.builder, self.kind, self.published = builder, kind, dict(published or {})
        enum_cls, member = weights_enum.split(".")
        self.weights_enum = getattr(getattr(tvd, enum_cls), member)
        score_key, cap_key, nms_key = _SETTING_NAMES[kind]
        kwargs = {score_key: self.score_threshold}
        if self.nms_iou is not None:
            kwargs[nms_key] = float(self.nms_iou)
        if tiny:  # smoke / equality tests: a small input, and fewer RPN proposals for the ROI heads
            min_size, max_size = min_size or 96, max_size or 160
            if kind == "rcnn":
                kwargs.update(rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=100)
        if kind != "ssd" and min_size:
            kwargs["min_size"] = min_size
        if kind != "ssd" and max_size:
            kwargs["max_size"] = max_size
        fn = getattr(tvd, builder)
        coco_names = self.weights_enum.meta["categories"]
        if self.random_weights or is_local(self.weights):
            n = num_classes or (len(self.classes) + 1 if self.random_weights else len(coco_names))
            model_names = coco_names if n == len(coco_names) else ["__background__", *self.classes]
        else:
            model_names = coco_names
        self.label_map = build_label_map(model_names, self.classes)
        # keep more candidates inside torchvision when some model classes are dropped afterwards
        dropped = self.label_map.mapped < len([m for m in model_names if m not in ("__background__", "N/A")])
        self.internal_cap = self.max_detections * (10 if dropped else 1)
        kwargs[cap_key] = self.internal_cap
        if self.random_weights or is_local(self.weights):
            model = fn(weights=None, weights_backbone=None, num_classes=len(model_names), **kwargs)
            if is_local(self.weights):
                state = load_state_dict_file(self.weights)  # weights_only=True: no code in the file runs
                try:
                    model.load_state_dict(state)
                except RuntimeError as e:
                    raise ValueError(
                        f"{self.weights}: does not fit {builder} with {len(model_names)} classes "
                        f"(pass --detector-arg num_classes=N for a fine-tuned checkpoint): {str(e)[:300]}"
                    ) from e
            self.weights_source = "random" if self.random_weights else str(Path(self.weights).resolve())
        else:
            cached = torch_checkpoint_dir() / checkpoint
            if not cached.exists():
                why = require_hub("torchvision")
                if why:
                    raise unavailable(weights_enum, builder, why, cached.parent, "a .pth state dict")
                try:
                    download_checkpoint(self.weights_enum.url, cached)
                except Exception as e:  # URLError, timeout, HTTP errors, hash mismatch of the download
                    raise unavailable(weights_enum, builder, e, cached.parent, "a .pth state dict") from e
            state = verified_state_dict(cached)  # sha256 prefix of the name, then weights_only=True
            model = _build_with_state_dict(fn, self.weights_enum, state, cached, kwargs)
            self.weights_source = self.weights_enum.url
            self.checkpoint_file = str(cached)
        self.masks = kind == "rcnn" and getattr(model.roi_heads, "mask_head", None) is not None  # Mask R-CNN: mask head on
        self.torch_dtype = torch_dtype(self.dtype)
        self.model = model.eval().to(self.device, self.torch_dtype)

    def compile(self, **options) -> None:
        """Compile the backbone and heads (``forward`` calls them, not the top module)."""
        import torch

        m = self.model
        m.backbone = torch.compile(m.backbone, **options)
        if self.kind != "rcnn":
            m.head = torch.compile(m.head, **options)

    def preprocess(self, images) -> Batch:
        import torch

        with torch.inference_mode():
            tensors = [t.to(self.torch_dtype) / 255.0 for t in to_chw_tensors(images, self.device)]
            sizes = [(int(t.shape[1]), int(t.shape[2])) for t in tensors]
            image_list, _ = self.model.transform(tensors)
        return Batch(image_list, sizes)

    def forward(self, batch: Batch):
        from collections import OrderedDict

        import torch

        m, images = self.model, batch.inputs
        with torch.inference_mode():
            features = m.backbone(images.tensors)
            if isinstance(features, torch.Tensor):
                features = OrderedDict([("0", features)])
            if self.kind == "rcnn":
                proposals, _ = m.rpn(images, features)
                detections, _ = m.roi_heads(features, proposals, images.image_sizes)
                return detections
            features = list(features.values())
            return m.head(features), m.anchor_generator(images, features), features

    def postprocess(self, raw, batch: Batch) -> list[Detections]:
        import torch

        m, images = self.model, batch.inputs
        with torch.inference_mode():
            if self.kind == "rcnn":  # copies: the raw output stays as forward left it; masks are pasted below, kept rows only
                detections = [{k: v for k, v in d.items() if k != "masks"} for d in raw]
            elif self.kind == "ssd":
                head, anchors, _ = _float(raw)
                detections = m.postprocess_detections(head, anchors, images.image_sizes)
            else:
                head, anchors, features = _float(raw)
                per_level = [x.size(2) * x.size(3) for x in features]
                if self.kind == "retinanet":
                    a = head["cls_logits"].size(1) // sum(per_level)
                    per_level = [n * a for n in per_level]
                split_head = {k: list(v.split(per_level, dim=1)) for k, v in head.items()}
                split_anchors = [list(x.split(per_level)) for x in anchors]
                detections = m.postprocess_detections(split_head, split_anchors, images.image_sizes)
            detections = m.transform.postprocess(detections, images.image_sizes, batch.sizes)
        return [
            finalize(d["boxes"].float().cpu().numpy(), d["scores"].float().cpu().numpy(), d["labels"].cpu().numpy(),
                     size, self.score_threshold, self.max_detections, self.label_map.model_to_dataset,
                     masks=_mask_paster(r["masks"], d["boxes"], size) if self.masks else None)
            for d, r, size in zip(detections, raw if self.kind == "rcnn" else detections, batch.sizes)
        ]  # fmt: skip

    def describe(self) -> dict:
        t = self.model.transform
        return {
            **super().describe(),
            "variant": self.builder,
            "weights_id": "random" if self.random_weights else str(self.weights_enum),
            "weights_source": self.weights_source,
            "input_size": {"min_size": list(t.min_size) if isinstance(t.min_size, (tuple, list)) else t.min_size,
                           "max_size": t.max_size, "resize": "shorter side to min_size, longer capped at max_size"},
            "parameters": count_parameters(self.model),
            "postprocess": {"nms_stage": "forward (inside ROI heads)" if self.kind == "rcnn" else "postprocess",
                            "internal_detections_per_img": self.internal_cap, "clip_boxes": True,
                            **({"masks": MASKS_NOTE} if self.masks else {})},
            "masks": self.masks,
            "label_map": self.label_map.describe(),
            "published": {} if self.random_weights else self.published,
        }  # fmt: skip
