"""Instance masks as run-length encodings: the RLE codec (``rle``: COCO's compressed strings,
packing, polygons via ``poly``) and its numba kernels (``kernels``: IoU, merge, area).

May import: numpy, numba (lazily: the numba kernels) and bench.native (the C kernels); nothing else of detbench.
"""
