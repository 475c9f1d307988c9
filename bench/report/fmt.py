"""Table cells of the HTML, Markdown and CSV outputs (metrics shown by :mod:`bench.fmt`)."""

from __future__ import annotations

from bench.fmt import missing, pts

_BOX_AP = {"AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "mAP"}
AP_COLUMNS = _BOX_AP | {"mask_" + c for c in _BOX_AP} | {"published_AP", "published_mask_AP", "AP50_novel", "AP50_base", "AP50_all"}


def cell(column: str, v) -> str:
    """AP as a percentage with one decimal; times in ms; '-' for undefined."""
    if missing(v):
        return "-"
    if column in AP_COLUMNS:
        return pts(v)
    if column.endswith("_ms"):
        return f"{v:.2f}" if v < 10 else f"{v:.1f}"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 1 else f"{v:.3f}"
    return str(v)
