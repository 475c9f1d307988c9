"""Detector adapters behind one ``predict`` interface (see ``detectors/registry.py``).

Heavy libraries (torch, transformers, onnxruntime) are imported only inside the adapter
modules, when a detector is built; importing this package loads nothing.
"""
