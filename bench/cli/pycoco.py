"""``bench eval --format pycocotools``: the 12 lines ``COCOeval.summarize()`` prints, character for
character (for people who diff logs against pycocotools'); undefined values print as ``-1.000``,
as pycocotools prints them. ``tests/test_cli_conventions.py`` compares the bytes with pycocotools'."""

from __future__ import annotations

# (metric key, AP (1) or AR (0), IoU threshold or None for the range, area label, index into max_dets)
_LINES = (
    ("AP", 1, None, "all", 2), ("AP50", 1, 0.5, "all", 2), ("AP75", 1, 0.75, "all", 2),
    ("APs", 1, None, "small", 2), ("APm", 1, None, "medium", 2), ("APl", 1, None, "large", 2),
    ("AR1", 0, None, "all", 0), ("AR10", 0, None, "all", 1), ("AR100", 0, None, "all", 2),
    ("ARs", 0, None, "small", 2), ("ARm", 0, None, "medium", 2), ("ARl", 0, None, "large", 2),
)  # fmt: skip


def pycocotools_summary(result) -> str:
    """The 12 summary lines of a ``coco`` protocol result, as ``COCOeval.summarize()`` formats them."""
    p = result.protocol
    thresholds = p.iou_thresholds
    template = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}"
    lines = []
    for key, ap, iou, area, m in _LINES:
        iou_str = f"{thresholds[0]:0.2f}:{thresholds[-1]:0.2f}" if iou is None else f"{iou:0.2f}"
        value = result.metrics.get(key)
        title, kind = ("Average Precision", "(AP)") if ap else ("Average Recall", "(AR)")
        lines.append(template.format(title, kind, iou_str, area, p.max_dets[m], -1 if value is None else value))
    return "\n".join(lines)
