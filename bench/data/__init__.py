"""Datasets and detections: in-memory model, loaders and writers, synthetic generator."""
