"""detbench: benchmarking and evaluation of object detectors.

The tree is the pipeline; imports run downward only (``tests/test_import_layers.py`` checks it)::

    bench.__main__ -> bench.cli                     the commands (arguments in, exit codes out)
      -> bench.run, bench.report                    one unit: predict, score, time; records -> HTML
      -> bench.analysis, bench.speed, bench.gate    analyses of the match table; timing; the CI gate
      -> bench.metrics, detectors                   the metric core; the detector adapters
      -> bench.data                                 datasets, results files, catalog, downloads
      -> bench.protocols, errors, jsonio, boxes, store, fmt, ov_splits, bench.masks, bench.native

The package is import-light on purpose: importing ``bench`` loads nothing heavy.
Scoring (``bench.metrics``) needs numpy and numba; models live in ``detectors``.
"""

__version__ = "0.1.0"
