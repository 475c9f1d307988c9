"""One unit of a benchmark run: a detector on a dataset, from images to a stored record.

``unit`` (settings, ``begin_run``, ``run_unit``: predict, score, analyse, time), ``loader`` (image
decoding in workers), ``inference`` (detections -> the core's table, scoring), ``sanity``
(degenerate-prediction checks), ``iou_types`` (box / mask AP per unit), ``open_vocab`` (prompts),
``suites`` (several datasets as one), ``distributed`` (torchrun sharding), ``refexp``.

May import: bench.analysis, bench.speed, bench.gate, bench.metrics, bench.data, detectors and the
bottom modules; never bench.cli or bench.report.
"""
