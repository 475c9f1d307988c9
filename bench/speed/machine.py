"""The machine's load while a figure is taken: who else used the CPUs, and at what clock.

:class:`LoadMeter` brackets a measurement: it reads ``/proc/stat`` (all CPUs' busy and idle time,
steal included) and ``/proc/self/stat`` (this process's CPU time, all threads) at start and stop.
``others_share`` is the share of the whole machine's CPU capacity that other processes (and the
hypervisor, as steal) used during the window: 0 on an otherwise idle machine, 1 when every core was
busy with other work. A window with ``others_share > BUSY_SHARE`` is "machine busy": its timings
are recorded but the gate does not judge them. Linux only; elsewhere every field is ``None`` and
the window is never called busy (the record says the load is unknown).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

BUSY_SHARE = 0.25  # other processes used more than a quarter of the machine: do not judge this window


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) clock ticks summed over all CPUs, or None without /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _self_jiffies() -> int | None:
    """This process's user + system clock ticks (all threads), or None."""
    try:
        stat = Path("/proc/self/stat").read_text()
        rest = stat[stat.rindex(")") + 2:].split()  # fields after "(comm)": state is rest[0], utime rest[11]
        return int(rest[11]) + int(rest[12])
    except (OSError, ValueError, IndexError):
        return None


def cpu_mhz() -> float | None:
    """Mean current clock of the CPUs (MHz) from /proc/cpuinfo, or None."""
    try:
        values = [float(line.split(":", 1)[1]) for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("cpu MHz")]
    except (OSError, ValueError):
        return None
    return sum(values) / len(values) if values else None


def snapshot() -> dict:
    """Load average (1, 5, 15 min), CPU count, usable CPUs (affinity), mean clock, torch threads."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    threads = None
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        pass
    return {"loadavg": load, "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cpu_mhz": cpu_mhz(), "torch_threads": threads}  # fmt: skip


PROBE_CPUS = 16  # the speed probe visits at most this many of the usable CPUs (spread evenly)
PROBE_REPEATS = 7
PROBE_PRODUCTS = 1000  # 48x48 float32 matrix products per timing, ~3.5 ms on one 2.6 GHz EPYC core


def _probe_data():
    import numpy as np

    return np.random.default_rng(0).standard_normal((48, 48)).astype(np.float32)


def _product_times(x, repeats: int, cpu: int | None, barrier=None) -> list[float]:
    """ms of ``repeats`` timings of :data:`PROBE_PRODUCTS` products ``x @ x`` in this thread, pinned
    to ``cpu`` (None: unpinned), after ``barrier``. A 48x48 product is below OpenBLAS's threading
    threshold (one thread each) and releases the GIL: the threads of the parallel pass run at once."""
    import numpy as np

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # pid 0: this thread only
    if barrier is not None:
        barrier.wait()
    out, times = np.empty_like(x), []
    for _ in range(repeats):
        t = time.perf_counter_ns()
        for _ in range(PROBE_PRODUCTS):
            np.dot(x, x, out=out)
        times.append((time.perf_counter_ns() - t) / 1e6)
    return times


def speed_probe(repeats: int = PROBE_REPEATS) -> dict:
    """How fast the CPUs run right now: a fixed compute kernel (1,000 products of a 48x48 float32
    matrix, ~3.5 ms: the fused multiply-adds that convolutions and matrix products spend their time
    in) timed ``repeats`` times on each usable CPU alone (this thread pinned to it, then its mask
    restored), then on all of them at once (one pinned thread per CPU). ``solo_ms`` /
    ``parallel_ms``: each CPU's median; ``slowest_ms``: the largest of them all, the figure the gate
    compares.

    The load figures cannot see everything that slows a machine: a hypervisor that co-schedules the
    virtual CPUs on one physical core's hyperthreads without reporting steal time, or a lowered
    clock. On this project's 2-core machine (a container in a VM, steal always 0) an unchanged
    2-thread ONNX model switched every few seconds between ~12.5 and ~20.5 ms per image with other
    processes at 0 % of the CPUs. A sort, alone or on both CPUs at once, ran at the same speed in
    both states; the parallel matrix products ran ~3x slower in the slow state (0.6-0.8 against
    2.3-2.5 ms per 200 products), so this kernel, on all CPUs at once, is the probe."""
    import threading

    import numpy as np

    x = _probe_data()
    mask = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") and hasattr(os, "sched_setaffinity") else None
    cpus = sorted(mask) if mask is not None else [None]
    if len(cpus) > PROBE_CPUS:
        cpus = [cpus[round(i * (len(cpus) - 1) / (PROBE_CPUS - 1))] for i in range(PROBE_CPUS)]
    try:
        solo = [float(np.median(_product_times(x, repeats, cpu))) for cpu in cpus]
    finally:
        if mask is not None:
            os.sched_setaffinity(0, mask)
    parallel: list[float] = []
    for _ in range(2 if len(cpus) > 1 else 0):  # twice: a slow state lasts seconds, a one-off hiccup spoils one pass
        barrier, out = threading.Barrier(len(cpus)), {}
        threads = [threading.Thread(target=lambda c, o, b: o.__setitem__(c, _product_times(x, repeats, c, b)), args=(c, out, barrier)) for c in cpus]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        this = [float(np.median(out[c])) for c in cpus]
        parallel = this if not parallel or max(this) < max(parallel) else parallel
    return {"slowest_ms": max(solo + parallel), "solo_ms": solo, "parallel_ms": parallel or None,
            "cpus": [c for c in cpus if c is not None] or None}


class LoadMeter:
    """``with LoadMeter() as m: ...`` then ``m.result``: the machine's state over the window.
    ``probe=True`` also times :func:`speed_probe` just before and just after the window
    (``result["probe_ms"]``: [before, after], its ``slowest_ms`` each time)."""

    def __init__(self, probe: bool = False):
        self.probe = probe

    def __enter__(self) -> "LoadMeter":
        first = speed_probe() if self.probe else None
        self.before = snapshot()
        self._cpu, self._self, self._t = _cpu_jiffies(), _self_jiffies(), time.perf_counter()
        self._probe = first
        self.result: dict = {}
        return self

    def __exit__(self, *exc) -> None:
        self.result = measure_window(self.before, self._cpu, self._self, self._t)
        if self._probe is not None:
            self.result["probe_ms"] = [self._probe["slowest_ms"], speed_probe()["slowest_ms"]]


def measure_window(before: dict, cpu0: tuple[int, int] | None, self0: int | None, t0: float) -> dict:
    """The window's load record: ``others_share`` (0..1 of the machine), ``self_share``, ``busy``
    (``others_share > BUSY_SHARE``), seconds, and the snapshots before and after."""
    cpu1, self1, after = _cpu_jiffies(), _self_jiffies(), snapshot()
    out = {"seconds": time.perf_counter() - t0, "before": before, "after": after, "others_share": None, "self_share": None,
           "busy": False, "busy_threshold": BUSY_SHARE}  # fmt: skip
    if cpu0 is None or cpu1 is None or self0 is None or self1 is None:
        out["note"] = "load unknown (no /proc): never called busy"
        return out
    total = cpu1[1] - cpu0[1]
    if total <= 0:  # a window shorter than one clock tick
        out["note"] = "window shorter than a clock tick: load not measured"
        return out
    mine = self1 - self0
    others = max(0, (cpu1[0] - cpu0[0]) - mine)
    out["others_share"], out["self_share"] = others / total, mine / total
    out["busy"] = out["others_share"] > BUSY_SHARE
    return out
