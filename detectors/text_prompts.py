"""Class names as text prompts for open-vocabulary detectors (no torch).

Grounding DINO reads one caption "name one . name two . ..." of at most ``max_tokens``
tokens (256 for the released models, [CLS]/[SEP] included). ``chunk_captions`` packs the
dataset's names into as few captions as fit, and ``token_spans`` maps every caption token back
to the class whose name it belongs to, through the tokenizer's character offsets, so sub-word
pieces ("traffic", "##light") score the right category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

SEPARATOR = " . "


def prompt_name(name: str) -> str:
    """LVIS-style ``traffic_light`` -> ``traffic light``; lower case (Grounding DINO's format)."""
    return " ".join(name.replace("_", " ").split()).lower()


@dataclass(frozen=True)
class Caption:
    """One caption: its text, the dataset class indices it holds, and their character spans."""

    text: str
    classes: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]


def _caption(names: Sequence[str], classes: Sequence[int]) -> Caption:
    spans, pos, parts = [], 0, []
    for c in classes:
        n = prompt_name(names[c])
        spans.append((pos, pos + len(n)))
        parts.append(n)
        pos += len(n) + len(SEPARATOR)
    return Caption(SEPARATOR.join(parts) + " .", tuple(classes), tuple(spans))


def chunk_captions(names: Sequence[str], count_tokens, max_tokens: int = 256) -> list[Caption]:
    """Greedily pack class names into captions of at most ``max_tokens`` tokens.
    ``count_tokens(text) -> int`` counts a caption's tokens including special tokens."""
    captions: list[Caption] = []
    current: list[int] = []
    for c in range(len(names)):
        trial = current + [c]
        if current and count_tokens(_caption(names, trial).text) > max_tokens:
            captions.append(_caption(names, current))
            trial = [c]
        if count_tokens(_caption(names, trial).text) > max_tokens:
            raise ValueError(f"class name {names[c]!r} alone exceeds {max_tokens} tokens")
        current = trial
    if current:
        captions.append(_caption(names, current))
    return captions


def positive_map(caption: Caption, offsets: Sequence[tuple[int, int]], num_tokens: int) -> np.ndarray:
    """float32 [len(caption.classes), num_tokens]: row k spreads weight 1 evenly over the tokens
    of class k's name (the official Grounding DINO evaluation averages token scores this way).
    ``offsets``: (start, end) character offsets per token; (0, 0) for special tokens."""
    out = np.zeros((len(caption.classes), num_tokens), dtype=np.float32)
    for k, (s, e) in enumerate(caption.spans):
        for t, (ts, te) in enumerate(offsets[:num_tokens]):
            if te > ts and ts >= s and te <= e:
                out[k, t] = 1.0
        total = out[k].sum()
        if total == 0:
            raise ValueError(f"no token of the caption covers class name {caption.text[s:e]!r}")
        out[k] /= total
    return out
