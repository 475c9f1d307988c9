"""Open-vocabulary run settings: the prompt set, the training regime and the vocabulary a
category-grouped protocol scores (what ``bench run`` records for every open-vocabulary unit).

Record keys written by :func:`describe_unit`: ``training_regime`` ({"regime", "benchmark",
"source"}; regime None = unknown) and ``prompt_set`` ({"name", "hash"}, from the detector's
``describe()["prompt"]``; None for closed-vocabulary detectors).
"""

from __future__ import annotations

from bench.errors import ArgumentError

BENCHMARK_OF_PROTOCOL = {"coco": "coco", "ov-coco": "coco", "lvis": "lvis", "ov-lvis": "lvis", "voc07": "voc", "voc12": "voc"}


def benchmark_of(protocol_name: str, dataset: str = "") -> str:
    """The dataset family a protocol scores: "coco", "lvis", "voc", else the dataset name."""
    return BENCHMARK_OF_PROTOCOL.get(protocol_name, dataset)


def check_prompt_options(detector: str, prompts: str | None, template: str | None, detector_args: dict) -> None:
    """--prompts / --prompt-template only for open-vocabulary detectors, never beside
    ``--detector-arg prompt=``; the file is read and validated here, before anything is built."""
    if not prompts and template is None:
        return
    from detectors.registry import family

    if family(detector) != "hf-open-vocabulary":
        raise ArgumentError(f"--prompts / --prompt-template: {detector} is not an open-vocabulary detector (its classes are fixed)")
    if template is not None and "prompt" in detector_args:
        raise ArgumentError("--prompt-template and --detector-arg prompt= give the template twice; use one")
    from detectors.text_prompts import load_prompt_set

    try:
        load_prompt_set(prompts, template)
    except ValueError as e:
        raise ArgumentError(str(e)) from None


def prompt_kwargs(prompts: str | None, template: str | None, ds) -> dict:
    """Detector kwargs for the prompt options: ``prompts`` (a PromptSet), ``prompt`` (a
    template) and, when the set asks for synonyms, ``class_synonyms`` from the dataset file."""
    kw: dict = {}
    if prompts:
        from detectors.text_prompts import load_prompt_set

        kw["prompts"] = load_prompt_set(prompts)
        if kw["prompts"].synonyms == "ensemble":
            kw["class_synonyms"] = dataset_synonyms(ds)
    if template is not None:
        kw["prompt"] = template
    return kw


def dataset_synonyms(ds) -> dict[str, list[str]]:
    """name -> synonyms from the dataset's JSON ``categories[].synonyms`` (LVIS has them)."""
    from pathlib import Path

    from bench.errors import InputError
    from bench.jsonio import load_json

    src = Path(ds.source)
    if not src.is_file():
        raise InputError(ds.source, "categories", "synonyms", "the prompt set asks for synonyms, and this dataset has no JSON file")
    out = {}
    for i, c in enumerate(load_json(src).get("categories") or []):
        syn = c.get("synonyms") or []
        if not isinstance(syn, list) or not all(isinstance(x, str) for x in syn):
            raise InputError(ds.source, f"categories[{i}]", "synonyms", "expected a list of strings")
        out[c.get("name")] = syn
    return out


def describe_unit(detector: str, override: str | None, protocol_name: str, dataset: str, describe: dict) -> dict:
    """The record fields ``training_regime`` and ``prompt_set`` of one unit."""
    from detectors.registry import training_regime

    bench = benchmark_of(protocol_name, dataset)
    if override:
        regime = {"regime": override, "benchmark": bench, "source": "--training-regime"}
    else:
        known = training_regime(detector, bench)
        regime = {"regime": known[0] if known else None, "benchmark": bench, "source": known[1] if known else None}
    prompt = describe.get("prompt") or None
    return {"training_regime": regime, "prompt_set": {"name": prompt.get("name"), "hash": prompt.get("hash")} if prompt else None}
