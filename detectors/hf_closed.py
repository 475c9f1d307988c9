"""HF transformers closed-vocabulary detectors: DETR, Conditional DETR, Deformable DETR,
DAB-DETR, RT-DETR v1/v2, D-FINE, YOLOS.

``preprocess``: the model's own image processor (resize, normalise, pad + pixel mask).
``forward``: the network, giving ``logits`` [B, Q, C(+1)] and ``pred_boxes`` [B, Q, 4]
(normalised CXCYWH of the unpadded image). ``postprocess`` (ours, not HF's demo defaults):

- ``softmax`` decoding (DETR, YOLOS), as HF's ``post_process_object_detection`` and the
  official DETR evaluation: softmax over every model class + "no object", and each query
  keeps its arg-max class over all model classes, the "N/A" gaps of the 91-id COCO label
  space included. A query whose best class is such a gap is dropped, as the library labels it
  "N/A" and COCO evaluation never matches it. Deliberate deviation, only on a dataset that
  lacks some of the model's real classes (a COCO model on VOC): those classes are masked
  before the arg-max, so the query keeps its best class among the dataset's instead of being
  dropped (the library would label it e.g. "giraffe").
- ``sigmoid`` decoding (Conditional/Deformable/DAB-DETR, RT-DETR, D-FINE): sigmoid scores,
  top-k over all (query, class) pairs with k = max_detections, as the library; pairs of
  classes the dataset lacks (and "N/A" gaps) are left out before the top-k, which equals the
  library's top-k over all pairs with those pairs filtered out afterwards.

Boxes are clipped to the image (the library leaves them as predicted). No score threshold
other than the evaluation one (0.001 by default; HF's demos use 0.5).
``tests/test_adapters_vs_library.py`` compares all of this with the library's own pipeline.

Random weights build the registered variant from ``detectors/configs`` (see ``hf_common``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from detectors.base import Batch, Detections, Detector, count_parameters, finalize
from detectors.hf_common import (image_processor_from, load_pretrained, make_batch, pixel_inputs, preprocess_where, prepare_model, random_variant, scale_boxes, to_numpy, topk_flat, weights_source)  # fmt: skip
from detectors.labels import NOT_A_CLASS, build_label_map, canonical, identity_map, names_from_id2label


def _resnet(tiny: bool, stages=("stage1", "stage2", "stage3", "stage4"), **kw):
    import transformers as T

    if tiny:
        return T.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], layer_type="basic", out_features=list(stages))
    return T.ResNetConfig(out_features=list(stages), **kw)  # library default: ResNet-50


def _rt_backbone(tiny: bool):
    import transformers as T

    if tiny:
        return T.RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    return None


_DETR_TINY = dict(d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2, num_queries=10)  # fmt: skip
_RT_TINY = dict(encoder_in_channels=[16, 32, 64], encoder_hidden_dim=16, encoder_ffn_dim=16, encoder_attention_heads=2, d_model=16, decoder_in_channels=[16, 16, 16], decoder_ffn_dim=16, decoder_attention_heads=2, num_queries=10, decoder_layers=2, num_denoising=0, decoder_n_points=2)  # fmt: skip


def _config(arch: str, tiny: bool, overrides: dict):
    """A tiny config for tests, or the library defaults: the fallback for a repo without a
    shipped architecture file (``hf_common.random_variant``)."""
    import transformers as T

    if arch == "detr":
        kw = dict(backbone_config=_resnet(tiny), **(_DETR_TINY if tiny else {}))
        return T.DetrConfig(**{**kw, **overrides})
    if arch == "conditional_detr":
        return T.ConditionalDetrConfig(**{"backbone_config": _resnet(tiny), **(_DETR_TINY if tiny else {}), **overrides})
    if arch == "deformable_detr":
        kw = dict(_DETR_TINY, encoder_n_points=2, decoder_n_points=2, two_stage_num_proposals=10) if tiny else {}
        return T.DeformableDetrConfig(**{"backbone_config": _resnet(tiny, ("stage2", "stage3", "stage4")), **kw, **overrides})
    if arch == "dab_detr":
        kw = {k: v for k, v in _DETR_TINY.items() if k != "d_model"}
        return T.DabDetrConfig(**{"backbone_config": _resnet(tiny), **(dict(kw, hidden_size=32) if tiny else {}), **overrides})
    if arch in ("rt_detr", "rt_detr_v2"):
        cls = T.RTDetrConfig if arch == "rt_detr" else T.RTDetrV2Config
        kw = dict(_RT_TINY, backbone_config=_rt_backbone(True)) if tiny else {}
        return cls(**{**kw, **overrides})
    if arch == "d_fine":
        kw = {}
        if tiny:
            bb = T.HGNetV2Config(stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 16, 32], stage_mid_channels=[8, 8, 16, 16],
                                 stage_out_channels=[16, 16, 32, 32], stage_num_blocks=[1, 1, 1, 1], stage_downsample=[False, True, True, True],
                                 stage_light_block=[False, False, True, True], stage_kernel_size=[3, 3, 5, 5], stage_numb_of_layers=[2, 2, 2, 2],
                                 hidden_sizes=[16, 16, 32, 32], out_features=["stage2", "stage3", "stage4"])  # fmt: skip
            kw = dict(_RT_TINY, backbone_config=bb, encoder_in_channels=[16, 32, 32], decoder_n_points=[2, 2, 2], hidden_expansion=0.5, depth_mult=0.34, lqe_hidden_dim=8)  # fmt: skip
        return T.DFineConfig(**{**kw, **overrides})
    if arch == "yolos":
        kw = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, image_size=[64, 96], patch_size=16, num_detection_tokens=10) if tiny else {}  # fmt: skip
        return T.YolosConfig(**{**kw, **overrides})
    raise ValueError(f"unknown HF architecture {arch!r}")


# arch -> (model class, image processor class, decoding)
ARCHS = {
    "detr": ("DetrForObjectDetection", "DetrImageProcessor", "softmax"),
    "conditional_detr": ("ConditionalDetrForObjectDetection", "ConditionalDetrImageProcessor", "sigmoid"),
    "deformable_detr": ("DeformableDetrForObjectDetection", "DeformableDetrImageProcessor", "sigmoid"),
    "dab_detr": ("DabDetrForObjectDetection", "ConditionalDetrImageProcessor", "sigmoid"),
    "rt_detr": ("RTDetrForObjectDetection", "RTDetrImageProcessor", "sigmoid"),
    "rt_detr_v2": ("RTDetrV2ForObjectDetection", "RTDetrImageProcessor", "sigmoid"),
    "d_fine": ("DFineForObjectDetection", "RTDetrImageProcessor", "sigmoid"),
    "yolos": ("YolosForObjectDetection", "YolosImageProcessor", "softmax"),
}


def tiny_size(processor) -> dict:
    """A small input size in the processor's own terms (fixed size or shorter/longer edge)."""
    size = getattr(processor, "size", None)
    if getattr(size, "height", None) or (isinstance(size, dict) and size.get("height")):
        return {"height": 64, "width": 96}
    return {"shortest_edge": 64, "longest_edge": 96}


def decode(logits, mode: str, valid, k: int, placeholder=None):
    """One image. logits: [Q, C] (sigmoid) or [Q, C+1] (softmax, last = no object);
    valid: bool [C], model classes the dataset has; placeholder: bool [C], model ids that name
    no class ("N/A" gaps of COCO's 91 ids; default none). Returns (scores, query index, class
    index); the caller drops classes outside ``valid`` (``finalize`` with the label map).

    softmax: a query's class is its arg-max over the real classes the dataset has AND the
    placeholders, as the library (whose arg-max runs over all classes); so a query whose best
    class is a placeholder comes back with that placeholder and is dropped by the caller.
    sigmoid: top-k over the (query, class) pairs of valid classes."""
    import torch

    if mode == "softmax":
        prob = logits.float().softmax(-1)[:, :-1]
        compete = valid if placeholder is None else valid | placeholder
        prob = prob.masked_fill(~compete, 0.0)
        scores, labels = prob.max(-1)
        return scores, torch.arange(prob.shape[0], device=prob.device), labels
    prob = logits.float().sigmoid().masked_fill(~valid, 0.0)
    return topk_flat(prob, k)


class HFDetector(Detector):
    """repo: the HF hub id of the official weights; arch: a key of ``ARCHS``;
    random_config: config overrides for random weights (e.g. ResNet-101 depths);
    published: reference accuracy from the paper / model card; tiny: small config for tests."""

    family = "hf-transformers"

    def __init__(self, classes: Sequence[str], repo: str, arch: str, published: dict | None = None,
                 random_config: dict | None = None, tiny: bool = False, preprocess: str = "cpu", **common):
        super().__init__(classes, **common)
        import transformers as T

        model_cls, proc_cls, self.decoding = ARCHS[arch]
        self.repo, self.arch, self.published = repo, arch, dict(published or {})
        model_cls, proc_cls = getattr(T, model_cls), getattr(T, proc_cls)
        self.config_info: dict = {}
        if self.random_weights:
            n = len(self.classes)
            labels = {"num_labels": n, "id2label": dict(enumerate(self.classes)), "label2id": {c: i for i, c in enumerate(self.classes)}}
            if tiny:
                cfg, settings, self.config_info = _config(arch, True, labels), None, {"config": "tiny test config"}
                self.processor = proc_cls(size=tiny_size(proc_cls()))
            else:
                cfg, settings, self.config_info = random_variant(repo, labels, lambda o: _config(arch, False, o), random_config)
                self.processor = image_processor_from(settings) if settings else proc_cls()
            model = model_cls(cfg)
        else:
            model, self.processor = load_pretrained(model_cls, T.AutoImageProcessor, self.weights, repo)
            self.config_info = {"config": "pretrained"}
        self.config_source = self.config_info["config"]
        self.preprocess_asked = preprocess
        self.preprocess_where, self.preprocess_note = preprocess_where(self.processor, preprocess)
        self.model = prepare_model(model, self.device, self.dtype)
        self.weights_source = weights_source(self.weights, repo)
        model_names = names_from_id2label(model.config.id2label)
        self.label_map = identity_map(len(self.classes)) if self.random_weights else build_label_map(model_names, self.classes)
        import torch

        self.valid = torch.as_tensor(self.label_map.model_to_dataset >= 0, device=self.device)
        self.placeholder = torch.as_tensor([canonical(m) in NOT_A_CLASS for m in model_names], dtype=torch.bool, device=self.device)

    def preprocess(self, images) -> Batch:
        import torch

        with torch.inference_mode():
            return make_batch(pixel_inputs(self.processor, images, self.device, self.dtype, self.preprocess_where), images)

    def forward(self, batch: Batch):
        import torch

        with torch.inference_mode():
            out = self.model(**batch.inputs)
        return out.logits, out.pred_boxes

    def postprocess(self, raw, batch: Batch) -> list[Detections]:
        import torch

        logits, boxes = raw
        results = []
        with torch.inference_mode():
            for i, size in enumerate(batch.sizes):
                scores, query, labels = decode(logits[i], self.decoding, self.valid, self.max_detections, self.placeholder)
                xyxy = scale_boxes(to_numpy(boxes[i][query]), size)
                results.append(finalize(xyxy, to_numpy(scores), labels.cpu().numpy(), size, self.score_threshold,
                                        self.max_detections, self.label_map.model_to_dataset))  # fmt: skip
        return results

    def describe(self) -> dict:
        size = getattr(self.processor, "size", None)
        return {
            **super().describe(),
            "variant": self.repo, "architecture": self.arch, **self.config_info,
            "weights_id": "random" if self.random_weights else self.repo, "weights_source": self.weights_source,
            "input_size": {k: v for k, v in dict(size or {}).items() if v is not None},
            "parameters": count_parameters(self.model),
            "preprocess": {"asked": self.preprocess_asked, "where": self.preprocess_where, "note": self.preprocess_note,
                           "processor": type(self.processor).__name__},
            "postprocess": {"decoding": self.decoding, "top_k": self.max_detections, "nms": None, "clip_boxes": True},
            "label_map": self.label_map.describe(),
            "published": {} if self.random_weights else self.published,
        }  # fmt: skip
