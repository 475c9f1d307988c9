"""Whether a registered detector can run here, without importing torch or any adapter.

Status words: ``ready`` (packages present, weights cached or local), ``downloadable`` (not
cached, and the hub answers a TCP connection within 2 s), ``unavailable`` (not cached and the
hub unreachable, or offline mode), ``needs-weights`` (the user must pass a file),
``missing:<packages>`` (install an extra). One bounded connection probe per hub host, at most.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from detectors.registry import REGISTRY
from detectors.weights import HOSTS, hf_cached, reachable, torch_checkpoint_dir

REQUIRES = {
    "detectors.torchvision_zoo": ("torch", "torchvision"),
    "detectors.hf_closed": ("torch", "transformers"),
    "detectors.hf_open_vocab": ("torch", "transformers"),
    "detectors.ultralytics_yolo": ("torch", "ultralytics"),
    "detectors.onnx_runtime": ("onnxruntime",),
}
# hub checkpoints whose saved config builds a timm backbone
TIMM_BACKBONE = ("facebook/detr-", "microsoft/conditional-detr-", "SenseTime/deformable-detr", "IDEA-Research/dab-detr-")
EXTRAS = {"torch": "torch", "torchvision": "torch", "transformers": "hf", "timm": "hf", "ultralytics": "yolo", "onnxruntime": "onnx"}


def weights_id(name: str) -> str:
    kw = REGISTRY[name][1]
    if kw.get("embedded"):
        return f"embedded:{kw['embedded']}"
    return kw.get("weights_enum") or kw.get("repo") or kw.get("weights_name") or f"your .onnx file ({kw.get('layout')} layout)"


def _not_cached(hub: str, where: str) -> tuple[str, str]:
    host = HOSTS[hub]
    if reachable(host):
        return "downloadable", f"{where}; {host} reachable"
    return "unavailable", f"{where}; {host} unreachable: pass --weights PATH or fill the cache"


def missing_packages(name: str, pretrained: bool = True) -> list[str]:
    """Packages the detector needs and this environment lacks. ``pretrained=False``: only what
    building it at all needs (timm is needed only to load some hub checkpoints)."""
    target, kw = REGISTRY[name]
    needs = list(REQUIRES[target.split(":")[0]])
    if pretrained and str(kw.get("repo", "")).startswith(TIMM_BACKBONE):
        needs.append("timm")
    return [p for p in needs if importlib.util.find_spec(p) is None]


def install_hint(missing: list[str]) -> str:
    return f"pip install 'detbench[{','.join(sorted({EXTRAS[p] for p in missing}))}]'"


def needs_weights_file(name: str) -> bool:
    """Entries with no official weights (exported models): the user must pass a file."""
    kw = REGISTRY[name][1]
    return not any(k in kw for k in ("checkpoint", "repo", "weights_name", "embedded"))


def availability(name: str) -> tuple[str, str]:
    """(status, detail) for a registered detector."""
    kw = REGISTRY[name][1]
    missing = missing_packages(name)
    if missing:
        return "missing:" + ",".join(missing), install_hint(missing)
    if needs_weights_file(name):
        return "needs-weights", "pass --weights path/to/model.onnx"
    if kw.get("embedded"):
        from detectors.embedded import ROOT, available

        return ("ready", f"shipped in {ROOT / kw['embedded']}") if available(kw["embedded"]) else ("unavailable", "embedded file missing: reinstall detbench")
    if "checkpoint" in kw:
        path = torch_checkpoint_dir() / kw["checkpoint"]
        return ("ready", str(path)) if path.exists() else _not_cached("torchvision", f"not in {path.parent}")
    if "repo" in kw:
        return ("ready", "in the HF cache") if hf_cached(kw["repo"]) else _not_cached("hf", "not in the HF cache")
    if Path(kw["weights_name"]).exists():  # a pickle: building it needs the user's explicit trust
        return "ready", f"{kw['weights_name']}; a pickle file: pass --detector-arg trust_pickle=true to load it"
    return _not_cached("ultralytics", f"{kw['weights_name']} not in the working folder")
