"""Datasets and detections: the in-memory model, loaders and writers (COCO, LVIS, VOC, results
files), ground-truth and results inputs, the dataset catalog (``datasets.yaml``), subsets,
downloads, the synthetic generator and the embedded real dataset. A new dataset format goes here.

May import: bench.masks, bench.native and the bottom modules (errors, jsonio, protocols) only.
"""
