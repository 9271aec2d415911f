"""Inference backends behind one small interface (:class:`engine.backends.base.Backend`).

Use :func:`engine.backends.registry.open_backend`; it imports onnxruntime, torch or tensorrt only
for the backend it opens.
"""
