"""Where weights come from, and a clear error when they cannot be had.

No torch import here: ``bench list`` uses these checks to show availability.

- torchvision checkpoints live in ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``).
- HF models live in the hub cache (``$HF_HUB_CACHE``, or ``$HF_HOME/hub``, default
  ``~/.cache/huggingface/hub``).
- Offline mode (``DETBENCH_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``): nothing is downloaded, a
  missing weight fails at once with the fix instead of waiting on the network.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from pathlib import Path

from detectors.base import WeightsUnavailable

DOWNLOAD_TIMEOUT_S = 20.0
HOSTS = {"torchvision": "download.pytorch.org", "hf": "huggingface.co", "ultralytics": "github.com"}


def offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes") for v in ("DETBENCH_OFFLINE", "HF_HUB_OFFLINE"))


def torch_checkpoint_dir() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(home) / "hub" / "checkpoints"


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home) / "hub"


def hf_cached(repo_id: str) -> bool:
    """Whether the hub cache holds a snapshot of ``repo_id`` with its config."""
    snaps = hf_cache_dir() / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    return snaps.is_dir() and any((s / "config.json").exists() for s in snaps.iterdir())


def is_local(weights: str | None) -> bool:
    return bool(weights) and weights != "random" and Path(str(weights)).exists()


def unavailable(what: str, detector: str, cause: object, cache: Path, local_hint: str) -> WeightsUnavailable:
    """The error for weights that are neither cached nor downloadable."""
    return WeightsUnavailable(
        f"{detector}: weights {what} are not on this machine and could not be downloaded ({cause}). "
        f"Fixes: pass a local copy with --weights PATH ({local_hint}); or copy a cache that holds them to {cache} "
        f"(set TORCH_HOME / HF_HOME to point elsewhere); or run with --weights random to measure speed only "
        f"(its accuracy is not meaningful). Set DETBENCH_OFFLINE=1 to fail fast without trying the network."
    )


@contextlib.contextmanager
def network_timeout(seconds: float = DOWNLOAD_TIMEOUT_S):
    """Bound every socket operation so that an unreachable hub never hangs a run."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


@functools.lru_cache(maxsize=None)
def reachable(host: str, timeout: float = 2.0) -> bool:
    """Whether ``host``:443 accepts a TCP connection within ``timeout`` seconds (never in
    offline mode). Checked before any download so that libraries' retry loops never start."""
    if offline():
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def require_hub(hub: str) -> str | None:
    """None when downloads from ``hub`` may be tried, else the reason they may not."""
    if offline():
        return "offline mode, not cached"
    host = HOSTS[hub]
    return None if reachable(host) else f"not cached, and {host} is unreachable"
