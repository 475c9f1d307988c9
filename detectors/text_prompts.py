"""Class names as text prompts for open-vocabulary detectors (no torch).

A :class:`PromptSet` is the whole vocabulary -> text mapping, as data: templates (several =
an ensemble), lower-casing, ``_`` -> space, per-class phrase overrides, synonyms, the caption
separator / terminator and chunk size for Grounding DINO, and the token -> class aggregation
rule. It is recorded (name + hash + fields) with every open-vocabulary run and can be given as
a small YAML file (``load_prompt_set``: ``yaml.safe_load``, every field checked, errors name
the file and the field).

Grounding DINO reads one caption "name one . name two . ..." of at most ``max_tokens``
tokens (256 for the released models, [CLS]/[SEP] included). ``chunk_captions`` packs the
dataset's names into as few captions as fit, and ``token_spans`` maps every caption token back
to the class whose name it belongs to, through the tokenizer's character offsets, so sub-word
pieces ("traffic", "##light") score the right category.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
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


def _caption(phrases: Sequence[str], classes: Sequence[int], separator: str = SEPARATOR, terminator: str = " .") -> Caption:
    """``phrases[c]`` is class c's text, already formatted by the prompt set."""
    spans, pos, parts = [], 0, []
    for c in classes:
        n = phrases[c]
        spans.append((pos, pos + len(n)))
        parts.append(n)
        pos += len(n) + len(separator)
    return Caption(separator.join(parts) + terminator, tuple(classes), tuple(spans))


def chunk_captions(names: Sequence[str], count_tokens, max_tokens: int = 256, prompts: "PromptSet | None" = None) -> list[Caption]:
    """Greedily pack class names into captions of at most ``max_tokens`` tokens.
    ``count_tokens(text) -> int`` counts a caption's tokens including special tokens.
    ``prompts`` (default :data:`GROUNDING_DINO_DEFAULT`) formats each name and joins them."""
    ps = prompts or GROUNDING_DINO_DEFAULT
    phrases = [ps.phrases(n)[0] for n in names]
    make = lambda cl: _caption(phrases, cl, ps.separator, ps.terminator)  # noqa: E731
    captions: list[Caption] = []
    current: list[int] = []
    for c in range(len(names)):
        trial = current + [c]
        if current and count_tokens(make(trial).text) > max_tokens:
            captions.append(make(current))
            trial = [c]
        if count_tokens(make(trial).text) > max_tokens:
            raise ValueError(f"class name {names[c]!r} alone exceeds {max_tokens} tokens")
        current = trial
    if current:
        captions.append(make(current))
    return captions


def positive_map(caption: Caption, offsets: Sequence[tuple[int, int]], num_tokens: int) -> np.ndarray:
    """float32 [len(caption.classes), num_tokens]: row k spreads weight 1 evenly over the tokens
    of class k's name (the official Grounding DINO evaluation averages token scores this way;
    a prompt set's ``class_score: max`` takes the best token instead, see :func:`class_scores`).
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


CLASS_SCORES = ("mean", "max")
SYNONYMS = ("none", "ensemble")


@dataclass(frozen=True)
class PromptSet:
    """How class names become text. ``templates``: ``{}`` is replaced by the class phrase;
    several templates form an ensemble (OWL: the mean of the L2-normalised text embeddings,
    normalised again, as CLIP's zero-shot prompt ensembling; Grounding DINO: one template only).
    ``names``: per-class phrase overrides (dataset name -> text). ``synonyms``: "ensemble" adds
    each class's synonyms (e.g. LVIS' ``synonyms`` field) as more phrases of the ensemble (OWL
    only). ``separator`` / ``terminator`` / ``max_tokens``: Grounding DINO captions ("a . b ."),
    chunked at ``max_tokens`` (None: the model's ``max_text_len``). ``class_score``: Grounding
    DINO's token -> class rule, "mean" (the official evaluation's positive map) or "max" (the
    library's post-processing)."""

    name: str
    templates: tuple[str, ...] = ("{}",)
    lowercase: bool = True
    underscores_to_spaces: bool = True
    names: dict = field(default_factory=dict)
    synonyms: str = "none"
    separator: str = SEPARATOR
    terminator: str = " ."
    max_tokens: int | None = None
    class_score: str = "mean"
    source: str = ""
    unset: tuple[str, ...] = ()  # fields a YAML file did not give: the detector family's defaults fill them
    file: str = ""  # the YAML file it came from, for error messages

    def __post_init__(self):
        _check_prompt_set(self, "<prompt set>")

    def phrases(self, name: str, synonyms: Sequence[str] = ()) -> list[str]:
        """Every text of one class: templates x (name, and its synonyms under "ensemble")."""
        base = [self.names.get(name, name)] + (list(synonyms) if self.synonyms == "ensemble" else [])
        out = []
        for b in base:
            b = " ".join((b.replace("_", " ") if self.underscores_to_spaces else b).split())
            b = b.lower() if self.lowercase else b
            out += [t.format(b) for t in self.templates]
        return list(dict.fromkeys(out))  # a synonym equal to the name is not counted twice

    def to_dict(self) -> dict:
        d = asdict(self)
        d["templates"] = list(self.templates)
        del d["unset"], d["file"]
        return d

    def with_defaults(self, base: "PromptSet") -> "PromptSet":
        """This set with the fields its file did not give taken from ``base`` (the detector
        family's default: a file with only ``name``/``names`` keeps OWL's "a photo of a {}")."""
        return replace(self, **{f: getattr(base, f) for f in self.unset}, unset=())

    def check_vocabulary(self, classes: Sequence[str]) -> None:
        """A ``names`` override for a class outside ``classes`` is a ValueError naming the file
        and the key (a typo would otherwise leave that class prompted by its plain name)."""
        unknown = [k for k in self.names if k not in set(classes)]
        if unknown:
            raise ValueError(f"{self.file or f'prompt set {self.name!r}'}: names.{unknown[0]}: not a class of the vocabulary "
                             f"({len(classes)} classes); {len(unknown)} unknown key(s): {', '.join(map(repr, unknown[:10]))}")  # fmt: skip

    def digest(self) -> str:
        """sha256 (12 hex) of the fields that change the text or the scores (not the name)."""
        d = {k: v for k, v in self.to_dict().items() if k not in ("name", "source")}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    def record(self) -> dict:
        """What a run stores: name, hash and every field."""
        return {"name": self.name, "hash": self.digest(), **self.to_dict()}


def _check_prompt_set(p: PromptSet, file: str) -> None:
    def bad(fld: str, msg: str):
        return ValueError(f"{file}: {fld}: {msg}")

    if not isinstance(p.name, str) or not p.name:
        raise bad("name", "a non-empty string is required")
    if not isinstance(p.templates, tuple) or not p.templates or not all(isinstance(t, str) and t.count("{}") == 1 for t in p.templates):
        raise bad("templates", "a non-empty list of strings, each with exactly one '{}'")
    for f in ("lowercase", "underscores_to_spaces"):
        if not isinstance(getattr(p, f), bool):
            raise bad(f, f"true or false, got {getattr(p, f)!r}")
    if not isinstance(p.names, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in p.names.items()):
        raise bad("names", "a mapping from class name to a non-empty phrase")
    if p.synonyms not in SYNONYMS:
        raise bad("synonyms", f"one of {', '.join(SYNONYMS)}, got {p.synonyms!r}")
    for f in ("separator", "terminator", "source"):
        if not isinstance(getattr(p, f), str):
            raise bad(f, f"a string, got {getattr(p, f)!r}")
    if p.max_tokens is not None and (not isinstance(p.max_tokens, int) or isinstance(p.max_tokens, bool) or p.max_tokens < 3):
        raise bad("max_tokens", f"an integer >= 3 or null, got {p.max_tokens!r}")
    if p.class_score not in CLASS_SCORES:
        raise bad("class_score", f"one of {', '.join(CLASS_SCORES)}, got {p.class_score!r}")
    if not isinstance(p.unset, tuple) or not set(p.unset) <= set(PromptSet.__dataclass_fields__) - {"name", "unset", "file"}:
        raise bad("unset", f"a tuple of prompt-set fields, got {p.unset!r}")


OWL_DEFAULT = PromptSet("owl-photo", templates=("a photo of a {}",), source="OWL-ViT / HF model cards' query form")
GROUNDING_DINO_DEFAULT = PromptSet("gdino-dot-captions", source="Grounding DINO's COCO evaluation: lower-case names joined by ' . '")
PROMPT_FIELDS = tuple(f for f in PromptSet.__dataclass_fields__ if f not in ("unset", "file"))  # what a file may give


def prompt_set_from_dict(data, file: str) -> PromptSet:
    """A PromptSet from parsed YAML/JSON; unknown or ill-typed fields raise ValueError naming
    ``file`` and the field."""
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a mapping of prompt-set fields ({', '.join(PROMPT_FIELDS)})")
    unknown = sorted(set(data) - set(PROMPT_FIELDS))
    if unknown:
        raise ValueError(f"{file}: {unknown[0]}: unknown field; known: {', '.join(PROMPT_FIELDS)}")
    d = dict(data)
    if "templates" in d:
        t = d["templates"]
        d["templates"] = tuple(t) if isinstance(t, list) else (t,) if isinstance(t, str) else t
    if "name" not in d:
        raise ValueError(f"{file}: name: missing (every prompt set is shown by name in the leaderboard)")
    d["unset"] = tuple(f for f in PROMPT_FIELDS if f not in data and f not in ("name", "source"))
    d["file"] = file
    try:
        return PromptSet(**d)
    except ValueError as e:
        raise ValueError(str(e).replace("<prompt set>", file, 1)) from None
    except TypeError as e:  # a field given with the wrong shape
        raise ValueError(f"{file}: {e}") from None


def load_prompt_set(path: str | None = None, template: str | None = None, base: PromptSet | None = None) -> PromptSet:
    """``path``: a YAML file (safe_load) of PromptSet fields; ``template``: a single template
    replacing the set's templates (``--prompt-template``); ``base``: the detector's default, which
    fills the fields the file does not give (without ``base`` they stay listed in ``unset`` for
    the detector to fill: :meth:`PromptSet.with_defaults`)."""
    import yaml

    p = base or OWL_DEFAULT
    if path:
        from pathlib import Path

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: cannot read the prompt set: {e}") from None
        p = prompt_set_from_dict(data, str(path))
        if base is not None:
            p = p.with_defaults(base)
    if template is not None:
        d = p.to_dict()
        d["templates"] = [template]
        named = path or (base is not None and base.name not in (OWL_DEFAULT.name, GROUNDING_DINO_DEFAULT.name))
        d["name"] = f"{p.name}+template" if named else f"template:{template}"
        d["source"] = d["source"] if named else "--prompt-template"
        p = replace(prompt_set_from_dict(d, "--prompt-template"), unset=tuple(f for f in p.unset if f != "templates"), file=p.file)
    return p


def class_scores(prob, pos, rule: str):
    """[Q, classes] scores from token probabilities ``prob`` [Q, T] and a positive map ``pos``
    [classes, T] (rows sum to 1 over the class's tokens): "mean" = prob @ pos.T, "max" = the
    best token of the class. Works on numpy arrays and torch tensors."""
    if rule == "mean":
        return prob[:, : pos.shape[1]] @ pos.T
    mask = pos > 0
    p = prob[:, : pos.shape[1]]
    return (p[:, None, :] * mask[None, :, :]).max(-1)[0] if hasattr(p, "detach") else (p[:, None, :] * mask[None]).max(-1)
