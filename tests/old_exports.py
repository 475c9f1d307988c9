"""Old-convention exports made from the real embedded weights (issue 23): the graph of
``detectors/embedded/yolox_nano`` with the normalisation YOLOX used before release 0.1.1
prepended, so that the file takes what those exports took (RGB, pixels / 255, ImageNet
mean/std) and gives the official weights' outputs. Built with ``onnx.helper`` into a temporary
folder: no model file is stored twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, of pixels / 255
IMAGENET_STD = (0.229, 0.224, 0.225)


def _renamed(src: Path, side: str, suffix: str):
    """(model, the graph's first input or output name, its new inner name): every node that
    reads that input (or writes that output) now uses the inner name, for new nodes to bridge."""
    import onnx

    model = onnx.load(str(src))
    name = (model.graph.input if side == "input" else model.graph.output)[0].name
    inner = name + suffix
    for node in model.graph.node:
        ports = node.input if side == "input" else node.output
        ports[:] = [inner if p == name else p for p in ports]
    return model, name, inner


def prepend_old_normalisation(src: Path, dst: Path, mean=IMAGENET_MEAN, std=IMAGENET_STD, rgb_in: bool = True, scale: float = 1 / 255.0) -> Path:
    """``src`` (taking BGR 0-255) rewritten to take ``(x * scale - mean) / std`` in RGB order
    (``rgb_in``) and undo it inside the graph: x_bgr255 = reversed(in * std + mean) / scale."""
    import onnx
    from onnx import helper, numpy_helper

    model, name, inner = _renamed(src, "input", "_bgr255")
    g = model.graph
    consts = {
        "old_std": np.asarray(std, np.float32).reshape(1, 3, 1, 1),
        "old_mean": np.asarray(mean, np.float32).reshape(1, 3, 1, 1),
        "old_unscale": np.asarray(1.0 / scale, np.float32),
        "old_order": np.asarray([2, 1, 0] if rgb_in else [0, 1, 2], np.int64),
    }
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    nodes = [
        helper.make_node("Mul", [name, "old_std"], ["old_a"]),
        helper.make_node("Add", ["old_a", "old_mean"], ["old_b"]),
        helper.make_node("Mul", ["old_b", "old_unscale"], ["old_c"]),
        helper.make_node("Gather", ["old_c", "old_order"], [inner], axis=1),
    ]
    for n in reversed(nodes):
        g.node.insert(0, n)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst


def embedded(name: str) -> Path:
    from detectors.embedded import verified_path

    return Path(verified_path(name))


def strip_output_sigmoid(src: Path, dst: Path, first: int = 4) -> Path:
    """``src`` (output [1, N, 5 + C], scores through a sigmoid) rewritten to output the scores'
    logits, log(p / (1 - p)), as exports that leave the sigmoid to their own post-processing do."""
    import onnx
    from onnx import helper, numpy_helper

    model, out, inner = _renamed(src, "output", "_probabilities")
    g = model.graph
    g.initializer.extend([numpy_helper.from_array(np.asarray(1.0, np.float32), "logit_one"),
                          numpy_helper.from_array(np.asarray(1e-7, np.float32), "logit_eps")])  # fmt: skip
    size = g.output[0].type.tensor_type.shape.dim[2].dim_value
    g.node.extend([
        helper.make_node("Split", [inner], ["logit_box", "logit_p"], axis=2, split=[first, size - first]),  # opset 11
        helper.make_node("Sub", ["logit_one", "logit_p"], ["logit_q"]),
        helper.make_node("Add", ["logit_q", "logit_eps"], ["logit_q2"]),
        helper.make_node("Add", ["logit_p", "logit_eps"], ["logit_p2"]),
        helper.make_node("Div", ["logit_p2", "logit_q2"], ["logit_odds"]),
        helper.make_node("Log", ["logit_odds"], ["logit_l"]),
        helper.make_node("Concat", ["logit_box", "logit_l"], [out], axis=2),
    ])  # fmt: skip
    onnx.save(model, str(dst))
    return dst
