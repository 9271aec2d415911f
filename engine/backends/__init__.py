"""Inference backends behind one small interface (:class:`engine.backends.base.Backend`).

The CPU backends live here (ONNX Runtime, PyTorch); the GPU ones (torch-cuda, TensorRT) live in
``engine.gpu``. Use :func:`engine.backends.registry.open_backend`; it imports onnxruntime, torch or
tensorrt only for the backend it opens.
"""
