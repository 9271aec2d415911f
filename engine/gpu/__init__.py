"""The GPU path, in one place: everything that runs on a CUDA device or builds for one.

- ``ops``: torch versions of crop, normalisation and heatmap decoding (parity-tested on the CPU).
- ``device_estimate``, ``device_backend``: ``Backend.estimate`` with those steps on the device,
  shared by both GPU backends; ``cuda_graphs``: CUDA graphs keyed by input shape.
- ``torch_cuda_backend``: a checkpoint on CUDA (FP16, channels_last, CUDA graphs).
- ``tensorrt_backend``: a TensorRT engine; ``tensorrt_build`` builds one from an FP16 ONNX export;
  ``tensorrt_support`` detects the runtime; ``engine_sidecar`` checks an engine against this
  machine and its model before loading it.

Importing this package imports nothing heavy: torch and tensorrt load only with the modules that
need them, which ``engine.backends.registry`` and ``hgpose build-engine`` import on demand.
"""
