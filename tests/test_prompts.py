"""Prompts as data: the PromptSet file format and its errors, the phrases it makes, Grounding
DINO captions and token -> class rules, text encoded once per vocabulary (equal to the model's
own forward), and Grounding DINO / OWLv2 (tiny, random weights) running OV-COCO and OV-LVIS end
to end through ``bench run`` with the prompt set and training regime recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors.text_prompts import (GROUNDING_DINO_DEFAULT, OWL_DEFAULT, PromptSet, chunk_captions, class_scores, load_prompt_set, positive_map)  # fmt: skip


def write(tmp_path, text: str):
    p = tmp_path / "prompts.yaml"
    p.write_text(text)
    return str(p)


def test_prompt_file_is_read_and_recorded(tmp_path):
    p = load_prompt_set(write(tmp_path, "name: ens\ntemplates: ['a photo of a {}', 'itap of a {}']\nnames: {tv: television}\n"))
    assert p.templates == ("a photo of a {}", "itap of a {}") and p.names == {"tv": "television"}
    assert p.phrases("tv") == ["a photo of a television", "itap of a television"]
    assert p.phrases("Traffic_Light") == ["a photo of a traffic light", "itap of a traffic light"]
    rec = p.record()
    assert rec["name"] == "ens" and len(rec["hash"]) == 12 and rec["templates"] == list(p.templates)
    # the hash follows what changes the text or the scores, not the name
    same = load_prompt_set(write(tmp_path, "name: other\ntemplates: ['a photo of a {}', 'itap of a {}']\nnames: {tv: television}\n"))
    assert same.digest() == p.digest() and load_prompt_set(write(tmp_path, "name: ens\n")).digest() != p.digest()
    assert load_prompt_set(None, "a {} here").templates == ("a {} here",)


@pytest.mark.parametrize("text, where", [
    ("name: x\nbogus: 1\n", "prompts.yaml: bogus: unknown field"),
    ("name: x\ntemplates: ['no placeholder']\n", "prompts.yaml: templates: a non-empty list of strings, each with exactly one '{}'"),
    ("name: x\nclass_score: median\n", "prompts.yaml: class_score: one of mean, max"),
    ("name: x\nlowercase: maybe\n", "prompts.yaml: lowercase: true or false"),
    ("name: x\nmax_tokens: 2\n", "prompts.yaml: max_tokens: an integer >= 3"),
    ("name: x\nsynonyms: all\n", "prompts.yaml: synonyms: one of none, ensemble"),
    ("name: x\nnames: {tv: ''}\n", "prompts.yaml: names: a mapping"),
    ("templates: ['{}']\n", "prompts.yaml: name: missing"),
    ("- a\n- b\n", "prompts.yaml: expected a mapping"),
    ("name: [unclosed\n", "prompts.yaml: cannot read the prompt set"),
    ("!!python/object:os.system 'ls'\n", "prompts.yaml: cannot read the prompt set"),  # safe_load: no objects
])  # fmt: skip
def test_bad_prompt_files_name_file_and_field(tmp_path, text, where):
    with pytest.raises(ValueError) as e:
        load_prompt_set(write(tmp_path, text))
    assert where in str(e.value)


def test_synonyms_ensemble_and_lowercasing():
    p = PromptSet("s", templates=("{}",), synonyms="ensemble", lowercase=False)
    assert p.phrases("Sofa", ["couch", "Sofa", "settee"]) == ["Sofa", "couch", "settee"]  # the name once
    assert PromptSet("n", synonyms="none").phrases("sofa", ["couch"]) == ["sofa"]


def test_captions_follow_the_prompt_set():
    ps = PromptSet("semi", separator="; ", terminator=".", names={"b": "bee"})
    (cap,) = chunk_captions(["a_x", "b"], lambda t: len(t.split()), 99, ps)
    assert cap.text == "a x; bee." and [cap.text[s:e] for s, e in cap.spans] == ["a x", "bee"]
    default = chunk_captions(["a_x", "b"], lambda t: len(t.split()), 99)
    assert default[0].text == "a x . b ." and GROUNDING_DINO_DEFAULT.separator == " . "


def test_token_to_class_rules_hand_worked():
    # caption "red car . dog ." tokens: [CLS] red car . dog . [SEP]; offsets as a tokenizer gives them
    (cap,) = chunk_captions(["red car", "dog"], lambda t: len(t.split()) + 2, 99)
    offsets = [(0, 0), (0, 3), (4, 7), (8, 9), (10, 13), (14, 15), (0, 0)]
    pos = positive_map(cap, offsets, len(offsets))
    prob = np.array([[0.0, 0.2, 0.6, 0.9, 0.4, 0.9, 0.0]], np.float32)  # one query
    np.testing.assert_allclose(class_scores(prob, pos, "mean"), [[0.4, 0.4]], rtol=1e-6)  # (0.2 + 0.6) / 2, 0.4
    np.testing.assert_allclose(class_scores(prob, pos, "max"), [[0.6, 0.4]], rtol=1e-6)
    torch = pytest.importorskip("torch")
    got = class_scores(torch.as_tensor(prob), torch.as_tensor(pos), "max")
    np.testing.assert_allclose(got.numpy(), [[0.6, 0.4]], rtol=1e-6)


CLASSES = ["cat", "traffic_light", "dog"]


def _build(name, **kw):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from detectors.registry import build

    torch.manual_seed(0)
    return build(name, CLASSES, weights="random", tiny=True, score_threshold=0.0, max_detections=20, **kw)


def _images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), rng.integers(0, 255, (50, 40, 3), dtype=np.uint8)]


def test_owl_ensemble_is_the_normalised_mean_of_normalised_embeddings():
    import torch

    ps = PromptSet("ens2", templates=("a photo of a {}", "a {} here"))
    det = _build("owlv2_base_patch16_ensemble", prompts=ps)
    assert det.query_embeds is None and det.describe()["text_encoding"]["encodes"] == 0  # nothing encoded at build
    assert len(det.predict(_images())) == 2 and len(det.predict(_images())) == 2
    assert det.queries[:2] == ["a photo of a cat", "a cat here"] and det.query_embeds.shape[0] == 3
    tok, base = det.processor.tokenizer, det.model.owlv2
    with torch.inference_mode():
        want = []
        for c in CLASSES:
            enc = tok(ps.phrases(c), padding="max_length", max_length=16, truncation=True, return_tensors="pt")
            e = base.get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).pooler_output
            e = e / e.norm(dim=-1, keepdim=True)
            m = e.mean(0)
            want.append(m / m.norm())
    np.testing.assert_allclose(det.query_embeds.numpy(), torch.stack(want).numpy(), rtol=1e-5, atol=1e-6)
    d = det.describe()
    assert d["prompt"]["name"] == "ens2" and d["prompt"]["queries"] == 6 and d["text_encoding"]["encodes"] == 1  # two predicts, one encode


def test_grounding_dino_text_cache_equals_the_uncached_model():
    import torch

    det = _build("grounding_dino_tiny")
    images = _images()
    cached = det.predict(images) + det.predict(images[:1])
    d = det.describe()["text_encoding"]
    assert d["encodes"] == len(det.captions) == 1 and d["reuses"] == 1  # two forward passes (batch 2, then 1): BERT ran once
    det.text_cache.uninstall()  # the plain model
    plain = det.predict(images) + det.predict(images[:1])
    for a, b in zip(cached, plain):
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
        np.testing.assert_allclose(a.boxes, b.boxes, rtol=1e-5, atol=1e-4)
        assert (a.labels == b.labels).all()
    assert torch.is_tensor(det.text_inputs[0][1])


def test_grounding_dino_max_rule_and_refusals():
    det = _build("grounding_dino_tiny", prompts=PromptSet("gmax", class_score="max"))
    assert det.describe()["prompt"]["class_score"] == "max" and len(det.predict(_images()[:1])) == 1
    with pytest.raises(ValueError, match="one template"):
        _build("grounding_dino_tiny", prompts=PromptSet("two", templates=("{}", "a {}")))
    with pytest.raises(ValueError, match="max_tokens 999 exceeds"):
        _build("grounding_dino_tiny", prompts=PromptSet("long", max_tokens=999))


def _run(tmp_path, capsys, *argv):
    from bench.cli.main import main

    code = main(["run", "--weights", "random", "--detector-arg", "tiny=true", "--max-images", "2", "--out", str(tmp_path / "runs"), *argv])
    return code, capsys.readouterr()


def test_cli_refuses_bad_prompt_options(tmp_path, capsys):
    bad = write(tmp_path, "name: x\nclass_score: median\n")
    code, io = _run(tmp_path, capsys, "--detector", "grounding_dino_tiny", "--dataset", "synthetic-coco", "--prompts", bad)
    assert code == 2 and "prompts.yaml: class_score: one of mean, max" in io.err
    code, io = _run(tmp_path, capsys, "--detector", "ssdlite320_mobilenet_v3_large", "--dataset", "synthetic-coco", "--prompt-template", "a {}")
    assert code == 2 and "not an open-vocabulary detector" in io.err
    assert not (tmp_path / "runs").exists()  # refused before anything was written


@pytest.mark.parametrize("detector", ["grounding_dino_tiny", "owlv2_base_patch16_ensemble"])
def test_ov_coco_and_ov_lvis_end_to_end(tmp_path, capsys, detector):
    pytest.importorskip("transformers")
    from bench.jsonio import load_json
    from bench.report.tables import leaderboard

    prompts = write(tmp_path, "name: my-set\ntemplates: ['{}']\n")
    code, io = _run(tmp_path, capsys, "--detector", detector, "--dataset", "coco-val2017-mini", "--protocol", "ov-coco",
                    "--prompts", prompts, "--training-regime", "open-vocabulary")  # fmt: skip
    assert code == 0, io.err
    code, io = _run(tmp_path, capsys, "--detector", detector, "--dataset", "synthetic-lvis", "--protocol", "ov-lvis")
    assert code == 0, io.err
    (run_a,), (run_b,) = [[p for p in r.iterdir() if p.is_dir()] for r in sorted((tmp_path / "runs").iterdir())]
    recs = [load_json(run_a / "record.json"), load_json(run_b / "record.json")]
    m_a, m_b = load_json(run_a / "metrics.json"), load_json(run_b / "metrics.json")
    assert {"AP50_novel", "AP50_base", "AP50_all"} <= set(m_a["metrics"]) and len(m_a["per_class"]) == 65
    assert recs[0]["describe"]["prompt"]["vocabulary"] == 65  # the generalised setting: all 65 split classes are queried
    assert recs[0]["prompt_set"]["name"] == "my-set" and recs[0]["training_regime"] == {
        "regime": "open-vocabulary", "benchmark": "coco", "source": "--training-regime"}
    assert "APr" in m_b["metrics"] and m_b["protocol"] == "ov-lvis"
    default = (GROUNDING_DINO_DEFAULT if detector.startswith("grounding") else OWL_DEFAULT)
    assert recs[1]["prompt_set"] == {"name": default.name, "hash": default.digest()}
    assert recs[1]["training_regime"]["regime"] == ("zero-shot" if detector.startswith("grounding") else "zero-shot")
    te = recs[1]["describe"]["text_encoding"]
    assert te["encodes"] >= 1 and te["encode_ms"] > 0
    speed = load_json(run_b / "speed.json")  # timed after the accuracy pass: the vocabulary was encoded once, before
    assert speed["text_encoding"]["encodes"] == te["encodes"] and speed["text_encoding"]["cached"].startswith("once per")
    for rec, run in ((recs[0], run_a), (recs[1], run_b)):
        rec["metrics"] = load_json(run / "metrics.json")
    df = leaderboard(recs)
    assert list(df["prompt_set"]) == [f"my-set ({recs[0]['prompt_set']['hash'][:8]})", f"{default.name} ({default.digest()[:8]})"]
    assert list(df["training"]) == ["open-vocabulary", "zero-shot"]
    assert "AP50_novel" in df.columns and "APr" in df.columns
    json.dumps(recs[0])  # records stay plain JSON


def test_template_on_top_of_a_file_keeps_the_file_name(tmp_path):
    base = load_prompt_set(write(tmp_path, "name: mine\nnames: {tv: television}\n"))
    both = load_prompt_set(None, "a photo of the {}", base)
    assert both.name == "mine+template" and both.phrases("tv") == ["a photo of the television"]
    assert load_prompt_set(None, "a {}", OWL_DEFAULT).name == "template:a {}"


def test_a_file_with_only_names_keeps_the_family_templates(tmp_path):
    # hostile report: a YAML with only name/names silently replaced OWL's "a photo of a {}" by "{}"
    from detectors.text_prompts import GROUNDING_DINO_DEFAULT, OWL_DEFAULT

    path = write(tmp_path, "name: renamed\nnames: {cat: kitty}\n")
    p = load_prompt_set(path)
    assert "templates" in p.unset and p.with_defaults(OWL_DEFAULT).templates == OWL_DEFAULT.templates
    assert load_prompt_set(path, base=OWL_DEFAULT).phrases("cat") == ["a photo of a kitty"]
    assert p.with_defaults(GROUNDING_DINO_DEFAULT).phrases("cat") == ["kitty"]
    given = load_prompt_set(write(tmp_path, "name: t\ntemplates: ['{}']\n"))
    assert given.with_defaults(OWL_DEFAULT).templates == ("{}",)  # an explicit template stays
    det = _build("owlv2_base_patch16_ensemble", prompts=p)
    assert det.queries[0] == "a photo of a kitty" and det.describe()["prompt"]["templates"] == list(OWL_DEFAULT.templates)


def test_a_names_key_outside_the_vocabulary_is_an_error_naming_file_and_key(tmp_path):
    path = write(tmp_path, "name: typo\nnames: {catt: kitty}\n")
    with pytest.raises(ValueError, match=r"prompts\.yaml: names\.catt: not a class of the vocabulary"):
        load_prompt_set(path).check_vocabulary(CLASSES)
    with pytest.raises(ValueError, match=r"names\.catt"):
        _build("owlv2_base_patch16_ensemble", prompts=load_prompt_set(path))
    load_prompt_set(write(tmp_path, "name: ok\nnames: {cat: kitty}\n")).check_vocabulary(CLASSES)  # (overwrites the file)
