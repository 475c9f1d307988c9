"""Defaults of the analyses (no imports: the command-line parser reads them)."""

RESAMPLES = 1000  # bootstrap resamples
CONFIDENCE = 0.95  # interval level
SEED = 0  # bootstrap seed
