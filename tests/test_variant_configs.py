"""Random-weight builds are the REGISTERED variant (its checkpoint's depth, width, backbone and
input size), from the architectures shipped in ``detectors/configs`` (no hub access).

Every HF registry entry is built through its adapter with ``weights="random"`` on torch's
meta device (full size, no memory, well under a second each), and its parameter count is
checked against the published one; variants of one family must differ as published.
Published counts (millions), from the papers' model tables: DETR (Carion et al. 2020,
Table 1), Conditional DETR (Meng et al. 2021, Table 1), Deformable DETR (Zhu et al. 2021,
Table 1), DAB-DETR (Liu et al. 2022, Table 2), RT-DETR (Zhao et al. 2024, Table 2),
RT-DETRv2 (Lv et al. 2024, Table 1), D-FINE (Peng et al. 2024, Table 1), YOLOS (Fang et al.
2021, Table 3), Grounding DINO (Liu et al. 2023, Table 7). OWL-ViT / OWLv2 publish no counts:
their CLIP towers (patch size, width, depth) and input sizes are checked instead (OWL-ViT
B/32 and B/16 at 768, L/14 at 840; OWLv2 B/16 at 960, L/14 at 1008).
"""

from __future__ import annotations

import json
import sys

import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")

from detectors import hf_closed, hf_common, hf_open_vocab  # noqa: E402
from detectors.registry import REGISTRY, build, family  # noqa: E402

HF = sorted(n for n in REGISTRY if family(n) in ("hf-transformers", "hf-open-vocabulary"))
COCO_LIKE = [f"class {i}" for i in range(80)]  # the heads' size barely matters; 80 like the checkpoints

# name -> published parameters (millions)
PUBLISHED_M = {
    "detr_resnet50": 41, "detr_resnet101": 60, "conditional_detr_resnet50": 44, "deformable_detr": 40,
    "deformable_detr_box_refine_two_stage": 41, "dab_detr_resnet50": 44,
    "rtdetr_r18vd": 20, "rtdetr_r50vd": 42, "rtdetr_r101vd": 76, "rtdetr_v2_r18vd": 20, "rtdetr_v2_r50vd": 42,
    "dfine_nano": 4, "dfine_small": 10, "dfine_large": 31, "dfine_xlarge": 62,
    "yolos_tiny": 6.5, "yolos_small": 30.7, "grounding_dino_tiny": 172, "grounding_dino_base": 233,
}  # fmt: skip
# OWL: (input side, patch, vision width, vision depth, text width)
OWL_TOWERS = {
    "owlvit_base_patch32": (768, 32, 768, 12, 512), "owlvit_base_patch16": (768, 16, 768, 12, 512),
    "owlvit_large_patch14": (840, 14, 1024, 24, 768), "owlv2_base_patch16_ensemble": (960, 16, 768, 12, 512),
    "owlv2_large_patch14_ensemble": (1008, 14, 1024, 24, 768),
}  # fmt: skip
# families whose variants must differ as published: smaller first
ORDERED = [
    ["rtdetr_r18vd", "rtdetr_r50vd", "rtdetr_r101vd"], ["rtdetr_v2_r18vd", "rtdetr_v2_r50vd"],
    ["dfine_nano", "dfine_small", "dfine_large", "dfine_xlarge"], ["detr_resnet50", "detr_resnet101"],
    ["deformable_detr", "deformable_detr_box_refine_two_stage"], ["yolos_tiny", "yolos_small"],
    ["grounding_dino_tiny", "grounding_dino_base"], ["owlvit_base_patch16", "owlvit_large_patch14"],
    ["owlv2_base_patch16_ensemble", "owlv2_large_patch14_ensemble"],
]  # fmt: skip


def test_every_entry_is_covered():
    assert not set(PUBLISHED_M) & set(OWL_TOWERS)
    assert sorted(set(PUBLISHED_M) | set(OWL_TOWERS)) == HF, "a new HF registry entry needs its published size here"


@pytest.fixture
def on_meta(monkeypatch):
    """The adapters' model classes build on the meta device: full-size models without memory
    or init time (everything else, processors and tokenizers, is built as usual)."""

    def _meta(cls, config):
        with torch.device("meta"):
            return cls(config)

    getattr(T, "DetrConfig")  # transformers' lazy module replaces itself in sys.modules on first use:
    live = sys.modules["transformers"]  # patch the module the adapters import
    for names in [*hf_closed.ARCHS.values(), *hf_open_vocab.ARCHS.values()]:
        cls = getattr(live, names[0])
        monkeypatch.setattr(live, names[0], lambda config, cls=cls: _meta(cls, config))
    for mod in (hf_closed, hf_open_vocab):
        monkeypatch.setattr(mod, "prepare_model", lambda model, device, dtype: model.eval())
    yield


_BUILT: dict[str, tuple[int, dict]] = {}


def built(name: str) -> tuple[int, dict]:
    """(parameters, describe()) of the random-weight build of ``name``, on the meta device."""
    if name not in _BUILT:
        det = build(name, COCO_LIKE, weights="random")
        info = det.describe()
        _BUILT[name] = (info["parameters"], {**info, "_model_config": det.model.config, "_processor": getattr(det.processor, "image_processor", det.processor)})
    return _BUILT[name]


@pytest.mark.parametrize("name", HF)
def test_shipped_file_names_its_source_and_fits_the_adapter(name):
    _, kw = REGISTRY[name]
    shipped = hf_common.shipped_variant(kw["repo"])
    assert shipped is not None, f"no {hf_common.variant_file(kw['repo']).name} shipped for {name}"
    assert shipped["repo"] == kw["repo"]
    assert "huggingface/transformers" in shipped["_source"] and ("convert" in shipped["_source"])  # a primary source, named
    archs = hf_closed.ARCHS if family(name) == "hf-transformers" else hf_open_vocab.ARCHS
    proc_cls = archs[kw["arch"]][1] if family(name) == "hf-transformers" else archs[kw["arch"]][2]
    assert shipped["image_processor"]["class"] == proc_cls
    model_type = shipped["config"]["model_type"]
    assert T.AutoConfig.for_model(model_type).model_type == model_type


def test_no_orphan_shipped_files():
    repos = {kw["repo"] for n, (_, kw) in REGISTRY.items() if n in HF}
    files = {p.name for p in hf_common.CONFIG_DIR.glob("*.json")}
    assert files == {hf_common.variant_file(r).name for r in repos}
    for p in hf_common.CONFIG_DIR.glob("*.json"):
        json.loads(p.read_text())  # valid JSON


@pytest.mark.parametrize("name", sorted(PUBLISHED_M))
def test_random_build_has_the_published_size(name, on_meta):
    params, info = built(name)
    assert info["config"].startswith("shipped architecture of "), info["config"]
    published = PUBLISHED_M[name] * 1e6
    # published counts are rounded (to 1M, or 0.1M for YOLOS)
    assert abs(params - published) <= max(0.06 * published, 0.3e6), f"{name}: {params / 1e6:.2f}M built, {published / 1e6}M published"


@pytest.mark.parametrize("name", sorted(OWL_TOWERS))
def test_owl_random_build_has_the_published_towers(name, on_meta):
    side, patch, width, depth, text_width = OWL_TOWERS[name]
    _, info = built(name)
    cfg = info["_model_config"]
    v, t = cfg.vision_config, cfg.text_config
    assert (v.image_size, v.patch_size, v.hidden_size, v.num_hidden_layers, t.hidden_size) == (side, patch, width, depth, text_width)
    assert info["input_size"] == {"height": side, "width": side}  # the processor feeds the patch grid the model has


@pytest.mark.parametrize("name", HF)
def test_random_build_uses_the_shipped_processor_settings(name, on_meta):
    _, kw = REGISTRY[name]
    settings = hf_common.shipped_variant(kw["repo"])["image_processor"]
    _, info = built(name)
    proc = info["_processor"]
    assert type(proc).__name__ == settings["class"]
    assert {k: v for k, v in dict(proc.size).items() if v is not None} == settings["size"]
    assert bool(proc.do_normalize) == settings["do_normalize"]
    if settings["do_normalize"]:
        assert list(proc.image_mean) == pytest.approx(settings["image_mean"]) and list(proc.image_std) == pytest.approx(settings["image_std"])


def test_variants_differ_as_published(on_meta):
    for group in ORDERED:
        counts = [built(n)[0] for n in group]
        assert counts == sorted(counts) and len(set(counts)) == len(counts), dict(zip(group, counts))
        published = [PUBLISHED_M.get(n) for n in group]
        if None not in published:  # the ratios too, within the rounding of the published figures
            for (a, pa), (b, pb) in zip(zip(counts, published), zip(counts[1:], published[1:])):
                assert b / a == pytest.approx(pb / pa, rel=0.15), group
    # same widths, different inputs: OWLv2 B/16 reads 960 px (3600 patches), OWL-ViT B/16 768 (2304)
    v1, v2 = built("owlvit_base_patch16")[1]["_model_config"], built("owlv2_base_patch16_ensemble")[1]["_model_config"]
    assert (v1.vision_config.image_size // 16) ** 2 == 2304 and (v2.vision_config.image_size // 16) ** 2 == 3600
    # the backbones themselves differ: Swin-T vs Swin-B, R50 vs R101
    g_t, g_b = (built(n)[1]["_model_config"].backbone_config for n in ("grounding_dino_tiny", "grounding_dino_base"))
    assert (g_t.embed_dim, list(g_t.depths)) == (96, [2, 2, 6, 2]) and (g_b.embed_dim, list(g_b.depths)) == (128, [2, 2, 18, 2])


def test_a_real_random_build_matches_its_meta_count():
    """The meta-device count is the count of a real (CPU) random build (D-FINE nano)."""
    torch.manual_seed(0)
    det = build("dfine_nano", COCO_LIKE, weights="random")
    meta = hf_common.meta_parameter_count(type(det.model), det.model.config)
    assert det.describe()["parameters"] == meta
    assert det.describe()["input_size"] == {"height": 640, "width": 640}


def test_overrides_that_contradict_the_shipped_variant_are_reported_not_applied(on_meta):
    det = build("rtdetr_r18vd", COCO_LIKE, weights="random", random_config={"decoder_layers": 6, "num_queries": 300})
    assert det.model.config.decoder_layers == 3  # the r18 checkpoint's decoder
    info = det.describe()
    assert info["random_config_ignored"] == ["decoder_layers"]  # num_queries agrees with the file


def test_without_a_shipped_file_the_build_says_it_is_not_the_variant(on_meta, monkeypatch, tmp_path):
    monkeypatch.setattr(hf_common, "CONFIG_DIR", tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    info = build("rtdetr_r18vd", COCO_LIKE, weights="random").describe()
    assert "NOT the registered variant" in info["config"]
