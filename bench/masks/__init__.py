"""Instance masks as run-length encodings: the RLE codec (``rle``: COCO's compressed strings,
packing, polygons via ``poly``) and its numba kernels (``kernels``: IoU, merge, area).

May import: numpy and numba only; nothing else of detbench (it sits at the bottom of the stack).
"""
