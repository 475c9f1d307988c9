"""Status codes of a detection at one (area range, IoU threshold), shared by every kernel
(numba, C) and every reader of the match table: 0 false positive, 1 true positive, 2 ignored
(counts as neither). ``EPS`` is pycocotools' ``np.spacing(1)`` in its precision denominator."""

FP, TP, IGNORED = 0, 1, 2
EPS = 2.220446049250313e-16  # np.spacing(1.0)
