"""Scaling out with torch.distributed (``torchrun --nproc-per-node N -m bench all ...``).

Each rank predicts its shard of the images (``idx[rank::world]``) and writes it to the unit's
``shards/`` folder; after a barrier, rank 0 gathers the shards in image order and scores once,
so the metrics equal a single-process run. Without torchrun's environment this is a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init(device: str) -> str:
    """Join the process group when launched by torchrun; the device this rank uses."""
    rank, size = world()
    if size == 1:
        return device
    import torch.distributed as dist

    cuda = device.startswith("cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else device


def barrier() -> None:
    if world()[1] > 1:
        import torch.distributed as dist

        dist.barrier()


def write_shard(folder: Path, dets, kept, skipped) -> None:
    from bench.jsonio import dump_json

    rank = world()[0]
    dump_json(Path(folder) / "shards" / f"rank-{rank}.json.gz", {
        "kept": [int(i) for i in kept], "skipped": skipped,
        "dets": [{"boxes": d.boxes.tolist(), "scores": d.scores.tolist(), "labels": d.labels.tolist(), "masks": d.masks} for d in dets],
    }, indent=False)  # fmt: skip


def gather_shards(folder: Path, order):
    """All ranks' shards merged back into ``order`` (the single-process image order)."""
    from bench.jsonio import load_json
    from detectors.base import Detections

    by_image, skipped = {}, []
    for f in sorted((Path(folder) / "shards").glob("rank-*.json.gz")):
        shard = load_json(f)
        skipped += shard["skipped"]
        for i, d in zip(shard["kept"], shard["dets"]):
            by_image[i] = Detections(np.asarray(d["boxes"], np.float32).reshape(-1, 4), np.asarray(d["scores"], np.float32),
                                     np.asarray(d["labels"], np.int64), d.get("masks"))  # fmt: skip
    kept = [i for i in order if i in by_image]
    return [by_image[i] for i in kept], kept, skipped


def shared(value):
    """Rank 0's ``value`` on every rank (e.g. the run id)."""
    if world()[1] == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
