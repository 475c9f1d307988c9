"""The report: records on disk -> ``reports/<run-id>/index.html`` (+ leaderboard CSV/MD). A new
report section goes here.

May import: bench.gate, bench.analysis (constants and names), the bottom modules; never bench.run or bench.cli.
"""
