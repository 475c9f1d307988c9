"""Class lists of the open-vocabulary protocols (inert data, with their sources).

OV-COCO: the 48 base ("seen") / 17 novel ("unseen") split of Bansal et al., "Zero-Shot Object
Detection" (ECCV 2018), as used by OVR-CNN, ViLD, Detic and RO-ViT. Transcribed from
facebookresearch/Detic, commit 436cda2a2347df60a7c66daca0e8c59f93dc5e79,
``detic/data/datasets/coco_zeroshot.py`` (``categories_seen`` / ``categories_unseen``, Apache-2.0),
in COCO category-id order; the same names that alirezazareian/ovr-cnn (commit
c904af7455658906abaeaa1ff6c4cbe182efa08d, ``ipynb/001.ipynb`` and ``003.ipynb``) reads from
Bansal et al.'s ``mscoco_seen_classes.json`` / ``mscoco_unseen_classes.json``. The other 15
COCO classes are outside the split and are not scored.

Names are the COCO 2017 annotation files' category names (``tv``, ``couch``, ...), since the
split is applied to those files by name.
"""

from __future__ import annotations

OV_COCO_SOURCE = ("facebookresearch/Detic@436cda2a2347df60a7c66daca0e8c59f93dc5e79:detic/data/datasets/coco_zeroshot.py "
                  "(split of Bansal et al. 2018, as OVR-CNN's ipynb/003.ipynb applies it)")  # fmt: skip

OV_COCO_BASE: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "train", "truck", "boat", "bench", "bird", "horse", "sheep", "bear",
    "zebra", "giraffe", "backpack", "handbag", "suitcase", "frisbee", "skis", "kite", "surfboard", "bottle", "fork",
    "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "pizza", "donut", "chair", "bed",
    "toilet", "tv", "laptop", "mouse", "remote", "microwave", "oven", "toaster", "refrigerator", "book", "clock",
    "vase", "toothbrush",
)  # fmt: skip

OV_COCO_NOVEL: tuple[str, ...] = (
    "airplane", "bus", "cat", "dog", "cow", "elephant", "umbrella", "tie", "snowboard", "skateboard", "cup", "knife",
    "cake", "couch", "keyboard", "sink", "scissors",
)  # fmt: skip
