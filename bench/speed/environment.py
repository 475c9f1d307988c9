"""Provenance: the environment every speed and accuracy figure is stored with.

Everything here is best effort and never raises: a field that cannot be read is ``None``.
NVML (``nvidia-ml-py``) adds clocks, temperature, throttle reasons and other processes on
the GPU when it is installed.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

PACKAGES = ("detbench", "numpy", "numba", "torch", "torchvision", "transformers", "timm", "onnxruntime", "ultralytics")


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def git_commit(root: Path | None = None) -> str | None:
    root = root or Path(__file__).resolve().parents[2]  # the repository (bench/speed/environment.py)
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def torch_info(device: str) -> dict:
    try:
        import torch
    except ImportError:
        return {}
    info = {
        "threads": torch.get_num_threads(), "cuda_available": torch.cuda.is_available(),
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }  # fmt: skip
    if str(device).startswith("cuda") and torch.cuda.is_available():
        idx = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(idx)
        info.update(gpu=props.name, gpu_index=idx, gpu_memory_mb=props.total_memory // 2**20, gpu_capability=f"{props.major}.{props.minor}")
    return info


def nvml_snapshot(index: int = 0) -> dict | None:
    """Driver, clocks, temperature, throttle reasons and other processes; None without NVML."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        reasons = pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)
        idle = getattr(pynvml, "nvmlClocksThrottleReasonGpuIdle", 1)
        procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
        return {
            "driver": pynvml.nvmlSystemGetDriverVersion(),
            "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
            "mem_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
            "max_sm_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
            "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
            "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
            "throttle_reasons": int(reasons), "throttled": bool(reasons & ~idle),
            "other_processes": [p.pid for p in procs if p.pid != os.getpid()],
        }  # fmt: skip
    except Exception as e:  # NVML errors are data, not failures
        return {"error": str(e)}


def _metric_kernels() -> str | None:
    """"c" or "numba": which implementation scores (:mod:`bench.metrics.backend`)."""
    try:
        from bench.metrics.backend import name

        return name()
    except Exception:  # provenance never raises
        return None


def environment(device: str = "cpu") -> dict:
    env = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": cpu_model(), "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "device": device, "packages": {p: _version(p) for p in PACKAGES}, "git_commit": git_commit(),
        "metric_kernels": _metric_kernels(),
    }  # fmt: skip
    env["torch"] = torch_info(device)
    if str(device).startswith("cuda"):
        env["nvml"] = nvml_snapshot(env["torch"].get("gpu_index", 0))
    return env


def gpu_warnings(before: dict | None, after: dict | None) -> list[str]:
    """Warnings for a record: throttling or other processes on the GPU during the run."""
    out = []
    for snap in (before, after):
        if snap and snap.get("throttled"):
            out.append(f"GPU clocks were throttled (reasons bitmask {snap['throttle_reasons']:#x})")
        if snap and snap.get("other_processes"):
            out.append(f"other processes held the GPU: pids {snap['other_processes']}")
    return sorted(set(out))
