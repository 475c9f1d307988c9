"""Independent, test-only transcriptions of the two upstream pipelines that the embedded ONNX
detectors come from, written from the upstream source (the repositories and commits named
below: Megvii-BaseDetection/YOLOX and RangiLyu/nanodet, read file by file), NOT from detbench's
adapter. Nothing here imports ``detectors.yolo_decode`` / ``detectors.image_ops``: this is the
oracle detbench's ``yolox_nano`` / ``nanodet_m`` are checked against.

Images are read with Pillow as RGB and flipped to BGR, which is what ``cv2.imread`` gives the
upstream code. Each model maps one RGB uint8 image to ``(boxes XYXY in original pixels,
scores, COCO-80 class index)``; ``coco_results`` turns those into a COCO results list.

YOLOX (Megvii-BaseDetection/YOLOX @ 6ddff48)
    - ``yolox/data/data_augment.py::preproc``: r = min(H_in / h, W_in / w); cv2.resize
      INTER_LINEAR to (int(w * r), int(h * r)); pasted at the TOP-LEFT of a 114-filled canvas;
      BGR, float32 0..255, no mean / std (ValTransform(legacy=False)).
    - ``yolox/utils/demo_utils.py::demo_postprocess``: (xy + grid) * stride, exp(wh) * stride,
      grid = meshgrid(arange(w), arange(h)) (no +0.5), strides 8 / 16 / 32.
    - ``yolox/utils/boxes.py::postprocess`` (the COCO-evaluation path, class_agnostic=False):
      best class per box, keep obj * cls >= conf, torchvision.ops.batched_nms(iou 0.65);
      ``yolox/evaluators/coco_evaluator.py::convert_to_coco_format`` divides by r and writes
      EVERY kept box: no per-image cap and no clipping to the image.
    - Upstream's own evaluation uses test_conf 0.01 (``yolox/exp/yolox_base.py``); the tests
      use detbench's 0.001. (Upstream's COCO dataset loader resizes with cv2 first and preproc
      then sees the resized image: a second resize only when int(side * r) truncates the long
      side below 416, which happens for none of the 120 embedded images, so preproc on the
      original image is the same thing here.)

NanoDet v0.x (RangiLyu/nanodet @ d7caaca, the export's master; NanoDet-m 320)
    - ``nanodet/data/transform/warp.py::get_resize_matrix(keep_ratio=True)``: centred
      (T = 0.5 * dst), cv2.warpPerspective to 320x320 with the default constant-0 border;
      BGR; ``color.py::_normalize``: (img / 255 - mean / 255) / (std / 255) with mean
      [103.53, 116.28, 123.675], std [57.375, 57.12, 58.395] (the demo_ncnn NanoDetONNX
      preprocess is the same).
    - ``nanodet/model/head/gfl_head.py::get_bboxes_single``: priors ((j + 0.5) * s,
      (i + 0.5) * s); the export's cls outputs are already sigmoid (nanodet_head.py ONNX
      branch); Integral = softmax over reg_max + 1 = 8 bins . linspace(0, 7, 8), times the
      stride; per level nms_pre = 1000 (top-k by the best class score, when a level has more
      priors: stride 8 has 1600 at 320); ``distance2bbox(max_shape=input)`` clamps to the input.
    - ``nanodet/model/module/nms.py::multiclass_nms``: every (box, class) with score >
      score_thr is a candidate; class-offset torchvision nms at iou 0.6 (split_thr 10000:
      per-class loop above it); the first max_num = 100.
    - ``gfl_head.py::post_process``: ``warp_boxes(boxes, inv(M), w, h)`` maps the 4 corners
      back and CLIPS to the image.
    - Upstream's own test_cfg: score_thr 0.05, nms iou 0.6, max_per_img 100, nms_pre 1000; the
      tests use score_thr 0.001 (detbench's evaluation threshold), the rest as upstream.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
YOLOX_NANO_ONNX = REPO / "detectors" / "embedded" / "yolox_nano" / "yolox_nano.onnx"
NANODET_M_ONNX = REPO / "detectors" / "embedded" / "nanodet_m" / "nanodet_m_320.onnx"


def read_bgr(path) -> np.ndarray:
    """An image as cv2.imread would give it: uint8 [H, W, 3] BGR (decoded by Pillow as RGB)."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- YOLOX ----------


def yolox_preproc(img, input_size, swap=(2, 0, 1)):
    """yolox/data/data_augment.py::preproc, verbatim apart from names."""
    import cv2

    if len(img.shape) == 3:
        padded_img = np.ones((input_size[0], input_size[1], 3), dtype=np.uint8) * 114
    else:
        padded_img = np.ones(input_size, dtype=np.uint8) * 114
    r = min(input_size[0] / img.shape[0], input_size[1] / img.shape[1])
    resized_img = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    padded_img[: int(img.shape[0] * r), : int(img.shape[1] * r)] = resized_img
    padded_img = padded_img.transpose(swap)
    padded_img = np.ascontiguousarray(padded_img, dtype=np.float32)
    return padded_img, r


def yolox_demo_postprocess(outputs, img_size, p6=False):
    """yolox/utils/demo_utils.py::demo_postprocess (in place, as upstream)."""
    grids = []
    expanded_strides = []
    strides = [8, 16, 32] if not p6 else [8, 16, 32, 64]
    hsizes = [img_size[0] // stride for stride in strides]
    wsizes = [img_size[1] // stride for stride in strides]
    for hsize, wsize, stride in zip(hsizes, wsizes, strides):
        xv, yv = np.meshgrid(np.arange(wsize), np.arange(hsize))
        grid = np.stack((xv, yv), 2).reshape(1, -1, 2)
        grids.append(grid)
        shape = grid.shape[:2]
        expanded_strides.append(np.full((*shape, 1), stride))
    grids = np.concatenate(grids, 1)
    expanded_strides = np.concatenate(expanded_strides, 1)
    outputs[..., :2] = (outputs[..., :2] + grids) * expanded_strides
    outputs[..., 2:4] = np.exp(outputs[..., 2:4]) * expanded_strides
    return outputs


def yolox_postprocess(prediction, num_classes, conf_thre=0.7, nms_thre=0.45, class_agnostic=False):
    """yolox/utils/boxes.py::postprocess, verbatim (torch)."""
    import torch
    import torchvision

    box_corner = prediction.new(prediction.shape)
    box_corner[:, :, 0] = prediction[:, :, 0] - prediction[:, :, 2] / 2
    box_corner[:, :, 1] = prediction[:, :, 1] - prediction[:, :, 3] / 2
    box_corner[:, :, 2] = prediction[:, :, 0] + prediction[:, :, 2] / 2
    box_corner[:, :, 3] = prediction[:, :, 1] + prediction[:, :, 3] / 2
    prediction[:, :, :4] = box_corner[:, :, :4]

    output = [None for _ in range(len(prediction))]
    for i, image_pred in enumerate(prediction):
        if not image_pred.size(0):
            continue
        class_conf, class_pred = torch.max(image_pred[:, 5: 5 + num_classes], 1, keepdim=True)
        conf_mask = (image_pred[:, 4] * class_conf.squeeze() >= conf_thre).squeeze()
        detections = torch.cat((image_pred[:, :5], class_conf, class_pred.float()), 1)
        detections = detections[conf_mask]
        if not detections.size(0):
            continue
        if class_agnostic:
            nms_out_index = torchvision.ops.nms(detections[:, :4], detections[:, 4] * detections[:, 5], nms_thre)
        else:
            nms_out_index = torchvision.ops.batched_nms(detections[:, :4], detections[:, 4] * detections[:, 5], detections[:, 6], nms_thre)
        detections = detections[nms_out_index]
        if output[i] is None:
            output[i] = detections
        else:
            output[i] = torch.cat((output[i], detections))
    return output


class YoloxUpstream:
    """YOLOX-Nano ONNX (raw head) through upstream's preproc + demo_postprocess + COCO-eval
    postprocess. ``max_per_img``: None = upstream (no cap); an int keeps the top-scored N."""

    def __init__(self, path=YOLOX_NANO_ONNX, input_size=(416, 416), conf=0.001, nms=0.65, num_classes=80, max_per_img=None):
        self.session = _session(path)
        self.input_name = self.session.get_inputs()[0].name
        self.input_size, self.conf, self.nms, self.num_classes, self.max_per_img = tuple(input_size), conf, nms, num_classes, max_per_img

    def raw(self, bgr: np.ndarray):
        img, ratio = yolox_preproc(bgr, self.input_size)
        return self.session.run(None, {self.input_name: img[None, :, :, :]})[0], ratio

    def __call__(self, bgr: np.ndarray):
        import torch

        output, ratio = self.raw(bgr)
        predictions = yolox_demo_postprocess(output.copy(), self.input_size)
        dets = yolox_postprocess(torch.from_numpy(predictions), self.num_classes, self.conf, self.nms, class_agnostic=False)[0]
        if dets is None:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        boxes = dets[:, 0:4] / ratio  # coco_evaluator: bboxes /= scale (no clipping)
        scores = dets[:, 4] * dets[:, 5]
        labels = dets[:, 6].long()
        if self.max_per_img is not None:  # not upstream: an explicit cap for a like-for-like comparison
            top = torch.argsort(scores, descending=True, stable=True)[: self.max_per_img]
            boxes, scores, labels = boxes[top], scores[top], labels[top]
        return boxes.numpy(), scores.numpy(), labels.numpy()


# -------------------------------------------------------------- NanoDet v0.x -----


def nanodet_get_resize_matrix(raw_shape, dst_shape, keep_ratio):
    """nanodet/data/transform/warp.py::get_resize_matrix, verbatim. Shapes are (width, height)."""
    r_w, r_h = raw_shape
    d_w, d_h = dst_shape
    Rs = np.eye(3)
    if keep_ratio:
        C = np.eye(3)
        C[0, 2] = -r_w / 2
        C[1, 2] = -r_h / 2
        if r_w / r_h < d_w / d_h:
            ratio = d_h / r_h
        else:
            ratio = d_w / r_w
        Rs[0, 0] *= ratio
        Rs[1, 1] *= ratio
        T = np.eye(3)
        T[0, 2] = 0.5 * d_w
        T[1, 2] = 0.5 * d_h
        return T @ Rs @ C
    else:
        Rs[0, 0] *= d_w / r_w
        Rs[1, 1] *= d_h / r_h
        return Rs


def nanodet_warp_boxes(boxes, M, width, height):
    """nanodet/data/transform/warp.py::warp_boxes, verbatim."""
    n = len(boxes)
    if n:
        xy = np.ones((n * 4, 3))
        xy[:, :2] = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)  # x1y1, x2y2, x1y2, x2y1
        xy = xy @ M.T
        xy = (xy[:, :2] / xy[:, 2:3]).reshape(n, 8)
        x = xy[:, [0, 2, 4, 6]]
        y = xy[:, [1, 3, 5, 7]]
        xy = np.concatenate((x.min(1), y.min(1), x.max(1), y.max(1))).reshape(4, n).T
        xy[:, [0, 2]] = xy[:, [0, 2]].clip(0, width)
        xy[:, [1, 3]] = xy[:, [1, 3]].clip(0, height)
        return xy.astype(np.float32)
    else:
        return boxes


def nanodet_distance2bbox(points, distance, max_shape=None):
    """nanodet/util/box_transform.py::distance2bbox, verbatim (torch)."""
    import torch

    x1 = points[:, 0] - distance[:, 0]
    y1 = points[:, 1] - distance[:, 1]
    x2 = points[:, 0] + distance[:, 2]
    y2 = points[:, 1] + distance[:, 3]
    if max_shape is not None:
        x1 = x1.clamp(min=0, max=max_shape[1])
        y1 = y1.clamp(min=0, max=max_shape[0])
        x2 = x2.clamp(min=0, max=max_shape[1])
        y2 = y2.clamp(min=0, max=max_shape[0])
    return torch.stack([x1, y1, x2, y2], -1)


def nanodet_integral(x, reg_max=7):
    """gfl_head.py::Integral.forward: softmax over reg_max + 1 bins, projected on 0..reg_max."""
    import torch
    import torch.nn.functional as F

    project = torch.linspace(0, reg_max, reg_max + 1)
    x = F.softmax(x.reshape(-1, reg_max + 1), dim=1)
    x = F.linear(x, project.type_as(x)).reshape(-1, 4)
    return x


def nanodet_batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic=False):
    """nanodet/model/module/nms.py::batched_nms @ d7caaca, verbatim."""
    import torch
    from torchvision.ops import nms

    nms_cfg_ = nms_cfg.copy()
    class_agnostic = nms_cfg_.pop("class_agnostic", class_agnostic)
    if class_agnostic:
        boxes_for_nms = boxes
    else:
        max_coordinate = boxes.max()
        offsets = idxs.to(boxes) * (max_coordinate + 1)
        boxes_for_nms = boxes + offsets[:, None]
    nms_cfg_.pop("type", "nms")
    split_thr = nms_cfg_.pop("split_thr", 10000)
    if len(boxes_for_nms) < split_thr:
        keep = nms(boxes_for_nms, scores, **nms_cfg_)
        boxes = boxes[keep]
        scores = scores[keep]
    else:
        total_mask = scores.new_zeros(scores.size(), dtype=torch.bool)
        for id in torch.unique(idxs):
            mask = (idxs == id).nonzero(as_tuple=False).view(-1)
            keep = nms(boxes_for_nms[mask], scores[mask], **nms_cfg_)
            total_mask[mask[keep]] = True
        keep = total_mask.nonzero(as_tuple=False).view(-1)
        keep = keep[scores[keep].argsort(descending=True)]
        boxes = boxes[keep]
        scores = scores[keep]
    return torch.cat([boxes, scores[:, None]], -1), keep


def nanodet_multiclass_nms(multi_bboxes, multi_scores, score_thr, nms_cfg, max_num=-1):
    """nanodet/model/module/nms.py::multiclass_nms @ d7caaca (score_factors None), verbatim."""
    import torch

    num_classes = multi_scores.size(1) - 1
    if multi_bboxes.shape[1] > 4:
        bboxes = multi_bboxes.view(multi_scores.size(0), -1, 4)
    else:
        bboxes = multi_bboxes[:, None].expand(multi_scores.size(0), num_classes, 4)
    scores = multi_scores[:, :-1]
    valid_mask = scores > score_thr
    bboxes = torch.masked_select(bboxes, torch.stack((valid_mask, valid_mask, valid_mask, valid_mask), -1)).view(-1, 4)
    scores = torch.masked_select(scores, valid_mask)
    labels = valid_mask.nonzero(as_tuple=False)[:, 1]
    if bboxes.numel() == 0:
        return multi_bboxes.new_zeros((0, 5)), multi_bboxes.new_zeros((0,), dtype=torch.long)
    dets, keep = nanodet_batched_nms(bboxes, scores, labels, nms_cfg)
    if max_num > 0:
        dets = dets[:max_num]
        keep = keep[:max_num]
    return dets, labels[keep]


def top_candidates_multiclass_nms(multi_bboxes, multi_scores, score_thr, nms_cfg, max_num, first=400):
    """``nanodet_multiclass_nms(..., max_num)`` run on the highest-scoring (box, class)
    candidates only, widening the set (x4) until it keeps ``max_num`` boxes. Not upstream code,
    an exact shortcut: greedy NMS lets only higher-scoring boxes suppress lower ones, so what
    NMS keeps among the candidates scoring >= t is exactly what it keeps overall restricted to
    scores >= t; once that holds ``max_num`` boxes, the first ``max_num`` of both agree (up to
    the order of exactly tied scores). At score_thr 0.001 NanoDet has 10^4..10^5 candidates
    and upstream's split_thr loop takes seconds per image; this takes milliseconds."""
    import torch

    valid = multi_scores[:, :-1][multi_scores[:, :-1] > score_thr]
    k = first
    while k < valid.numel():
        t = valid.topk(k).values[-1]
        thr = torch.nextafter(t, torch.tensor(-float("inf"), dtype=t.dtype))  # scores > thr  <=>  scores >= t
        dets, labels = nanodet_multiclass_nms(multi_bboxes, multi_scores, float(thr), nms_cfg, max_num)
        if len(dets) >= max_num:
            return dets, labels
        k *= 4
    return nanodet_multiclass_nms(multi_bboxes, multi_scores, score_thr, nms_cfg, max_num)


class NanoDetV0Upstream:
    """NanoDet-m v0.x ONNX (six outputs) through upstream's warp + normalize, GFL head
    get_bboxes_single (nms_pre per level, Integral, distance2bbox, multiclass_nms) and
    post_process (inverse warp, clip)."""

    MEAN = [103.53, 116.28, 123.675]
    STD = [57.375, 57.12, 58.395]

    def __init__(self, path=NANODET_M_ONNX, input_size=(320, 320), strides=(8, 16, 32), reg_max=7, score_thr=0.001,
                 iou=0.6, max_num=100, nms_pre=1000, num_classes=80, exact_shortcut=True):
        self.session = _session(path)
        self.input_name = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        self.cls_names = [f"cls_pred_stride_{s}" for s in strides]
        self.dis_names = [f"dis_pred_stride_{s}" for s in strides]
        assert all(n in names for n in self.cls_names + self.dis_names), names
        self.input_size = tuple(input_size)  # (width, height), as nanodet's configs write it
        self.strides, self.reg_max, self.score_thr, self.iou = tuple(strides), reg_max, score_thr, iou
        self.max_num, self.nms_pre, self.num_classes = max_num, nms_pre, num_classes
        self.exact_shortcut = exact_shortcut  # False: upstream's multiclass_nms on every candidate (slow)

    def preprocess(self, bgr: np.ndarray):
        import cv2

        M = nanodet_get_resize_matrix((bgr.shape[1], bgr.shape[0]), self.input_size, True)
        img = cv2.warpPerspective(bgr, M, dsize=tuple(self.input_size))
        img = img.astype(np.float32) / 255
        mean = np.array(self.MEAN, dtype=np.float32).reshape(1, 1, 3) / 255
        std = np.array(self.STD, dtype=np.float32).reshape(1, 1, 3) / 255
        img = (img - mean) / std
        return np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32), M

    def raw(self, bgr: np.ndarray):
        x, M = self.preprocess(bgr)
        outs = self.session.run(self.cls_names + self.dis_names, {self.input_name: x})
        n = len(self.strides)
        return [o[0] for o in outs[:n]], [o[0] for o in outs[n:]], M

    def get_bboxes_single(self, cls_scores, bbox_preds):
        """gfl_head.py::get_bboxes_single on the export's [HW, C] / [HW, 32] outputs."""
        import torch

        w_in, h_in = self.input_size
        img_shape = [h_in, w_in]
        mlvl_bboxes, mlvl_scores = [], []
        for stride, cls_score, bbox_pred in zip(self.strides, cls_scores, bbox_preds):
            h, w = math.ceil(h_in / stride), math.ceil(w_in / stride)
            assert h * w == len(cls_score) == len(bbox_pred), (stride, h, w, cls_score.shape)
            # get_single_level_center_point: ((j + 0.5) * s, (i + 0.5) * s), row-major
            x_range = (torch.arange(w, dtype=torch.float32) + 0.5) * stride
            y_range = (torch.arange(h, dtype=torch.float32) + 0.5) * stride
            y, x = torch.meshgrid(y_range, x_range, indexing="ij")
            center_points = torch.stack([x.flatten(), y.flatten()], dim=-1)
            scores = torch.from_numpy(np.ascontiguousarray(cls_score))  # sigmoid already in the ONNX graph
            bbox_pred = nanodet_integral(torch.from_numpy(np.ascontiguousarray(bbox_pred)), self.reg_max) * stride
            nms_pre = self.nms_pre
            if nms_pre and scores.shape[0] > nms_pre:
                max_scores, _ = scores.max(dim=1)
                _, topk_inds = max_scores.topk(nms_pre)
                center_points = center_points[topk_inds, :]
                bbox_pred = bbox_pred[topk_inds, :]
                scores = scores[topk_inds, :]
            bboxes = nanodet_distance2bbox(center_points, bbox_pred, max_shape=img_shape)
            mlvl_bboxes.append(bboxes)
            mlvl_scores.append(scores)
        mlvl_bboxes = torch.cat(mlvl_bboxes)
        mlvl_scores = torch.cat(mlvl_scores)
        padding = mlvl_scores.new_zeros(mlvl_scores.shape[0], 1)  # dummy background column (mmdet 2.0)
        mlvl_scores = torch.cat([mlvl_scores, padding], dim=1)
        nms_cfg = dict(type="nms", iou_threshold=self.iou)
        if self.exact_shortcut and self.max_num > 0:
            return top_candidates_multiclass_nms(mlvl_bboxes, mlvl_scores, self.score_thr, nms_cfg, self.max_num)
        return nanodet_multiclass_nms(mlvl_bboxes, mlvl_scores, score_thr=self.score_thr, nms_cfg=nms_cfg, max_num=self.max_num)

    def __call__(self, bgr: np.ndarray):
        cls_scores, bbox_preds, M = self.raw(bgr)
        det_bboxes, det_labels = self.get_bboxes_single(cls_scores, bbox_preds)
        det_bboxes = det_bboxes.numpy()
        boxes = nanodet_warp_boxes(det_bboxes[:, :4], np.linalg.inv(M), bgr.shape[1], bgr.shape[0])
        return np.asarray(boxes, np.float32).reshape(-1, 4), det_bboxes[:, 4].astype(np.float32), det_labels.numpy().astype(np.int64)


# ------------------------------------------------------------------ helpers -------


def predict_dataset(model, gt: dict, image_dir) -> dict:
    """{image id: (boxes, scores, labels)} for every image of a COCO ground-truth dict."""
    image_dir = Path(image_dir)
    return {im["id"]: model(read_bgr(image_dir / im["file_name"])) for im in gt["images"]}


def coco_results(gt: dict, per_image: dict) -> list[dict]:
    """COCO results records; a COCO-80 class index k is the k-th category of ``gt`` by id."""
    cat_ids = sorted(c["id"] for c in gt["categories"])
    assert len(cat_ids) == 80, f"expected the 80 COCO categories, got {len(cat_ids)}"
    out = []
    for image_id, (boxes, scores, labels) in per_image.items():
        for (x1, y1, x2, y2), s, k in zip(np.asarray(boxes, np.float64).tolist(), np.asarray(scores, np.float64).tolist(),
                                          np.asarray(labels).tolist()):  # fmt: skip
            out.append({"image_id": int(image_id), "category_id": int(cat_ids[int(k)]), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s})
    return out


def write_coco_results(path, gt: dict, per_image: dict) -> list[dict]:
    import json

    records = coco_results(gt, per_image)
    Path(path).write_text(json.dumps(records))
    return records
