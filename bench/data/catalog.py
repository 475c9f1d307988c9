"""Dataset names: the built-in synthetic ones and the entries of ``datasets.yaml``.

``load_dataset(name)`` returns ``(Dataset, image folder, protocol name)``. Built-in names are
``synthetic-coco``, ``synthetic-lvis`` and ``synthetic-voc``, generated into the cache on first
use (``~/.cache/detbench`` or ``$DETBENCH_CACHE``) and read back through the normal loaders.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

BUILTIN = {"synthetic-coco": ("coco", "coco"), "synthetic-lvis": ("lvis", "lvis"), "synthetic-voc": ("voc", "voc07")}
DEFAULT_YAML = Path(__file__).resolve().parent / "datasets.yaml"  # shipped in the package


def cache_dir(override: str | None = None) -> Path:
    root = override or os.environ.get("DETBENCH_CACHE") or Path.home() / ".cache" / "detbench"
    return Path(root)


def prepare_synthetic(layout: str, cache: Path):
    """Generate (once) and load the built-in dataset in ``layout``."""
    from bench.data.coco import load_coco, load_lvis
    from bench.data.synthetic import VERSION, SyntheticSpec, write
    from bench.data.voc import load_voc

    spec = SyntheticSpec(layout=layout)
    folder = cache / f"synthetic-{layout}-s{spec.seed}-n{spec.num_images}-v{VERSION}"
    done = folder / ".complete"
    if not done.exists():
        path = write(spec, folder)
        done.write_text(str(path.relative_to(folder)))
    path = folder / done.read_text().strip()
    return {"coco": load_coco, "lvis": load_lvis, "voc": load_voc}[layout](path, name=folder.name)


def yaml_entries(path: Path = DEFAULT_YAML) -> dict:
    import yaml

    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return dict(data.get("datasets") or {})


def names(path: Path = DEFAULT_YAML) -> list[str]:
    return [*BUILTIN, *yaml_entries(path)]


def entry_root(name: str, entry: dict, cache: str | None = None, path: Path = DEFAULT_YAML) -> Path:
    """The folder an entry's ``annotations`` and ``images`` are relative to: its download folder
    in the cache for downloadable entries, else the folder of ``datasets.yaml``."""
    from bench.data.download import dataset_folder, download_files

    return dataset_folder(name, cache_dir(cache)) if download_files(entry) else path.parent


def present(name: str, entry: dict, cache: str | None = None, path: Path = DEFAULT_YAML) -> bool:
    """Whether a ``datasets.yaml`` entry can be loaded now (downloaded and ready, or on disk)."""
    from bench.data.download import download_files, is_ready

    if entry.get("subset_of"):
        parents = yaml_entries(path)
        return entry["subset_of"] in parents and present(entry["subset_of"], parents[entry["subset_of"]], cache, path)
    if download_files(entry):
        return is_ready(name, cache_dir(cache))
    return (entry_root(name, entry, cache, path) / entry["annotations"]).exists()


def load_dataset(name: str, cache: str | None = None, path: Path = DEFAULT_YAML):
    """(Dataset, image folder, protocol name) for a built-in or ``datasets.yaml`` name."""
    from bench.data.images import image_root

    if name in BUILTIN:
        layout, protocol = BUILTIN[name]
        ds = prepare_synthetic(layout, cache_dir(cache))
        return ds, image_root(ds), protocol
    entries = yaml_entries(path)
    if name not in entries:
        close = difflib.get_close_matches(name, names(path), n=5)
        raise KeyError(f"unknown dataset {name!r}; " + (f"did you mean: {', '.join(close)}?" if close else f"known: {', '.join(names(path))}"))
    e = entries[name]
    if e.get("subset_of"):  # e.g. LVIS minival: an image subset of the downloaded parent
        from bench.data.subsets import load_subset
        from bench.errors import InputError

        parent_name = e["subset_of"]
        if parent_name not in entries or entries[parent_name].get("subset_of"):
            raise InputError(str(path), name, "subset_of", f"{parent_name!r} is not a dataset entry (one level of subsets only)")
        parent = entries[parent_name]
        if not present(parent_name, parent, cache, path):
            raise FileNotFoundError(f"dataset {name} is a subset of {parent_name}, which is not downloaded; run: python -m bench download {parent_name}")
        root = entry_root(parent_name, parent, cache, path)
        ds = load_subset(name, e, root / parent["annotations"], path)
        return ds, root / parent["images"], e.get("protocol") or parent.get("protocol") or ds.format
    from bench.data.inputs import load_ground_truth

    root = entry_root(name, e, cache, path)
    ann = root / e["annotations"]
    from bench.data.download import download_files

    if download_files(e) and not present(name, e, cache, path):
        raise FileNotFoundError(f"dataset {name} is not downloaded (or the download did not finish); run: python -m bench download {name}")
    if not ann.exists():
        raise FileNotFoundError(f"dataset {name}: {ann} is missing" + (f"; run: python -m bench download {name}" if download_files(e) else ""))
    import dataclasses

    ds = dataclasses.replace(load_ground_truth(str(ann), e.get("split")), name=name)  # records name the registered dataset
    return ds, root / e["images"], e.get("protocol") or ds.format
