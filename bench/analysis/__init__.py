"""Analysis of scored results, read from the metric core's per-detection match table: bootstrap
intervals, paired tests, TIDE, confusion, explain (why tools disagree), the linter, operating
points; ``unit`` is the per-unit hook the run engine calls. A new analysis goes here.

May import: bench.metrics, bench.data and the bottom modules; never bench.run, bench.report or bench.cli.
"""
