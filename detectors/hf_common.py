"""Shared pieces of the HF transformers adapters: loading, preprocessing, box decoding.

Weights load with ``from_pretrained``: first from the local cache only, then (unless offline)
from the hub under a socket timeout, so an unreachable hub gives ``WeightsUnavailable``
instead of a hang. ``weights`` may also be a local folder written by ``save_pretrained``.
Weights never execute code: safetensors are preferred, and a ``pytorch_model.bin`` loads with
``weights_only=True`` (passed explicitly; a transformers without that option gets
``use_safetensors=True``, refusing ``.bin`` files), see ``safe_load_kwargs``.

Random weights build the REGISTERED variant, not the library's default architecture: each
hub repo of the registry has its architecture shipped in ``detectors/configs/<org>--<name>.json``
(the hub config.json's architecture keys and the image processor settings that matter:
size, normalisation, padding), transcribed from transformers' own conversion scripts; the
file's ``_source`` names where. No hub access is needed, and a random build is the same on
every machine whatever its cache holds. ``tests/test_variant_configs.py`` checks every file
against the published parameter counts.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from detectors.base import Batch, torch_dtype
from detectors.weights import hf_cache_dir, is_local, network_timeout, require_hub, unavailable


def from_pretrained(cls, repo_or_path: str, detector: str, **kwargs):
    """``cls.from_pretrained`` with cache-first loading and a clear error when unreachable."""
    if is_local(repo_or_path):
        return cls.from_pretrained(repo_or_path, **kwargs)
    try:
        return cls.from_pretrained(repo_or_path, local_files_only=True, **kwargs)
    except (OSError, ValueError) as cached_error:
        why = require_hub("hf")
        if why:
            raise unavailable(repo_or_path, detector, why, hf_cache_dir(), "a folder written by save_pretrained") from cached_error
    try:
        with network_timeout():
            return cls.from_pretrained(repo_or_path, **kwargs)
    except Exception as e:  # connection errors, timeouts, missing repos
        raise unavailable(repo_or_path, detector, e, hf_cache_dir(), "a folder written by save_pretrained") from e


@functools.lru_cache(maxsize=None)
def safe_load_kwargs() -> tuple[tuple[str, bool], ...]:
    """``from_pretrained`` options that keep a model load from running pickled code:
    ``weights_only=True`` where the installed transformers accepts it (it then reads
    ``pytorch_model.bin`` with ``torch.load(weights_only=True)``; safetensors stay preferred),
    else ``use_safetensors=True`` (``.bin`` files are refused)."""
    import inspect

    from transformers import PreTrainedModel

    fn = PreTrainedModel.from_pretrained
    try:
        accepts = "weights_only" in inspect.signature(fn).parameters or "weights_only" in inspect.getsource(fn)
    except (OSError, TypeError):
        accepts = False
    return (("weights_only", True),) if accepts else (("use_safetensors", True),)


def load_pretrained(model_cls, processor_cls, weights: str | None, repo: str):
    """(model, processor) from a local folder (``weights``) or the official ``repo``."""
    source = weights or repo
    return from_pretrained(model_cls, source, repo, **dict(safe_load_kwargs())), from_pretrained(processor_cls, source, repo)


CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def variant_file(repo: str) -> Path:
    """Where the shipped architecture of hub repo ``repo`` lives (``org/name`` -> ``org--name.json``)."""
    return CONFIG_DIR / (repo.replace("/", "--") + ".json")


@functools.lru_cache(maxsize=None)
def _read_variant(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def shipped_variant(repo: str) -> dict | None:
    """The shipped ``{"_source", "repo", "config", "image_processor"}`` of ``repo``, or None.
    A copy: callers may change it."""
    path = variant_file(repo)
    if not path.is_file():
        return None
    data = json.loads(json.dumps(_read_variant(str(path))))
    if data.get("repo") != repo:
        raise ValueError(f"{path}: holds {data.get('repo')!r}, not {repo!r}")
    return data


def config_from_values(values: dict, **overrides):
    """A transformers config from hub-style ``config.json`` values (``model_type`` + keys)."""
    import transformers as T

    values = {**values, **overrides}
    model_type = values.pop("model_type")
    return T.AutoConfig.for_model(model_type, **values)


def image_processor_from(settings: dict, **overrides):
    """An image processor from shipped settings: ``{"class": "DetrImageProcessor", ...kwargs}``."""
    import transformers as T

    kwargs = {k: v for k, v in settings.items() if k != "class"}
    return getattr(T, settings["class"])(**{**kwargs, **overrides})


def _cached_hub_config(repo: str, overrides: dict):
    """The real config.json when the hub cache holds it (no weights needed), else None."""
    from detectors.weights import hf_cached

    if not hf_cached(repo):
        return None
    import transformers as T

    try:
        cfg = T.AutoConfig.from_pretrained(repo, local_files_only=True)
    except (OSError, ValueError):
        return None
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def random_variant(repo: str, labels: dict, fallback, random_config: dict | None = None):
    """The config (and image processor settings) of ``repo``'s architecture for random weights.

    labels: ``num_labels`` / ``id2label`` / ``label2id`` for the dataset's classes (or {}).
    fallback(overrides) -> config: the library-default build, used only for a repo without a
    shipped file and not in the hub cache. random_config: overrides from the registry or the
    command line. With a shipped file, that file is the registered checkpoint's architecture:
    overrides it does not already hold are not applied, and are listed as
    ``random_config_ignored`` in the provenance (never dropped silently).

    Returns (config, image processor settings or None, provenance dict).
    """
    random_config = dict(random_config or {})
    shipped = shipped_variant(repo)
    if shipped is not None:
        values = shipped["config"]
        ignored = [k for k, v in random_config.items() if k not in values or values[k] != v]
        cfg = config_from_values(values, **labels)
        info = {"config": f"shipped architecture of {repo} ({variant_file(repo).name})", "config_source": shipped["_source"]}
        if ignored:
            info["random_config_ignored"] = sorted(ignored)
        return cfg, shipped["image_processor"], info
    cfg = _cached_hub_config(repo, labels)
    if cfg is not None:
        return cfg, None, {"config": f"{repo} config.json from the local hub cache"}
    cfg = fallback({**random_config, **labels})
    return cfg, None, {"config": f"{type(cfg).__name__} library defaults (+ {sorted(random_config)}): NOT the registered variant "
                                 f"(no {variant_file(repo).name} shipped)"}


def meta_parameter_count(model_cls, config) -> int:
    """Parameters of ``model_cls(config)`` built on torch's meta device (no memory, no init time)."""
    import torch

    with torch.device("meta"):
        model = model_cls(config)
    return int(sum(p.numel() for p in model.parameters()))


def weights_source(weights: str | None, repo: str) -> str:
    if weights == "random":
        return "random"
    return str(Path(weights).resolve()) if is_local(weights) else f"https://huggingface.co/{repo}"


def prepare_model(model, device: str, dtype: str):
    return model.eval().to(device, torch_dtype(dtype))


PREPROCESS = ("cpu", "device")


def preprocess_where(processor, wanted: str) -> tuple[str, str | None]:
    """Where ``processor`` will run for the ``preprocess`` detector-arg ``wanted`` (``cpu``: the
    images as numpy arrays, moved after; ``device``: uint8 tensors uploaded first, resized and
    normalised on the device), and why not on the device when asked (None otherwise). The device
    path needs a torch-backed image processor (transformers >= 5, or 4.x's ``...Fast`` classes)."""
    if wanted not in PREPROCESS:
        raise ValueError(f"preprocess must be cpu or device, got {wanted!r}")
    if wanted == "cpu":
        return "cpu", None
    if not any(c.__name__ in ("TorchvisionBackend", "BaseImageProcessorFast") for c in type(processor).__mro__):
        return "cpu", f"{type(processor).__name__} is not torch-backed (a slow processor): it runs on the CPU"
    return "device", None


def pixel_inputs(processor, images, device: str, dtype: str, where: str = "cpu") -> dict:
    """Run an HF image processor and move its tensors to the device; pixel values get ``dtype``.
    ``where``: ``cpu`` or ``device`` (``preprocess_where``)."""
    if where == "device":
        from detectors.base import to_chw_tensors

        enc = processor(images=to_chw_tensors(images, device), return_tensors="pt", device=str(device))
    else:
        enc = processor(images=list(images), return_tensors="pt")
    out = {}
    for k, v in enc.items():
        v = v.to(device, non_blocking=True)
        out[k] = v.to(torch_dtype(dtype)) if v.is_floating_point() else v
    return out


def scale_boxes(cxcywh_norm: np.ndarray, size: tuple[int, int], padded_square: bool = False) -> np.ndarray:
    """Normalised CXCYWH [N, 4] -> absolute XYXY pixels of the original (h, w) image.
    ``padded_square``: boxes are relative to the image padded (bottom/right) to a square (OWLv2)."""
    from bench.boxes import to_xyxy

    h, w = size
    if padded_square:
        h = w = max(h, w)
    return to_xyxy(cxcywh_norm, "cxcywh_norm", w, h)


def topk_flat(prob, k: int):
    """Top-k over flattened (query, class) scores. prob: [Q, C] -> (scores [k], query [k], class [k])."""
    import torch

    q, c = prob.shape
    scores, idx = torch.topk(prob.reshape(-1), min(k, q * c))
    return scores, idx // c, idx % c


def to_numpy(t) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def batch_sizes(images) -> list[tuple[int, int]]:
    from detectors.base import image_size

    return [image_size(im) for im in images]


def make_batch(inputs: dict, images) -> Batch:
    return Batch(inputs, batch_sizes(images))
