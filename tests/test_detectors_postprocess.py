"""Post-processing, label mapping and prompt chunking against hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.base import Batch, finalize
from detectors.labels import COCO80, build_label_map, canonical
from detectors.text_prompts import Caption, chunk_captions, positive_map
from detectors.yolo_decode import DEFAULTS, decode, nanodet_priors, nms, prepare

VOC = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
       "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]  # fmt: skip


def test_voc_names_meet_coco_names_through_the_alias_table():
    for voc, coco in [("aeroplane", "airplane"), ("tvmonitor", "tv"), ("motorbike", "motorcycle"), ("sofa", "couch"),
                      ("diningtable", "dining table"), ("pottedplant", "potted plant")]:  # fmt: skip
        assert canonical(voc) == canonical(coco) == coco
    lm = build_label_map(COCO80, VOC)
    assert lm.mapped == 20 and lm.missing == ()
    assert lm.model_to_dataset[COCO80.index("airplane")] == VOC.index("aeroplane")
    assert lm.model_to_dataset[COCO80.index("giraffe")] == -1  # a COCO model on VOC keeps the 20 VOC classes


def test_torchvision_91_ids_and_unpredictable_classes():
    coco91 = ["__background__", "person", "bicycle", "N/A", "car"]
    lm = build_label_map(coco91, ["car", "person", "unicorn"])
    assert lm.model_to_dataset.tolist() == [-1, 1, -1, -1, 0]
    assert lm.missing == ("unicorn",)  # reported as unpredictable, not scored as zero silently
    with pytest.raises(ValueError, match="same class"):
        build_label_map(coco91, ["sofa", "couch"])


def test_finalize_maps_thresholds_sorts_clips_and_caps():
    boxes = np.array([[-5, 2, 50, 60], [1, 1, 2, 2], [3, 3, 4, 4], [0, 0, 9, 9]], np.float32)
    # model labels 1, 1, 0, 2 -> dataset 1, 1, 0, dropped; the second is under the threshold
    d = finalize(boxes, [0.2, 0.0005, 0.9, 0.2], [1, 1, 0, 2], (40, 30), 0.001, 2, np.array([0, 1, -1]))
    assert d.labels.tolist() == [0, 1] and d.scores.tolist() == pytest.approx([0.9, 0.2])
    assert d.boxes[1].tolist() == [0, 2, 30, 40]  # clipped to the 30 x 40 image


def test_detr_softmax_and_sigmoid_topk_decoding_by_hand():
    torch = pytest.importorskip("torch")
    from detectors.hf_closed import decode as hf_decode

    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]])
    s, q, c = hf_decode(logits, "softmax", torch.tensor([True, True]), 100)
    assert c.tolist() == [0, 1]
    assert s.tolist() == pytest.approx([math.e**2 / (math.e**2 + 2), math.e / (1 + math.e + math.e**3)])
    s, q, c = hf_decode(logits, "softmax", torch.tensor([True, False]), 100)  # class 1 not in the dataset
    assert c.tolist() == [0, 0] and s[1].item() == pytest.approx(1 / (1 + math.e + math.e**3))
    s, q, c = hf_decode(torch.tensor([[0.0, 2.0], [1.0, -1.0]]), "sigmoid", torch.tensor([True, True]), 2)
    assert list(zip(q.tolist(), c.tolist())) == [(0, 1), (1, 0)]
    assert s.tolist() == pytest.approx([1 / (1 + math.exp(-2)), 1 / (1 + math.exp(-1))])


def test_hf_postprocess_scales_normalised_boxes_to_the_original_image():
    torch = pytest.importorskip("torch")
    from detectors.registry import build

    det = build("detr_resnet50", ["circle", "square"], weights="random", tiny=True)
    logits = torch.tensor([[[4.0, 0.0, 0.0], [0.0, 0.0, 5.0]]])  # query 1 is "no object"
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.4], [0.1, 0.1, 0.1, 0.1]]])
    (d,) = det.postprocess((logits, boxes), Batch(None, [(100, 200)]))
    assert d.labels[0] == 0 and d.boxes[0].tolist() == pytest.approx([80, 30, 120, 70])
    assert d.scores[0] == pytest.approx(math.e**4 / (math.e**4 + 2))


def test_letterbox_geometry_maps_back_exactly():
    img = np.zeros((32, 64, 3), np.uint8)
    x, geometry = prepare(img, (64, 64), DEFAULTS["yolov8"][0])
    assert x.shape == (3, 64, 64) and geometry == (1.0, 1.0, 0.0, 16.0)
    assert x[0, 0, 0] == pytest.approx(114 / 255) and x[0, 20, 0] == 0.0  # padding above, image below
    x, geometry = prepare(img, (64, 64), DEFAULTS["yolox"][0])  # YOLOX pads bottom/right, no scaling
    assert geometry == (1.0, 1.0, 0.0, 0.0) and x[0, 63, 0] == 114.0


def test_yolov8_decode_class_aware_nms_and_rescaling():
    raw = np.array([
        [32, 33, 33], [32, 32, 32], [20, 20, 20], [20, 20, 20],  # cx, cy, w, h of boxes A, B, C
        [0.9, 0.8, 0.0],  # class 0
        [0.1, 0.0, 0.7],  # class 1
    ], np.float32)  # fmt: skip
    boxes, scores, labels = decode(raw, "yolov8", 2, (64, 64), (1.0, 1.0, 0.0, 16.0), (32, 64), 0.001, 0.7, 100)
    assert list(zip(scores.tolist(), labels.tolist())) == [(pytest.approx(0.9), 0), (pytest.approx(0.7), 1)]
    assert boxes[0].tolist() == pytest.approx([22, 6, 42, 26])  # A, back in the 64 x 32 original
    _, scores, _ = decode(raw, "yolov8", 2, (64, 64), (1.0, 1.0, 0.0, 16.0), (32, 64), 0.001, 0.99, 100)
    assert sorted(scores.tolist()) == pytest.approx([0.1, 0.7, 0.8, 0.9])  # IoU 0.99 suppresses nothing


def test_yolov5_score_is_objectness_times_class_and_single_label_mode():
    raw = np.array([[10, 10, 8, 8, 0.5, 0.6, 0.9]], np.float32)
    _, scores, labels = decode(raw, "yolov5", 2, (64, 64), (1, 1, 0, 0), (64, 64), 0.001, 0.6, 100, multi_label=False)
    assert scores.tolist() == pytest.approx([0.45]) and labels.tolist() == [1]


def test_nanodet_distribution_decoding():
    centres, strides = nanodet_priors((64, 64))
    assert len(centres) == 64 + 16 + 4 + 1 and centres[1].tolist() == [8, 0] and strides[64] == 16
    raw = np.zeros((len(centres), 1 + 32), np.float32)
    raw[:, 0] = 0.01
    raw[9, 0] = 0.9  # prior (8, 8) at stride 8
    dist = np.full((4, 8), -50.0, np.float32)
    dist[:, 2] = 50.0  # every side: bin 2 -> 2 * stride = 16 pixels
    raw[9, 1:] = dist.ravel()
    boxes, scores, labels = decode(raw, "nanodet-plus", 1, (64, 64), (1, 1, 0, 0), (64, 64), 0.5, 0.6, 100)
    assert scores.tolist() == pytest.approx([0.9]) and boxes[0].tolist() == pytest.approx([0, 0, 24, 24])  # clipped at the input's edge
    v0_centres, v0_strides = nanodet_priors((64, 64), (8, 16, 32), offset=0.5)  # NanoDet v0.x: (j + 0.5) * stride
    assert len(v0_centres) == 64 + 16 + 4 and v0_centres[0].tolist() == [4, 4] and v0_centres[64].tolist() == [8, 8]
    raw = raw[: len(v0_centres)]
    boxes, scores, _ = decode(raw, "nanodet", 1, (64, 64), (1, 1, 0, 0), (64, 64), 0.5, 0.6, 100)
    assert scores.tolist() == pytest.approx([0.9]) and boxes[0].tolist() == pytest.approx([0, 0, 28, 28])  # centre (12, 12) - 16 / + 16


def test_end2end_outputs_skip_nms():
    raw = np.array([[1, 2, 11, 12, 0.9, 1], [1, 2, 11, 12, 0.8, 1]], np.float32)
    boxes, scores, labels = decode(raw, "end2end", 2, (64, 64), (1, 1, 0, 0), (64, 64), 0.001, None, 100)
    assert scores.tolist() == pytest.approx([0.9, 0.8]) and labels.tolist() == [1, 1]


def test_nms_keeps_the_best_and_respects_max_keep():
    b = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    assert nms(b, np.array([0.5, 0.9, 0.1]), np.zeros(3, np.int64), 0.5, 10).tolist() == [1, 2]
    assert nms(b, np.array([0.5, 0.9, 0.1]), np.zeros(3, np.int64), 0.5, 1).tolist() == [1]


def _word_tokens(text: str) -> int:
    return len(text.split()) + 2  # [CLS] ... [SEP]


def test_captions_are_chunked_under_the_token_limit_and_cover_every_class_once():
    names = [f"class_{i} thing" for i in range(40)]
    caps = chunk_captions(names, _word_tokens, max_tokens=20)
    assert len(caps) > 1 and all(_word_tokens(c.text) <= 20 for c in caps)
    assert sorted(i for c in caps for i in c.classes) == list(range(40))
    c = caps[0]
    for k, (s, e) in zip(c.classes, c.spans):
        assert c.text[s:e] == names[k].replace("_", " ")
    with pytest.raises(ValueError, match="exceeds"):
        chunk_captions(["a " * 30], _word_tokens, max_tokens=20)


def test_subword_tokens_map_back_to_their_category():
    pytest.importorskip("transformers")
    from detectors.hf_open_vocab import wordpiece_tokenizer

    tok = wordpiece_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "cat", "traffic", "li", "##ght"])
    (cap,) = chunk_captions(["cat", "traffic_light"], lambda t: len(tok(t)["input_ids"]))
    assert cap.text == "cat . traffic light ."
    enc = tok(cap.text, return_offsets_mapping=True)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "cat", ".", "traffic", "li", "##ght", ".", "[SEP]"]
    pos = positive_map(cap, enc["offset_mapping"], len(enc["input_ids"]))
    assert pos[0].tolist() == pytest.approx([0, 1, 0, 0, 0, 0, 0, 0])
    assert pos[1].tolist() == pytest.approx([0, 0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0])
    with pytest.raises(ValueError, match="no token"):
        positive_map(Caption("x", (0,), ((0, 1),)), [(0, 0)], 1)


def test_grounding_dino_scores_a_class_by_its_name_tokens():
    torch = pytest.importorskip("torch")
    from detectors.registry import build

    det = build("grounding_dino_tiny", ["cat", "traffic_light"], weights="random", tiny=True)
    pos = det.text_inputs[0][1]
    light_tokens = torch.nonzero(pos[1]).flatten()
    logits = torch.full((1, 10, det.max_text_len), -10.0)
    logits[0, 3, light_tokens] = 10.0  # query 3 matches every token of "traffic light"
    boxes = torch.full((1, 10, 4), 0.25)
    (d,) = det.postprocess([(logits, boxes)], Batch(None, [(40, 40)]))
    assert d.labels[0] == 1 and d.scores[0] == pytest.approx(1 / (1 + math.exp(-10)), rel=1e-5)
    assert len(d) == 1  # every other (query, class) scores sigmoid(-10) < 0.001
    tokens = det.processor.tokenizer.convert_ids_to_tokens(det.text_inputs[0][0]["input_ids"][0, light_tokens].tolist())
    assert tokens == ["traffic", "light"]  # the generated vocabulary knows the class words
