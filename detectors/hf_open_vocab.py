"""HF transformers open-vocabulary detectors: OWL-ViT, OWLv2 and Grounding DINO.

The dataset's class names are the text queries; the prompt format is recorded in
``describe()``. Detections are the top-k (box, class) pairs by score, k = max_detections,
not the demos' thresholds.

- OWL-ViT / OWLv2: one query per class, ``prompt.format(name)`` (default "a photo of a {}").
  Scores are sigmoid(logits) [patches, classes]. OWLv2 pads the image to a square (bottom /
  right) before resizing, so its boxes are relative to that square.
- Grounding DINO: lower-case names joined by " . ", chunked to stay under the model's
  ``max_text_len`` (256) tokens; the model runs once per chunk. A class's score is the mean of
  the sigmoid token scores over its name's tokens (the official evaluation's positive map);
  candidates from every chunk are merged before the top-k.

Deliberate deviations from the library's ``post_process_*`` (each compared with the
library's raw logits in ``tests/test_adapters_vs_library.py``): OWL's post-processing keeps
one class per box (its best); here a box may score several classes (multi-label top-k over
(box, class) pairs, as the LVIS / COCO evaluations of OWL do). Grounding DINO's post-processing scores a query
by its best single token; here each class gets the mean over its own name's tokens. Boxes are
clipped to the image (the library leaves them as predicted).

With ``weights="random"`` no tokenizer can be downloaded either: a word-level vocabulary is
generated from the class names (recorded in ``describe()``), which is enough for speed and
smoke runs and for the tiny models the tests build. The network is the registered variant
(``detectors/configs``, see ``hf_common``); the generated ids fit in its real vocabulary.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from detectors.base import Batch, Detections, Detector, count_parameters, finalize
from detectors.hf_common import (image_processor_from, load_pretrained, make_batch, pixel_inputs, preprocess_where, prepare_model, random_variant, scale_boxes, to_numpy, topk_flat, weights_source)  # fmt: skip
from detectors.labels import identity_map
from detectors.text_prompts import (GROUNDING_DINO_DEFAULT, OWL_DEFAULT, PromptSet, chunk_captions, class_scores, load_prompt_set, positive_map, prompt_name)  # fmt: skip

# arch -> (model class, processor class, image processor class, config class)
ARCHS = {
    "owlvit": ("OwlViTForObjectDetection", "OwlViTProcessor", "OwlViTImageProcessor", "OwlViTConfig"),
    "owlv2": ("Owlv2ForObjectDetection", "Owlv2Processor", "Owlv2ImageProcessor", "Owlv2Config"),
    "grounding_dino": ("GroundingDinoForObjectDetection", "GroundingDinoProcessor", "GroundingDinoImageProcessor", "GroundingDinoConfig"),
}
_BERT_SPECIAL = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1012: ".", 1029: "?"}


def _words(texts: Sequence[str]) -> list[str]:
    return sorted({w for n in texts for w in prompt_name(n).replace("{}", " ").split()})


def wordpiece_tokenizer(vocab: Sequence[str]):
    """A BERT-style (lower-casing WordPiece, [CLS] ... [SEP]) fast tokenizer over ``vocab``,
    built with the ``tokenizers`` library so it behaves the same on transformers 4 and 5."""
    import transformers as T
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    ids = {w: i for i, w in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    return T.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip


def generated_tokenizer(names: Sequence[str], style: str):
    """A word-level tokenizer over the class names' words, for random weights.

    style "bert" (Grounding DINO): BERT's special-token ids (the model hard-codes 101, 102,
    1012 and 1029 to split captions). style "clip" (OWL): start/end tokens, the end token with
    the highest id (OWL pools the text at argmax(input_ids))."""
    import transformers as T
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = _words(names)
    if style == "bert":
        return wordpiece_tokenizer([_BERT_SPECIAL.get(i, f"[unused{i}]") for i in range(1030)] + words)
    vocab = {w: i for i, w in enumerate(["!", "<unk>", *words, "<|startoftext|>", "<|endoftext|>"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    bos, eos = len(vocab) - 2, len(vocab) - 1
    tok.post_processor = processors.TemplateProcessing(single="<|startoftext|> $A <|endoftext|>",
                                                       special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)])  # fmt: skip
    return T.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="!", bos_token="<|startoftext|>", eos_token="<|endoftext|>")  # fmt: skip


def _tiny_config(arch: str, vocab_size: int):
    import transformers as T

    if arch == "grounding_dino":
        return T.GroundingDinoConfig(
            backbone_config=T.SwinConfig(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4, image_size=64, out_features=["stage2", "stage3", "stage4"]),
            text_config=T.BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16),
            d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=16, decoder_ffn_dim=16, encoder_attention_heads=2,
            decoder_attention_heads=2, num_queries=10, encoder_n_points=2, decoder_n_points=2, fusion_ffn_dim=16,
        )  # fmt: skip
    cfg_cls = getattr(T, ARCHS[arch][3])
    text = dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, vocab_size=vocab_size,
                max_position_embeddings=16, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=0)  # fmt: skip
    vision = dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=64, patch_size=16)
    return cfg_cls(text_config=text, vision_config=vision, projection_dim=16)


class OpenVocabDetector(Detector):
    """repo: HF hub id; arch: owlvit | owlv2 | grounding_dino; prompts: the :class:`PromptSet`
    (default: OWL "a photo of a {}", Grounding DINO " . "-joined names with the mean token
    score); prompt: a single template replacing the set's (``--detector-arg prompt=...``);
    class_synonyms: name -> synonyms, used when the prompt set asks for them (OWL);
    tiny: small config for tests.

    Text is encoded once per vocabulary, on first use: OWL's query embeddings (template
    ensembles averaged there), Grounding DINO's BERT output once per caption on first use
    (the model fuses text and image later, so only its text backbone is cached); the time is
    recorded in ``describe()["text_encoding"]``, apart from the image path."""

    family = "hf-open-vocabulary"

    def __init__(self, classes: Sequence[str], repo: str, arch: str, prompt: str | None = None, prompts: PromptSet | None = None,
                 class_synonyms: dict | None = None, published: dict | None = None, tiny: bool = False, preprocess: str = "cpu",
                 **common):  # fmt: skip
        super().__init__(classes, **common)
        import transformers as T

        model_cls, proc_cls, image_proc_cls, _ = (getattr(T, n) for n in ARCHS[arch])
        self.repo, self.arch, self.published = repo, arch, dict(published or {})
        preprocess_where(None, preprocess)  # the value is checked now; where it runs is known once the processor is built
        self.preprocess_asked = preprocess
        default = GROUNDING_DINO_DEFAULT if arch == "grounding_dino" else OWL_DEFAULT
        prompts = default if prompts is None else prompts.with_defaults(default)  # a file's missing fields: the family's
        prompts.check_vocabulary(self.classes)
        self.prompts = load_prompt_set(None, prompt, prompts) if prompt else prompts
        if arch == "grounding_dino" and (len(self.prompts.templates) > 1 or self.prompts.synonyms != "none"):
            raise ValueError(f"prompt set {self.prompts.name!r}: Grounding DINO takes one template and synonyms: none "
                             "(one phrase per class in the caption)")  # fmt: skip
        synonyms = dict(class_synonyms or {})
        if self.random_weights:
            texts = [t for c in self.classes for t in self.prompts.phrases(c, synonyms.get(c, ()))]
            tokenizer = generated_tokenizer(texts, "bert" if arch == "grounding_dino" else "clip")
            cfg_cls = getattr(T, ARCHS[arch][3])
            if tiny:
                cfg, self.config_info = _tiny_config(arch, len(tokenizer)), {"config": "tiny test config"}
                image_processor = image_proc_cls()
                image_processor.size = {"height": 64, "width": 64} if arch != "grounding_dino" else {"shortest_edge": 64, "longest_edge": 96}
            else:  # the registered variant (detectors/configs); the generated vocabulary fits in the real one
                cfg, settings, self.config_info = random_variant(repo, {}, lambda o: cfg_cls(**o))
                if settings:
                    image_processor = image_processor_from(settings)
                else:
                    image_processor = image_proc_cls()
                    if arch != "grounding_dino":  # the processor's input must match the config's patch grid
                        side = int(cfg.vision_config.image_size)
                        image_processor.size = {"height": side, "width": side}
            model = model_cls(cfg)
            self.processor = proc_cls(image_processor=image_processor, tokenizer=tokenizer)
            self.tokenizer_source = "generated from the class names (random weights)"
        else:
            model, self.processor = load_pretrained(model_cls, T.AutoProcessor, self.weights, repo)
            self.tokenizer_source = "pretrained"
            self.config_info = {"config": "pretrained"}
        self.config_source = self.config_info["config"]
        self.model = prepare_model(model, self.device, self.dtype)
        self.weights_source = weights_source(self.weights, repo)
        if arch == "grounding_dino":
            self.max_text_len = int(getattr(model.config, "max_text_len", 256))
            self.text_cache = CachedTextBackbone(self.model.model.text_backbone, self.device)
        else:
            self.text_encoding = {"cached": "once per vocabulary, on first use", "phrases": 0, "encode_ms": 0.0, "encodes": 0}
        self.set_vocabulary(self.classes, synonyms)

    def set_vocabulary(self, classes: Sequence[str], class_synonyms: dict | None = None) -> None:
        """Replace the class names (the text queries) without rebuilding the network, e.g. one
        referring expression at a time. Labels then index ``classes``. Text is encoded on first use."""
        self.classes = list(classes)
        self.label_map = identity_map(len(self.classes))
        synonyms = dict(class_synonyms or {})
        self.phrases = [self.prompts.phrases(c, synonyms.get(c, ())) for c in self.classes]
        if self.arch == "grounding_dino":
            self.text_cache.cache.clear()  # one vocabulary's captions at a time: memory stays bounded
            self._grounding_dino_text(self.processor.tokenizer)
        else:
            self.queries = [p for ph in self.phrases for p in ph]
            self.query_embeds = None  # encoded on first use (never at build: builds on the meta device run nothing)
            self.text_encoding["phrases"] = len(self.queries)

    def _grounding_dino_text(self, tok) -> None:
        import torch

        limit = self.prompts.max_tokens or self.max_text_len
        if limit > self.max_text_len:
            raise ValueError(f"prompt set {self.prompts.name!r}: max_tokens {limit} exceeds the model's max_text_len {self.max_text_len}")
        self.captions = chunk_captions(self.classes, lambda text: len(tok(text)["input_ids"]), limit, self.prompts)
        self.text_inputs = []
        for cap in self.captions:
            enc = tok(cap.text, return_offsets_mapping=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping")[0].tolist()
            pos = positive_map(cap, offsets, len(offsets))
            self.text_inputs.append(({k: v.to(self.device) for k, v in enc.items()}, torch.as_tensor(pos, device=self.device)))

    def _owl_text(self) -> None:
        """Query embeddings [classes, D], computed once per vocabulary: each phrase's L2-normalised projected text
        embedding (as the model's forward computes it), averaged over a class's phrases and
        normalised again when there are several (CLIP's prompt ensembling)."""
        import torch

        tok = self.processor.tokenizer
        owner = torch.as_tensor([c for c, ph in enumerate(self.phrases) for _ in ph], device=self.device)
        base = getattr(self.model, self.arch)
        self.synchronize()
        t0 = time.perf_counter()
        with torch.inference_mode():
            enc = tok(self.queries, padding="max_length", max_length=16, truncation=True, return_tensors="pt")
            ids = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            emb = base.text_projection(base.text_model(**ids).pooler_output)
            emb = emb / torch.linalg.norm(emb, ord=2, dim=-1, keepdim=True)
            if len(self.queries) == len(self.classes):
                self.query_embeds = emb[torch.argsort(owner, stable=True)]
            else:
                total = torch.zeros(len(self.classes), emb.shape[-1], dtype=emb.dtype, device=emb.device).index_add_(0, owner, emb)
                self.query_embeds = total / torch.linalg.norm(total, ord=2, dim=-1, keepdim=True)
        self.synchronize()
        self.text_encoding["encode_ms"] += 1000 * (time.perf_counter() - t0)
        self.text_encoding["encodes"] += 1

    def preprocess(self, images) -> Batch:
        import torch

        with torch.inference_mode():
            where = preprocess_where(self.processor.image_processor, self.preprocess_asked)[0]
            return make_batch(pixel_inputs(self.processor.image_processor, images, self.device, self.dtype, where), images)

    def forward(self, batch: Batch):
        """OWL: [(logits [B, P, C], boxes [B, P, 4])] from the cached query embeddings;
        Grounding DINO: one pair per caption, logits [B, Q, max_text_len]."""
        import torch

        b = batch.inputs["pixel_values"].shape[0]
        outs = []
        with torch.inference_mode():
            if self.arch != "grounding_dino":
                if self.query_embeds is None:
                    self._owl_text()
                feature_map = self.model.image_embedder(pixel_values=batch.inputs["pixel_values"])[0]
                n, h, w, d = feature_map.shape
                feats = feature_map.reshape(n, h * w, d)
                queries = self.query_embeds[None].expand(b, -1, -1).to(feats.dtype)
                mask = torch.ones(queries.shape[:2], dtype=torch.bool, device=feats.device)
                logits = self.model.class_predictor(feats, queries, mask)[0]
                return [(logits, self.model.box_predictor(feats, feature_map))]
            for text, _ in self.text_inputs:
                ids = {k: v.expand(b, -1) for k, v in text.items()}
                out = self.model(**batch.inputs, **ids)
                outs.append((out.logits, out.pred_boxes))
        return outs

    def postprocess(self, raw, batch: Batch) -> list[Detections]:
        import torch

        results = []
        with torch.inference_mode():
            for i, size in enumerate(batch.sizes):
                boxes, scores, labels = [], [], []
                for chunk, (logits, pred_boxes) in enumerate(raw):
                    prob = logits[i].float().sigmoid()
                    if self.arch == "grounding_dino":
                        prob = class_scores(prob, self.text_inputs[chunk][1], self.prompts.class_score)  # [Q, classes in this caption]
                        classes = torch.as_tensor(self.captions[chunk].classes, device=prob.device)
                    else:
                        classes = torch.arange(prob.shape[1], device=prob.device)
                    s, q, c = topk_flat(prob, self.max_detections)
                    boxes.append(scale_boxes(to_numpy(pred_boxes[i][q]), size, padded_square=self.arch == "owlv2"))
                    scores.append(to_numpy(s))
                    labels.append(classes[c].cpu().numpy())
                results.append(finalize(np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels), size,
                                        self.score_threshold, self.max_detections))  # fmt: skip
        return results

    def describe(self) -> dict:
        prompt = {**self.prompts.record(), "vocabulary": len(self.classes)}
        if self.arch == "grounding_dino":
            rule = {"mean": "mean of sigmoid token scores over the name's tokens", "max": "best sigmoid token score of the name"}
            prompt.update(captions=len(self.captions), caption_texts=[c.text for c in self.captions], max_text_len=self.max_text_len,
                          class_score_rule=rule[self.prompts.class_score])  # fmt: skip
            text = self.text_cache.describe()
        else:
            prompt.update(queries=len(self.queries), class_score_rule="sigmoid of the query logit (ensemble: of the averaged embedding)")
            text = self.text_encoding
        return {
            **super().describe(),
            "variant": self.repo, "architecture": self.arch, **self.config_info,
            "weights_id": "random" if self.random_weights else self.repo, "weights_source": self.weights_source,
            "tokenizer": self.tokenizer_source, "prompt": prompt, "text_encoding": text,
            "input_size": {k: v for k, v in dict(self.processor.image_processor.size or {}).items() if v is not None},
            "parameters": count_parameters(self.model),
            "preprocess": dict(zip(("where", "note"), preprocess_where(self.processor.image_processor, self.preprocess_asked)),
                               asked=self.preprocess_asked, processor=type(self.processor.image_processor).__name__),
            "postprocess": {"top_k": self.max_detections, "nms": None, "clip_boxes": True},
            "published": {} if self.random_weights else self.published,
        }  # fmt: skip


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


class CachedTextBackbone:
    """Grounding DINO's text backbone (BERT), run once per distinct caption: the model calls it
    with the same ids, masks and positions for every image, so later calls reuse the first
    output (rows of a batch are identical captions). Times the encodes it does run.

    Installed by overriding the module's ``forward`` on the instance only: the module stays in
    place, so ``state_dict`` / ``save_pretrained`` keys are unchanged. ``uninstall()`` restores it.
    """

    def __init__(self, module, device: str):
        self.module, self.inner, self.device_name, self.cache = module, module.forward, device, {}
        self.encode_s, self.encodes, self.hits = 0.0, 0, 0
        module.forward = self.forward

    def uninstall(self) -> None:
        """The plain module again (its class's own ``forward``)."""
        self.module.__dict__.pop("forward", None)
        self.cache.clear()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, return_dict=None, **kw):
        from transformers.modeling_outputs import BaseModelOutput

        parts = [t[:1] for t in (input_ids, attention_mask, token_type_ids, position_ids) if t is not None]
        key = tuple((tuple(t.shape), t.detach().cpu().numpy().tobytes()) for t in parts)
        if key not in self.cache:
            _sync(self.device_name)
            t0 = time.perf_counter()
            first = [None if t is None else t[:1] for t in (input_ids, attention_mask, token_type_ids, position_ids)]
            out = self.inner(*first, return_dict=True, **kw)
            _sync(self.device_name)
            self.encode_s += time.perf_counter() - t0
            self.encodes += 1
            self.cache[key] = out.last_hidden_state
        else:
            self.hits += 1
        return BaseModelOutput(last_hidden_state=self.cache[key].expand(input_ids.shape[0], -1, -1))

    def describe(self) -> dict:
        return {"cached": "once per caption (text backbone only; the model fuses text and image after it)",
                "encodes": self.encodes, "reuses": self.hits, "encode_ms": 1000 * self.encode_s}  # fmt: skip
