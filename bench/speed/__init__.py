"""Timing: clocks, warm-up and sampling (``timing``), the speed measurement of a detector and its
modes (``measure``), the machine's state recorded beside every figure (``environment``), and the
reference workload (``reference``). A new speed scenario goes here.

May import: bench.metrics (which kernels score), detectors (image ops), the bottom modules; never
bench.run, bench.report or bench.cli.
"""
