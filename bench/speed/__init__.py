"""Timing: clocks, warm-up and sampling (``timing``), the speed measurement of a detector and its
modes (``measure``), the MLPerf-style scenarios (``scenarios``: single-stream, offline, server) and
their statistics (``stats``: order-statistic intervals, MLPerf early stopping), the machine's state
recorded beside every figure (``environment``; ``machine``: load over a timing window), A/B timing
interleaved in one process (``interleaved``), and the reference workload (``reference``, recorded
for a reader, never divided by). A new speed scenario goes here.

May import: bench.metrics (which kernels score), detectors (image ops), the bottom modules; never
bench.run, bench.report or bench.cli.
"""
