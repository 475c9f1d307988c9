"""Compiled (C) fast paths: the results-JSON parser and the matching/accumulation kernels.

Optional at install time (``setup.py`` marks them so); each wrapper module says whether its
extension was built, and callers fall back to the numba implementations, which give the same
numbers. ``DETBENCH_NATIVE=0`` in the environment forces the numba path.
"""
