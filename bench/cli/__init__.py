"""The command line, kept at the edge: one module per command family, arguments in, exit codes out.

``main`` (the parser and every command's dispatch), ``args`` (checks shared by the run commands),
``run`` (``bench run`` / ``bench speed``), ``run_all`` (``bench all``), ``analysis`` and ``explain``
(the analysis options of ``bench eval`` / ``bench check`` and ``bench explain``).

May import: everything below it (bench.run, bench.report, bench.gate, bench.analysis, bench.speed,
bench.metrics, bench.data, detectors, the bottom modules). Nothing imports bench.cli but ``bench.__main__``.
"""
