"""ONNX files written by ultralytics' own exporter (``YOLO.export(format="onnx")``), read by
detbench's ONNX adapter with the layout detected from the graph.

Random weights (seeded): this proves the exporter's layout, metadata and NMS-in-graph variant,
not accuracy. The plain export ([1, 4 + C, N]) is compared with the torch model on the same
input; the ``nms=True`` export ([1, 300, 6], NMS in the graph) with the graph's own rows
mapped back by ultralytics' ``scale_boxes``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")
pytest.importorskip("onnx")

from detectors.registry import build  # noqa: E402
from tests.test_ultralytics_vs_library import CLASSES, _canonical, real_images  # noqa: E402

SIZE = 320


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    import copy
    import os

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("ultralytics-export")
    torch.manual_seed(0)
    det = build("yolov8n", CLASSES, weights="random")
    det.model.names = dict(enumerate(CLASSES))
    torch.save({"model": det.model, "train_args": {}}, folder / "m.pt")
    plain = YOLO(str(folder / "m.pt")).export(format="onnx", imgsz=SIZE, simplify=False, opset=17)
    (folder / "plain.onnx").write_bytes(open(plain, "rb").read())
    confident = copy.deepcopy(det.model)
    with torch.no_grad():  # confident class scores, so that the graph's own NMS keeps boxes
        for branch in confident.model[-1].cv3:
            branch[-1].bias.add_(6.0)
    torch.save({"model": confident, "train_args": {}}, folder / "m_confident.pt")
    nms = YOLO(str(folder / "m_confident.pt")).export(format="onnx", imgsz=SIZE, simplify=False, opset=17, nms=True)
    (folder / "nms.onnx").write_bytes(open(nms, "rb").read())
    return det, folder


def test_plain_export_is_detected_as_yolov8_and_equals_the_torch_model(exports):
    det, folder = exports
    onnx_det = build("onnx", ["dog", "person", "car", "chair", "cup"], weights=str(folder / "plain.onnx"))
    info = onnx_det.describe()
    assert info["layout"] == "yolov8" and info["layout_detected"] and info["class_names"] == "model metadata"
    assert onnx_det.input_size == (SIZE, SIZE)
    assert onnx_det.label_map.model_to_dataset.tolist() == [1, 2, 0, 3, 4]  # by name, not by index
    for img in real_images(2):
        batch = onnx_det.preprocess([img])
        raw = onnx_det.forward(batch)
        with torch.no_grad():
            ref = det.model(torch.from_numpy(batch.inputs))
        ref = (ref[0] if isinstance(ref, (tuple, list)) else ref).numpy()
        assert raw.shape == ref.shape == (1, 4 + len(CLASSES), 2100)
        np.testing.assert_allclose(raw, ref, atol=1e-3, rtol=1e-3)


def test_nms_export_is_detected_as_end2end_and_read_as_ultralytics_reads_it(exports):
    """The graph's own rows (x1, y1, x2, y2, score, class; zero rows pad it to 300), mapped back
    with ultralytics' ``scale_boxes``: the oracle for an NMS-in-graph export."""
    import onnxruntime as ort
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.ops import scale_boxes

    _, folder = exports
    onnx_det = build("onnx", CLASSES, weights=str(folder / "nms.onnx"), score_threshold=0.0, max_detections=300)
    assert onnx_det.describe()["layout"] == "end2end"
    session = ort.InferenceSession(str(folder / "nms.onnx"))
    for img in real_images(2):
        (d,) = onnx_det.predict([img])
        boxed = LetterBox((SIZE, SIZE), auto=False, stride=32)(image=img[:, :, ::-1].copy())[:, :, ::-1]
        x = np.ascontiguousarray(boxed.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        rows = session.run(None, {session.get_inputs()[0].name: x})[0][0]
        rows = rows[rows[:, 4] > 0]
        assert 0 < len(rows) == len(d)
        boxes = scale_boxes((SIZE, SIZE), torch.from_numpy(rows[:, :4].copy()), img.shape[:2]).numpy()
        a, b = _canonical(d.boxes, d.scores, d.labels), _canonical(boxes, rows[:, 4], rows[:, 5])
        np.testing.assert_allclose(a[:, 0], b[:, 0], rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(a[:, 1], b[:, 1])
        np.testing.assert_allclose(a[:, 2:], b[:, 2:], atol=0.5)
