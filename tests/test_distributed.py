"""``torchrun --nproc-per-node 2`` on CPU (gloo): sharded predictions, gathered and scored
once by rank 0, give exactly the single-process metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")


def bench_run(launcher: list[str], out, env) -> dict:
    args = ["run", "--detector", "rtdetr_r50vd", "--weights", "random", "--detector-arg", "tiny=true",
            "--dataset", "synthetic-coco", "--max-images", "7", "--out", str(out)]  # fmt: skip
    proc = subprocess.run([*launcher, *args], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = out.iterdir()
    (unit,) = [p for p in run.iterdir() if p.is_dir()]
    return {"metrics": json.loads((unit / "metrics.json").read_text()), "record": json.loads((unit / "record.json").read_text()), "unit": unit}


def test_two_gloo_ranks_match_a_single_process(tmp_path):
    env = {**os.environ, "DETBENCH_CACHE": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    single = bench_run([sys.executable, "-m", "bench"], tmp_path / "single", env)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29531", "-m", "bench"]
    multi = bench_run(torchrun, tmp_path / "multi", env)
    assert multi["record"]["world_size"] == 2 and sorted(p.name for p in (multi["unit"] / "shards").iterdir()) == ["rank-0.json.gz", "rank-1.json.gz"]
    assert multi["metrics"]["metrics"] == single["metrics"]["metrics"]
    assert multi["metrics"]["per_class"] == single["metrics"]["per_class"]
    assert single["metrics"]["counts"]["detections"] > 0
