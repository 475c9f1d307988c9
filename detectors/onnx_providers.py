"""Which ONNX Runtime execution providers a session gets, so that ``--device cuda`` never runs
on the CPU without saying so.

``provider``: ``auto`` (CUDA on a cuda device, CPU otherwise), ``cpu``, ``cuda`` or ``tensorrt``
(TensorRT, then CUDA, then CPU for the nodes TensorRT does not take, as ONNX Runtime places them).
Asking for a GPU provider that this onnxruntime build lacks (the CPU wheel ``onnxruntime`` has
only ``CPUExecutionProvider``) is an ``OnnxProviderError`` naming the fix, or, with
``cpu_fallback=True`` (``--detector-arg cpu_fallback=true``), a CPU session whose record says
so: ``device`` becomes ``cpu`` and ``fallback`` states what was asked and why it was not given.
The same check runs on the session ONNX Runtime actually built (it may drop a listed provider
whose libraries fail to load).
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}
FIX = ("install the GPU build of ONNX Runtime: pip uninstall onnxruntime && pip install onnxruntime-gpu "
       "(or pip install 'detbench[onnx-gpu]'); or pass --detector-arg cpu_fallback=true to run on the CPU, recorded as such")


class OnnxProviderError(RuntimeError):
    """A GPU execution provider was asked for and this onnxruntime cannot give it."""


@dataclass(frozen=True)
class ProviderChoice:
    """The providers to ask a session for, the device they mean, and the fallback taken (or None)."""

    wanted: str  # cpu, cuda or tensorrt
    providers: list
    device: str
    fallback: dict | None = None


def choose(provider: str, device: str, available: list[str], cpu_fallback: bool, where: str) -> ProviderChoice:
    """The providers for ``provider`` on ``device`` given onnxruntime's ``available`` ones."""
    if provider not in ("auto", *PROVIDERS):
        raise ValueError(f"provider must be auto, cpu, cuda or tensorrt, got {provider!r}")
    on_gpu = str(device).startswith("cuda")
    wanted = ("cuda" if on_gpu else "cpu") if provider == "auto" else provider
    if wanted != "cpu" and not on_gpu:
        raise ValueError(f"{where}: provider={wanted} runs on a GPU; pass --device cuda with it")
    if wanted == "cpu" and on_gpu:
        raise ValueError(f"{where}: provider=cpu with --device {device}: the session would run on the CPU; pass --device cpu")
    missing = [p for p in PROVIDERS[wanted][:1] if p not in available]
    if not missing:
        return ProviderChoice(wanted, [p for p in PROVIDERS[wanted] if p in available], device)
    return _fallback(wanted, device, available, cpu_fallback, where, f"{missing[0]} is not in this onnxruntime's providers {available}")


def _fallback(wanted: str, device: str, available: list[str], cpu_fallback: bool, where: str, why: str) -> ProviderChoice:
    if not cpu_fallback:
        raise OnnxProviderError(f"{where}: --device {device} asks ONNX Runtime for {PROVIDERS[wanted][0]}, but {why}; {FIX}")
    return ProviderChoice("cpu", ["CPUExecutionProvider"], "cpu", {"asked": {"device": str(device), "provider": PROVIDERS[wanted][0]},
                                                                   "used": {"device": "cpu", "provider": "CPUExecutionProvider"},
                                                                   "reason": why})  # fmt: skip


def check_session(choice: ProviderChoice, session_providers: list[str], cpu_fallback: bool, where: str) -> ProviderChoice:
    """The choice after the session is built: ONNX Runtime drops a GPU provider it cannot load
    (missing CUDA / cuDNN / TensorRT libraries) with only a log line; that is the same error or fallback."""
    first = choice.providers[0]
    if choice.wanted == "cpu" or first in session_providers:
        return choice
    return _fallback(choice.wanted, choice.device, session_providers, cpu_fallback, where,
                     f"ONNX Runtime built the session with {session_providers} only (the {first} libraries did not load)")
