"""Where weights come from, and a clear error when they cannot be had.

No torch import here: ``bench list`` uses these checks to show availability.

- torchvision checkpoints live in ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``).
- HF models live in the hub cache (``$HF_HUB_CACHE``, or ``$HF_HOME/hub``, default
  ``~/.cache/huggingface/hub``).
- Offline mode (``DETBENCH_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``): nothing is downloaded, a
  missing weight fails at once with the fix instead of waiting on the network.

Weights never execute code: every torch checkpoint is read with ``torch.load(weights_only=True)``
(``load_state_dict_file``), and a hub-cache checkpoint must also match the sha256 prefix in its
file name (``verified_state_dict``), as torchvision's ``check_hash`` demands of a download.
Failures raise ``WeightsRejected`` (a ``ValueError``, never a silent fallback to random weights).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import re
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


class WeightsRejected(ValueError):
    """A weights file is not what it must be: unreadable, not a plain state dict, a pickle that
    would run code, or a hub checkpoint whose content does not match the hash in its name."""


STATE_DICT_FORMAT = "a state dict saved with torch.save(model.state_dict(), path) (tensors only, no pickled objects)"
# torchvision / torch.hub checkpoint names: ``<name>-<sha256 prefix>.<ext>``, the prefix after the LAST '-'
HASH_PREFIX = re.compile(r"-([0-9a-f]{8,64})\.[^.-]+$")


def hash_prefix(path: str | os.PathLike) -> str | None:
    """The sha256 prefix that a hub checkpoint's file name promises (8 or more hex digits after its
    last '-'), or None when the name carries none."""
    m = HASH_PREFIX.search(Path(path).name)
    return m.group(1) if m else None


def load_state_dict_file(path: str | os.PathLike, data: bytes | None = None, expected: str = STATE_DICT_FORMAT) -> dict:
    """A state dict from ``path`` with ``torch.load(weights_only=True)``: tensors and plain containers
    only, no pickled object is ever constructed, so no code in the file can run. ``data``: the
    file's bytes when already read (hashed). ``{"model": state_dict}`` wrappers are unwrapped.
    WeightsRejected (naming the path and the expected format) for an empty, garbage, truncated or
    code-carrying file, or one that holds no dict of tensors."""
    import pickle

    import torch

    path = Path(path)
    try:
        if data is None:
            data = path.read_bytes()
    except OSError as e:
        raise WeightsRejected(f"{path}: cannot be read ({e}); expected {expected}") from e
    if not data:
        raise WeightsRejected(f"{path}: the file is empty; expected {expected}")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsRejected(
            f"{path}: refused: it is not a plain state dict; loading it would need full pickle, which can run arbitrary "
            f"code from the file ({str(e).splitlines()[0][:200]}). Expected {expected}"
        ) from e
    except Exception as e:  # truncated zip, garbage bytes, EOF, ...
        raise WeightsRejected(f"{path}: cannot be read as a torch checkpoint, it is corrupt or truncated "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); expected {expected}") from e
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsRejected(f"{path}: holds {type(state).__name__}, not a dict of tensors; expected {expected}")
    return state


def verified_state_dict(path: str | os.PathLike) -> dict:
    """A hub-cache checkpoint: its sha256 must start with the hex prefix in its file name (as
    torchvision's ``check_hash`` requires of a download), then ``load_state_dict_file``. The file
    is read once, so what is hashed is what is loaded."""
    path = Path(path)
    prefix = hash_prefix(path)
    if prefix is None:
        raise WeightsRejected(f"{path}: the file name carries no sha256 hash prefix ('<name>-<8+ hex>.pth'), "
                              f"so the cached file cannot be verified")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WeightsRejected(f"{path}: cannot be read ({e})") from e
    digest = hashlib.sha256(data).hexdigest()
    if not digest.startswith(prefix):
        raise WeightsRejected(
            f"{path}: sha256 {digest[:len(prefix)]}... does not match the hash prefix {prefix} in its file name: the cached file "
            f"is corrupt or was replaced. Delete it (it is downloaded again when the hub is reachable) or pass a state dict "
            f"you trust with --weights PATH"
        )
    return load_state_dict_file(path, data=data)


def download_checkpoint(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` with torch.hub (to a temporary file, hash-checked against the
    prefix in ``dest``'s name, then moved into place). Never loads it."""
    from torch.hub import download_url_to_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    with network_timeout():
        download_url_to_file(url, str(dest), hash_prefix=hash_prefix(dest), progress=False)
