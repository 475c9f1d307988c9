"""The metric core: match once per (image, category), derive every number from the matches.

``core`` (evaluate), ``result`` (summaries, per-class AP), ``curves`` (PR curves, best F1),
``groups`` (category subsets), ``mask_iou`` (the only thing masks change), ``kernels`` (numba)
and ``backend`` (C or numba), ``files`` (score a results file). A new protocol is data in
:mod:`bench.protocols`, not code here.

May import: bench.data, bench.masks, bench.native and the bottom modules (protocols, errors, jsonio).
"""
