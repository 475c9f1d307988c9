"""ONNX output layouts: the shape rules on the official exporters' default outputs, auto-detection
end to end on tiny exports of every layout and on the two REAL embedded exports, class-count
checks, and the exporters' pre-processing geometry (YOLOX top-left letterbox with int() sizes,
ultralytics' centred letterbox, NanoDet's warp), bit for bit against OpenCV and within one grey
level for the numpy fallback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from detectors.onnx_layouts import detect, fitting
from detectors.yolo_decode import LAYOUTS, prepare

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "bench" / "data" / "embedded" / "coco_val2017_mini"
LAYOUT_NAMES = ["yolov8", "yolov5", "yolox", "yolox-decoded", "nanodet", "nanodet-plus", "end2end"]
NANODET_V0_320 = [("cls_pred_stride_8", [1, 1600, 80]), ("cls_pred_stride_16", [1, 400, 80]), ("cls_pred_stride_32", [1, 100, 80]),
                  ("dis_pred_stride_8", [1, 1600, 32]), ("dis_pred_stride_16", [1, 400, 32]), ("dis_pred_stride_32", [1, 100, 32])]  # fmt: skip


def raw_probe(n: int = 3549, classes: int = 80):
    """What a raw YOLOX head gives: x, y offsets of about a grid cell."""
    rng = np.random.default_rng(0)
    return lambda: np.concatenate([rng.uniform(-0.5, 1.5, (n, 2)), rng.uniform(-1, 2, (n, 2)), rng.uniform(0, 1, (n, 1 + classes))], 1)


def decoded_probe(size: int, n: int = 3549, classes: int = 80):
    """What a YOLOX export with --decode_in_inference gives: centres in pixels across the image."""
    rng = np.random.default_rng(0)
    return lambda: np.concatenate([rng.uniform(0, size, (n, 2)), rng.uniform(4, size / 2, (n, 2)), rng.uniform(0, 1, (n, 1 + classes))], 1)


def no_probe():
    raise AssertionError("the probe must only run for a YOLOX-shaped output")


# ---------------------------------------------------------------- shape rules (official default outputs)


@pytest.mark.parametrize("size, outputs, expected", [
    ((416, 416), [("output", [1, 3549, 85])], "yolox"),  # YOLOX-Nano / Tiny export_onnx.py at 416
    ((640, 640), [("output", [1, 8400, 85])], "yolox"),  # YOLOX-S..X at 640
    ((640, 640), [("output0", [1, 84, 8400])], "yolov8"),  # ultralytics YOLOv8 / YOLO11
    ((640, 640), [("output0", [1, 25200, 85])], "yolov5"),  # ultralytics/yolov5 export.py
    ((416, 416), [("output", [1, 3598, 112])], "nanodet-plus"),  # NanoDet-Plus-m 416
    ((320, 320), NANODET_V0_320, "nanodet"),  # NanoDet v0.x, six per-stride outputs
    ((640, 640), [("output0", [1, 300, 6])], "end2end"),  # YOLOv10 / YOLO26 NMS-free
])  # fmt: skip
def test_official_default_outputs_are_recognised(size, outputs, expected):
    assert list(fitting(size, outputs)) == [expected]
    assert detect(size, outputs, raw_probe() if expected == "yolox" else no_probe, "m.onnx") == expected


def test_nanodet_plus_320_export_is_recognised():
    """NanoDet-Plus-m 320 (the project's default size) exports [1, 2125, 112]. 320 is a multiple
    of 64, so ceil and floor grids agree and the YOLOX-P6 rule (8..64) also matches 2125 rows:
    the probe tells them apart: NanoDet-Plus rows end in unbounded distribution logits, YOLOX rows
    in sigmoid objectness and class scores."""
    outputs = [("output", [1, 2125, 112])]
    rng = np.random.default_rng(0)
    nanodet_plus = np.concatenate([rng.uniform(0, 1, (2125, 80)), rng.normal(0, 2, (2125, 32))], 1).astype(np.float32)
    assert detect((320, 320), outputs, lambda: nanodet_plus, "nanodet-plus-m_320.onnx") == "nanodet-plus"
    assert detect((320, 320), outputs, raw_probe(2125, 107), "yolox-p6.onnx") == "yolox"


@pytest.mark.parametrize("size, rows", [(416, 3549), (640, 8400)])
def test_decoded_yolox_is_told_from_the_raw_head_by_the_probe(size, rows):
    outputs = [("output", [1, rows, 85])]
    assert detect((size, size), outputs, raw_probe(rows), "m.onnx") == "yolox"
    assert detect((size, size), outputs, decoded_probe(size, rows), "m.onnx") == "yolox-decoded"


def test_end2end_needs_no_input_size():
    assert list(fitting(None, [("output0", [1, 300, 6])])) == ["end2end"]


def test_unknown_shape_names_the_outputs_and_the_layouts():
    with pytest.raises(ValueError) as err:
        detect((640, 640), [("output", [1, 1234, 85])], no_probe, "weird.onnx")
    msg = str(err.value)
    assert "weird.onnx" in msg and "output [1, 1234, 85]" in msg and "640x640" in msg and "layout=" in msg
    assert all(name in msg for name in LAYOUT_NAMES)


def test_yolox_shape_at_the_wrong_input_size_is_not_guessed():
    # [1, 8400, 85] is YOLOX at 640; at 416 nothing has 8400 rows
    with pytest.raises(ValueError, match="no known layout fits"):
        detect((416, 416), [("output", [1, 8400, 85])], no_probe, "m.onnx")


def test_dynamic_input_without_size_asks_for_input_size():
    with pytest.raises(ValueError) as err:
        detect(None, [("output", [1, 8400, 85])], no_probe, "dyn.onnx")
    assert "input_size" in str(err.value) and "dynamic" in str(err.value)


# ---------------------------------------------------------------- tiny exports, end to end

from detectors.registry import build  # noqa: E402  (lazy: imports no adapter)
from tests.tiny_models import export_tiny_onnx  # noqa: E402  (imports torch / onnx when called)

CLASSES = ["circle", "square", "star"]
EXPLICIT = {"yolov8": "onnx_yolov8", "yolov5": "onnx_yolov5", "yolox": "onnx_yolox", "yolox-decoded": "onnx_yolox_decoded",
            "nanodet": "onnx_nanodet", "nanodet-plus": "onnx_nanodet_plus"}  # fmt: skip
# nanodet-plus at 96: 96 is not a multiple of 64, so the ceil (NanoDet) and floor (YOLOX-P6) grids
# differ; at a multiple of 64 see test_nanodet_plus_320_export_is_recognised.
SIZES = {"nanodet-plus": 96}
IMAGES = [np.random.default_rng(3).integers(0, 256, (70, 90, 3), dtype=np.uint8)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    for module in ("torch", "onnx", "onnxruntime"):
        pytest.importorskip(module)
    folder = tmp_path_factory.mktemp("tiny_onnx")
    out = {}
    for layout in [*EXPLICIT, "end2end"]:
        path = folder / f"{layout}.onnx"
        export_tiny_onnx(path, layout, num_classes=len(CLASSES), size=SIZES.get(layout, 64), names=CLASSES if layout == "yolov8" else None)
        out[layout] = path
    return out


def class_args(layout: str) -> dict:
    return {} if layout == "yolov8" else {"model_classes": CLASSES}  # the ultralytics export carries its names


@pytest.mark.parametrize("layout", [*EXPLICIT, "end2end"])
def test_auto_detection_picks_the_exported_layout(tiny, layout):
    det = build("onnx", CLASSES, weights=str(tiny[layout]), **class_args(layout))
    info = det.describe()
    assert info["layout"] == layout and info["layout_detected"] is True
    assert info["preprocessing"] == LAYOUTS[layout].pre.describe()
    (d,) = det.predict(IMAGES)
    assert len(d) > 0 and d.boxes.shape == (len(d), 4)


@pytest.mark.parametrize("layout", list(EXPLICIT))
def test_explicit_registry_entry_matches_auto_detection(tiny, layout):
    explicit = build(EXPLICIT[layout], CLASSES, weights=str(tiny[layout]), **class_args(layout))
    auto = build("onnx", CLASSES, weights=str(tiny[layout]), **class_args(layout))
    assert explicit.describe()["layout"] == layout and explicit.describe()["layout_detected"] is False
    (a,), (b,) = explicit.predict(IMAGES), auto.predict(IMAGES)
    assert len(a) > 0
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.labels, b.labels)


def reference_top(template: np.ndarray, layout: str, size: int, num_classes: int):
    """The highest-scoring candidate of a raw output, decoded independently of detbench, as the
    exporters' own demo code does: (xyxy in input pixels, score, class)."""
    t = template.astype(np.float64)

    def grid(strides, offset, ceil):
        cells = []
        for s in strides:
            n = -(-size // s) if ceil else size // s
            cells += [((j + offset) * s, (i + offset) * s, s) for i in range(n) for j in range(n)]  # row-major
        return np.array(cells, np.float64)

    if layout == "end2end":
        i = int(np.argmax(t[:, 4]))
        return t[i, :4].clip(0, size), t[i, 4], int(t[i, 5])
    if layout in ("nanodet", "nanodet-plus"):
        g = grid((8, 16, 32) if layout == "nanodet" else (8, 16, 32, 64), 0.5 if layout == "nanodet" else 0.0, True)
        cls = t[:, :num_classes]
        i, c = np.unravel_index(np.argmax(cls), cls.shape)
        logits = t[i, num_classes:].reshape(4, 8)
        p = np.exp(logits - logits.max(1, keepdims=True))
        ltrb = (p / p.sum(1, keepdims=True)) @ np.arange(8) * g[i, 2]
        box = np.array([g[i, 0] - ltrb[0], g[i, 1] - ltrb[1], g[i, 0] + ltrb[2], g[i, 1] + ltrb[3]])
        return box.clip(0, size), cls[i, c], int(c)
    if layout == "yolov8":
        t = t.T
        cxcywh, cls = t[:, :4], t[:, 4:]
    else:
        cxcywh, cls = t[:, :4].copy(), t[:, 5:] * t[:, 4:5]
        if layout == "yolox":
            g = grid((8, 16, 32), 0.0, False)
            cxcywh[:, :2] = cxcywh[:, :2] * g[:, 2:] + g[:, :2]  # (x + j) * s
            cxcywh[:, 2:] = np.exp(cxcywh[:, 2:]) * g[:, 2:]
    i, c = np.unravel_index(np.argmax(cls), cls.shape)
    cx, cy, w, h = cxcywh[i]
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]).clip(0, size), cls[i, c], int(c)


@pytest.mark.parametrize("layout", [*EXPLICIT, "end2end"])
def test_auto_detected_layout_decodes_like_the_exporters_demo(tmp_path, layout):
    """An image the size of the input (identity geometry in every layout): the top detection is
    the template's best candidate, decoded by an independent reference."""
    for module in ("torch", "onnx", "onnxruntime"):
        pytest.importorskip(module)
    size = SIZES.get(layout, 64)
    template = export_tiny_onnx(tmp_path / "m.onnx", layout, num_classes=len(CLASSES), size=size, seed=7,
                                names=CLASSES if layout == "yolov8" else None)  # fmt: skip
    det = build("onnx", CLASSES, weights=str(tmp_path / "m.onnx"), **class_args(layout))
    (d,) = det.predict([np.random.default_rng(5).integers(0, 256, (size, size, 3), dtype=np.uint8)])
    box, score, label = reference_top(template, layout, size, len(CLASSES))
    assert d.labels[0] == label and d.scores[0] == pytest.approx(score, rel=1e-5)
    np.testing.assert_allclose(d.boxes[0], box, rtol=1e-4, atol=1e-3)


def test_nanodet_v0_entry_refuses_a_single_output_export(tiny):
    with pytest.raises(ValueError, match="cls_pred_stride_S"):
        build("onnx_nanodet", CLASSES, weights=str(tiny["nanodet-plus"]), model_classes=CLASSES)


@pytest.mark.parametrize("layout, held", [("yolox", 3), ("yolov5", 3), ("yolov8", 3), ("nanodet", 3), ("nanodet-plus", 3)])
def test_class_count_mismatch_names_both_counts(tiny, layout, held):
    with pytest.raises(ValueError) as err:
        build("onnx", CLASSES, weights=str(tiny[layout]), model_classes=CLASSES[:2])
    msg = str(err.value)
    assert f"holds {held} classes" in msg and "2 class names" in msg and "model_classes" in msg
    if layout != "yolov8":  # no names in the graph: COCO's 80 are assumed, and that is refused too
        with pytest.raises(ValueError, match=f"holds {held} classes but 80 class names"):
            build("onnx", CLASSES, weights=str(tiny[layout]))


def test_dynamic_input_export_needs_input_size(tiny, tmp_path):
    import onnx

    model = onnx.load(str(tiny["yolox"]))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, str(path))
    for name in ("onnx", "onnx_yolox"):
        with pytest.raises(ValueError, match="input_size"):
            build(name, CLASSES, weights=str(path), model_classes=CLASSES)
    det = build("onnx", CLASSES, weights=str(path), model_classes=CLASSES, input_size=64)
    assert det.describe()["layout"] == "yolox" and det.input_size == (64, 64)


# ---------------------------------------------------------------- the REAL embedded exports


def load_image(name: str) -> np.ndarray:
    from bench.data.images import load_image as load

    return load(MINI / "images" / name)


def ground_truth(file_name: str) -> list[tuple[str, np.ndarray]]:
    data = json.loads((MINI / "instances_val2017_mini.json").read_text())
    cats = {c["id"]: c["name"] for c in data["categories"]}
    (image,) = [im for im in data["images"] if im["file_name"] == file_name]
    return [(cats[a["category_id"]], np.array([a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]))
            for a in data["annotations"] if a["image_id"] == image["id"] and not a.get("iscrowd")]  # fmt: skip


def coco_names() -> list[str]:
    data = json.loads((MINI / "instances_val2017_mini.json").read_text())
    return [c["name"] for c in sorted(data["categories"], key=lambda c: c["id"])]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    iw, ih = max(0.0, min(a[2], b[2]) - max(a[0], b[0])), max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def embedded():
    pytest.importorskip("onnxruntime")
    names = coco_names()
    return names, {n: build(n, names) for n in ("yolox_nano", "nanodet_m")}


@pytest.mark.parametrize("name, layout", [("yolox_nano", "yolox"), ("nanodet_m", "nanodet")])
def test_embedded_export_auto_detects_to_its_registry_layout(embedded, name, layout):
    from detectors.embedded import verified_path

    names, dets = embedded
    auto = build("onnx", names, weights=str(verified_path(name)))
    assert dets[name].describe()["layout"] == layout and auto.describe()["layout"] == layout
    assert auto.describe()["layout_detected"] is True and auto.num_model_classes == 80
    img = load_image("000000519208.jpg")
    (a,), (b,) = dets[name].predict([img]), auto.predict([img])
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)


# 519208: a person beside an elephant (640x406, letterboxed with padding); 73118: a large teddy bear (612x612)
@pytest.mark.parametrize("name", ["yolox_nano", "nanodet_m"])
@pytest.mark.parametrize("image", ["000000519208.jpg", "000000073118.jpg"])
def test_embedded_top_detection_matches_the_ground_truth(embedded, name, image):
    names, dets = embedded
    (d,) = dets[name].predict([load_image(image)])
    assert len(d) > 0 and d.scores[0] > 0.3
    top_class, top_box = names[d.labels[0]], d.boxes[0]
    same = [box for cls, box in ground_truth(image) if cls == top_class]
    assert same, f"{name}: top detection {top_class} {top_box} is not a class of {image}"
    assert max(iou(top_box, box) for box in same) > 0.5, f"{name}: top {top_class} {top_box} vs ground truth {same}"


def test_class_count_mismatch_on_the_real_export(embedded):
    names, _ = embedded
    with pytest.raises(ValueError, match="holds 80 classes but 79 class names"):
        build("yolox_nano", names, model_classes=names[:-1])
    with pytest.raises(ValueError, match="holds 80 classes but 79 class names"):
        build("nanodet_m", names, model_classes=names[:-1])


# ---------------------------------------------------------------- pre-processing geometry

try:
    import cv2
except ImportError:  # the opencv comparisons below need it
    cv2 = None
needs_cv2 = pytest.mark.skipif(cv2 is None, reason="opencv not installed")


def canvas_of(x: np.ndarray, pre) -> np.ndarray:
    """The 8-bit canvas (in the fed channel order) a prepared tensor was made from."""
    raw = (x.transpose(1, 2, 0) * np.asarray(pre.std, np.float32) + np.asarray(pre.mean, np.float32)) / np.float32(pre.scale)
    return np.round(raw).astype(np.int64)


def normalised(canvas_rgb: np.ndarray, pre) -> np.ndarray:
    c = canvas_rgb[:, :, ::-1] if pre.colour == "bgr" else canvas_rgb
    x = c.astype(np.float32)
    # ultralytics divides by 255 (its predictor's im /= 255); YOLOX and NanoDet scale by 1
    x = x / np.float32(255) if pre.scale == 1 / 255 else x * np.float32(pre.scale)
    x = (x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return x.transpose(2, 0, 1)


@needs_cv2
def test_yolox_letterbox_is_top_left_with_int_sizes():
    pre = LAYOUTS["yolox"].pre
    img = load_image("000000231097.jpg")  # 480 x 640
    assert img.shape[:2] == (480, 640)
    x, geometry = prepare(img, (416, 416), pre)
    assert x.shape == (3, 416, 416) and geometry == pytest.approx((0.65, 0.65, 0.0, 0.0))
    assert (x[:, 312:, :] == 114.0).all()  # bottom padding, raw BGR 0-255
    expected = np.full((416, 416, 3), 114, np.uint8)
    expected[:312, :416] = cv2.resize(img, (416, 312), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(x, normalised(expected, pre))

    img = load_image("000000006818.jpg")  # 640 x 427: 427 * 0.65 = 277.55 -> int 277 (round would give 278)
    x, geometry = prepare(img, (416, 416), pre)
    assert geometry == pytest.approx((0.65, 0.65, 0.0, 0.0))
    assert (x[:, :, 277:] == 114.0).all() and not (x[:, :, 276] == 114.0).all()
    expected = np.full((416, 416, 3), 114, np.uint8)
    expected[:, :277] = cv2.resize(img, (277, 416), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(x, normalised(expected, pre))


def test_yolox_channels_are_bgr_unscaled():
    pre = LAYOUTS["yolox"].pre
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = 200  # red
    x, _ = prepare(img, (32, 32), pre)
    assert (x[2] == 200.0).all() and (x[0] == 0.0).all()


@needs_cv2
def test_ultralytics_letterbox_is_centred_with_its_rounding():
    pre = LAYOUTS["yolov8"].pre
    img = load_image("000000006818.jpg")  # 640 x 427
    x, geometry = prepare(img, (416, 416), pre)
    # r = 0.65: 278 x 416 (round), dw = 69: left round(68.9) = 69, right round(69.1) = 69; boxes map back
    # with the rounded size's own ratio per axis, as ultralytics' scale_boxes does (278 / 427, 416 / 640)
    assert geometry == pytest.approx((278 / 427, 416 / 640, 69.0, 0.0))
    c = canvas_of(x, pre)
    assert (c[:, :69] == 114).all() and (c[:, 69 + 278:] == 114).all() and not (c[:, 69] == 114).all()
    expected = np.full((416, 416, 3), 114, np.uint8)
    expected[:, 69:69 + 278] = cv2.resize(img, (278, 416), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(x, normalised(expected, pre))

    x, geometry = prepare(img, (640, 640), pre)  # no resize; dh = 106.5: top round(106.4) = 106, bottom 107
    assert geometry == pytest.approx((1.0, 1.0, 106.0, 0.0))
    c = canvas_of(x, pre)
    assert (c[:, :106] == 114).all() and (c[:, 106 + 427:] == 114).all()  # 106 left, 107 right
    np.testing.assert_array_equal(c[:, 106:106 + 427], img)

    img = load_image("000000519208.jpg")  # 406 x 640 at 640: dh = 117: top 117, bottom 117
    x, geometry = prepare(img, (640, 640), pre)
    assert geometry == pytest.approx((1.0, 1.0, 0.0, 117.0))
    c = canvas_of(x, pre)
    assert (c[:117] == 114).all() and (c[117 + 406:] == 114).all()
    np.testing.assert_array_equal(c[117:117 + 406], img)


@needs_cv2
def test_ultralytics_letterbox_equals_ultralytics_own():
    pytest.importorskip("ultralytics")
    from ultralytics.data.augment import LetterBox

    pre = LAYOUTS["yolov8"].pre
    for name, size in (("000000006818.jpg", 416), ("000000519208.jpg", 640), ("000000231097.jpg", 320)):
        img = load_image(name)
        x, _ = prepare(img, (size, size), pre)
        theirs = LetterBox(new_shape=(size, size), auto=False, scaleup=True, center=True)(image=img)
        np.testing.assert_array_equal(canvas_of(x, pre), theirs)


@needs_cv2
def test_nanodet_warp_keeps_ratio_centred_with_zero_border():
    pre = LAYOUTS["nanodet"].pre
    img = load_image("000000006818.jpg")  # 640 x 427 at 320: r = 0.5, tx = (320 - 213.5) / 2 = 53.25
    x, geometry = prepare(img, (320, 320), pre)
    assert geometry == pytest.approx((0.5, 0.5, 53.25, 0.0))
    zero = ((0.0 - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32))[:, None, None]  # pad 0, normalised
    assert np.allclose(x[:, :, :53], zero) and np.allclose(x[:, :, 268:], zero)
    assert not np.allclose(x[:, :, 100], zero[:, :, 0])
    m = np.array([[0.5, 0, 53.25], [0, 0.5, 0.0], [0, 0, 1]])
    np.testing.assert_array_equal(x, normalised(cv2.warpPerspective(img, m, dsize=(320, 320)), pre))

    img = load_image("000000519208.jpg")  # 406 x 640 at 320: r = 0.5, ty = (320 - 203) / 2 = 58.5
    x, geometry = prepare(img, (320, 320), pre)
    assert geometry == pytest.approx((0.5, 0.5, 0.0, 58.5))
    assert np.allclose(x[:, :58], zero) and np.allclose(x[:, 262:], zero)
    m = np.array([[0.5, 0, 0.0], [0, 0.5, 58.5], [0, 0, 1]])
    np.testing.assert_array_equal(x, normalised(cv2.warpPerspective(img, m, dsize=(320, 320)), pre))


@needs_cv2
def test_nanodet_plus_warp_stretches():
    pre = LAYOUTS["nanodet-plus"].pre
    img = load_image("000000006818.jpg")  # 640 x 427 stretched to 320 x 320
    x, geometry = prepare(img, (320, 320), pre)
    assert geometry == pytest.approx((320 / 427, 0.5, 0.0, 0.0))
    m = np.array([[320 / 427, 0, 0], [0, 0.5, 0], [0, 0, 1]])
    np.testing.assert_array_equal(x, normalised(cv2.warpPerspective(img, m, dsize=(320, 320)), pre))


def test_embedded_detectors_use_their_exporters_geometry(embedded):
    _, dets = embedded
    img = load_image("000000231097.jpg")  # 480 x 640
    batch = dets["yolox_nano"].preprocess([img])
    assert batch.meta["geometry"][0] == pytest.approx((0.65, 0.65, 0.0, 0.0)) and batch.sizes == [(480, 640)]
    np.testing.assert_array_equal(batch.inputs[0], prepare(img, (416, 416), LAYOUTS["yolox"].pre)[0])
    batch = dets["nanodet_m"].preprocess([img])  # 320 / 640 = 0.5; ty = (320 - 240) / 2
    assert batch.meta["geometry"][0] == pytest.approx((0.5, 0.5, 0.0, 40.0))


@needs_cv2
@pytest.mark.parametrize("layout, size", [("yolox", 416), ("yolov8", 320), ("nanodet", 320), ("nanodet-plus", 320)])
def test_numpy_fallback_is_within_one_grey_level_of_opencv(monkeypatch, layout, size):
    from detectors.image_ops import backend

    pre = LAYOUTS[layout].pre
    img = load_image("000000006818.jpg")
    with_cv, geometry = prepare(img, (size, size), pre)
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now fails
    assert backend() == "numpy" and pre.describe()["resize_backend"] == "numpy"
    without, geometry2 = prepare(img, (size, size), pre)
    assert geometry2 == geometry
    grey = np.abs(with_cv - without) * (np.asarray(pre.std, np.float32) / np.float32(pre.scale))[:, None, None]
    assert grey.max() <= 1.0 + 1e-3
    signed = (without - with_cv) * (np.asarray(pre.std, np.float32) / np.float32(pre.scale))[:, None, None]
    assert (grey > 0.5).mean() < 0.15 and abs(float(signed.mean())) < 0.15  # rounded like OpenCV, not truncated


@needs_cv2
@pytest.mark.parametrize("layout", ["yolox", "yolov8", "nanodet"])
def test_pad_value_argument_sets_the_padding(layout):
    """``--detector-arg pad_value=V`` (documented for YOLO/YOLOX 114 and NanoDet 0) must reach
    the padding whatever the resize mode, or describe() reports a value that was not used."""
    from dataclasses import replace

    pre = replace(LAYOUTS[layout].pre, pad_value=57.0)
    img = load_image("000000006818.jpg")  # 640 x 427: padding at the sides (right side for YOLOX)
    x, _ = prepare(img, (320, 320), pre)
    c = canvas_of(x, pre)
    assert (c[:, -30:] == 57).all()
