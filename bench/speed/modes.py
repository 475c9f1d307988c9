"""Speed modes as rows: how a detector is run (backend, precision, memory format, compilation,
CUDA graphs, ONNX Runtime execution provider), what each needs, and its accuracy gate.

``MODES`` lists the rows of a speed table in a fixed order; ``applicable`` says why a row does
not apply to a detector family or device (the row is then shown with that reason, never
silently dropped); ``apply_mode`` applies channels_last / torch.compile / CUDA graphs to a built
detector; ``accuracy_gate`` compares a mode's AP with the same detector's fp32 eager AP on the
same images: MLPerf Inference's rule is 99 % of the fp32 reference (the "high accuracy" target
is 99.9 %, not used here), and 95 % is reported as a second, looser level. ``device_used``
returns the device a detector actually runs on (an ONNX session with a recorded CPU fallback
says ``cpu``), so a record never labels CPU work as CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass

GATE = 0.99  # MLPerf Inference: a submission's accuracy must reach 99 % of the fp32 reference
GATE_LOOSE = 0.95  # the second, stated level


@dataclass(frozen=True)
class Mode:
    """One row. ``backend``: ``torch`` (the adapter's torch module) or ``onnxruntime``;
    ``detector_args``: what the row passes to the detector (the ONNX provider)."""

    name: str
    backend: str
    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    detector_args: tuple = ()
    cuda_only: bool = False
    note: str = ""

    @property
    def changes_numerics(self) -> bool:
        return self.name not in ("eager-fp32", "ort-cpu")


MODES: tuple[Mode, ...] = (
    Mode("eager-fp32", "torch"),
    Mode("eager-fp16", "torch", dtype="fp16", note="half precision weights and inputs"),
    Mode("eager-bf16", "torch", dtype="bf16"),
    Mode("channels_last", "torch", channels_last=True, note="fp32, NHWC weights"),
    Mode("compile", "torch", compile=True, note="torch.compile, default mode; compilation is warm-up"),
    Mode("cuda-graphs", "torch", cuda_graphs=True, cuda_only=True, note="forward captured once per input shape and replayed"),
    Mode("ort-cpu", "onnxruntime", detector_args=(("provider", "cpu"),)),
    Mode("ort-cuda", "onnxruntime", detector_args=(("provider", "cuda"),), cuda_only=True, note="needs onnxruntime-gpu ([onnx-gpu])"),
    Mode("ort-tensorrt", "onnxruntime", detector_args=(("provider", "tensorrt"),), cuda_only=True,
         note="needs onnxruntime-gpu with TensorRT libraries"),
)
BY_NAME = {m.name: m for m in MODES}


def mode(name: str) -> Mode:
    if name not in BY_NAME:
        raise KeyError(f"unknown speed mode {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def applicable(m: Mode, family: str, device: str) -> str | None:
    """None when row ``m`` applies to a detector of ``family`` on ``device``, else why not."""
    on_gpu = str(device).startswith("cuda")
    if (m.backend == "onnxruntime") != (family == "onnxruntime"):
        return f"{m.backend} mode; the detector is a {family} model"
    if m.cuda_only and not on_gpu:
        return "needs a CUDA device"
    if m.dtype == "fp16" and not on_gpu:
        return "fp16 kernels are a GPU mode (CPU fp16 convolutions are unsupported or emulated)"
    if m.name == "ort-cpu" and on_gpu:
        return "CPU provider (run with --device cpu)"
    return None


def accuracy_gate(mode_ap: float | None, fp32_ap: float | None) -> dict:
    """The mode's AP against fp32's on the same images: ratio and pass/fail at 99 % and 95 %."""
    if mode_ap is None or fp32_ap is None or fp32_ap <= 0:
        return {"ratio": None, "diff_points": None, "gate_99": None, "gate_95": None,
                "note": "no AP to compare (random weights, or an accuracy error)"}  # fmt: skip
    ratio = mode_ap / fp32_ap
    return {"ratio": ratio, "diff_points": (mode_ap - fp32_ap) * 100, "gate_99": ratio >= GATE, "gate_95": ratio >= GATE_LOOSE,
            "rule": "MLPerf Inference: >= 99 % of fp32 AP (second level 95 %)"}  # fmt: skip


def apply_mode(detector, settings) -> dict:
    """channels_last, torch.compile and CUDA graphs on a built detector; what was applied (or why not)."""
    applied = {"channels_last": False, "compile": False, "cuda_graphs": False, "notes": []}
    steps = (("channels_last", detector.channels_last), ("compile", detector.compile),
             ("cuda_graphs", lambda: use_cuda_graphs(detector)))  # fmt: skip
    for flag, method in steps:
        if getattr(settings, flag, False):
            try:
                method()
                applied[flag] = True
            except (NotImplementedError, RuntimeError) as e:
                applied["notes"].append(f"{flag} not supported: {e}")
    return applied


def device_used(detector, asked: str) -> tuple[str, dict | None]:
    """(device the detector runs on, its recorded fallback or None)."""
    used = str(getattr(detector, "device", asked))
    fallback = getattr(getattr(detector, "provider", None), "fallback", None)
    return used, fallback


def use_cuda_graphs(detector) -> None:
    """Replace ``detector.forward`` by a CUDA-graph replay (``detectors`` on a CUDA device with a
    torch module). The first call per input shape warms up on a side stream and captures; later
    calls copy the inputs into the captured buffers and replay. Models with data-dependent
    shapes inside ``forward`` (torchvision's R-CNN NMS) fail to capture: RuntimeError, recorded."""
    import torch

    if not str(getattr(detector, "device", "cpu")).startswith("cuda") or not torch.cuda.is_available():
        raise NotImplementedError("CUDA graphs need a CUDA device")
    if not hasattr(detector, "model"):
        raise NotImplementedError(f"{type(detector).__name__} has no torch module to capture")
    eager = detector.forward
    graphs: dict = {}

    def tensors(obj):
        if isinstance(obj, torch.Tensor):
            return [obj]
        if isinstance(obj, dict):
            return [t for v in obj.values() for t in tensors(v)]
        if isinstance(obj, (list, tuple)):
            return [t for v in obj for t in tensors(v)]
        return [t for t in tensors(getattr(obj, "tensors", None))] if hasattr(obj, "tensors") else []

    def forward(batch):
        key = tuple((tuple(t.shape), t.dtype) for t in tensors(batch.inputs))
        if key not in graphs:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    eager(batch)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = eager(batch)
            graphs[key] = (graph, batch, out)
        graph, static, out = graphs[key]
        for dst, src in zip(tensors(static.inputs), tensors(batch.inputs)):
            dst.copy_(src)
        graph.replay()
        return out

    detector.forward = forward
