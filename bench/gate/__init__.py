"""The CI gate: a run compared with a stored baseline (``check``: accuracy within tolerance; ``speed``:
latency intervals compared, a busy machine or other hardware not judged), and the statistical mode
(``statistical``: a paired bootstrap over images).

May import: bench.analysis, bench.speed, bench.metrics, bench.data and the bottom modules; never
bench.run, bench.report or bench.cli.
"""
