"""Defaults of the analyses (no imports: the command-line parser reads them)."""

RESAMPLES = 1000  # bootstrap resamples
CONFIDENCE = 0.95  # interval level
SEED = 0  # bootstrap seed
MAX_RESAMPLES = 100_000  # --bootstrap / --resamples above this are refused (time; memory stays bounded by blocks)
BLOCK_CELLS = 1 << 22  # resamples are drawn and scored in blocks of at most this many (resample, image) cells
