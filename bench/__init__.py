"""detbench: benchmarking and evaluation of object detectors.

The package is import-light on purpose: importing ``bench`` loads nothing heavy.
Scoring (``bench.metrics``) needs numpy and numba; models live in ``detectors``.
"""

__version__ = "0.1.0"
