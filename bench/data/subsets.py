"""Datasets defined as an image subset of another ``datasets.yaml`` entry (inert data).

An entry with ``subset_of: PARENT`` and a ``subset`` rule is read from the parent's downloaded
annotation file, keeping the chosen images and their annotations; images, protocol and format
are the parent's unless the entry says otherwise. Rules (exactly one):

- ``image_ids_file: FILE`` (+ ``image_ids_sha256``): a JSON list of image ids, relative to
  ``datasets.yaml``; its sha256 is checked before use. Every id must be in the parent.
- ``coco_url_contains: TEXT``: images whose ``coco_url`` contains TEXT (LVIS images carry it),
  e.g. ``/val2017/`` for the LVIS v1 val images that come from COCO val2017.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.errors import InputError

RULES = ("image_ids_file", "coco_url_contains")


def select_images(obj: dict, rule: dict, where: str, base: Path) -> set:
    """Ids of the images of annotation dict ``obj`` that ``rule`` keeps."""
    from bench.jsonio import load_json

    given = [k for k in RULES if k in rule]
    if len(given) != 1:
        raise InputError(where, "subset", None, f"exactly one of {', '.join(RULES)} is required, got {given or 'none'}")
    images = obj.get("images") or []
    if given[0] == "coco_url_contains":
        text = rule["coco_url_contains"]
        if not isinstance(text, str) or not text:
            raise InputError(where, "subset", "coco_url_contains", "a non-empty string is required")
        return {im["id"] for im in images if text in str(im.get("coco_url", ""))}
    path = base / rule["image_ids_file"]
    want = rule.get("image_ids_sha256")
    if not want:
        raise InputError(where, "subset", "image_ids_sha256", f"missing: the id list {path} must be pinned by its sha256")
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != want:
        raise InputError(str(path), None, None, f"sha256 {got} differs from the recorded {want}: the id list was changed")
    ids = load_json(path)
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InputError(str(path), None, None, "expected a JSON list of integer image ids")
    known = {im["id"] for im in images}
    missing = [i for i in ids if i not in known]
    if missing:
        raise InputError(str(path), None, None, f"{len(missing)} image ids are not in the parent dataset (first: {missing[:5]})")
    return set(ids)


def subset_json(obj: dict, keep: set) -> dict:
    """The annotation dict with only the images in ``keep`` and their annotations."""
    out = dict(obj)
    out["images"] = [im for im in obj.get("images") or [] if im["id"] in keep]
    out["annotations"] = [a for a in obj.get("annotations") or [] if a.get("image_id") in keep]
    return out


def load_subset(name: str, entry: dict, annotations: Path, yaml_path: Path):
    """The Dataset of a ``subset_of`` entry, read from its parent's ``annotations`` file (resolved
    and checked present by :func:`bench.data.catalog.load_dataset`)."""
    import dataclasses

    from bench.data.coco import is_lvis, parse_gt
    from bench.jsonio import load_json

    obj = load_json(annotations)
    keep = select_images(obj, entry.get("subset") or {}, f"{yaml_path}: {name}", yaml_path.parent)
    sub = subset_json(obj, keep)
    ds = parse_gt(sub, str(annotations), "lvis" if is_lvis(sub) else "coco")
    return dataclasses.replace(ds, name=name)
