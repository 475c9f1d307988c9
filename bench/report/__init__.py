"""The report: records on disk -> ``reports/<run-id>/index.html`` (+ leaderboard CSV/MD). A new
report section goes here.

``render`` (the page and the comparison page) puts together ``sections`` (one dataset: the
leaderboard's column groups, charts, per-detector blocks), ``pick`` (speed/accuracy chart, Pareto
front, best AP under a budget), ``figures`` and ``curves`` (plotly specs; PR curves thinned to
their corners), ``analysis``, ``explain``, ``provenance`` (environment, units, "Not run"),
``tables`` (the leaderboard DataFrame), ``ov_columns`` and ``fmt``. docs/report.md describes the page.

May import: bench.gate, bench.analysis (constants and names), bench.metrics, detectors (the
registry's published AP, availability), the bottom modules; never bench.run or bench.cli.
"""
