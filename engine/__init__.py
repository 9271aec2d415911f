"""hgpose engine: the Qt-free core of Stacked Hourglass pose estimation.

Importing this package is cheap: numpy only. torch, onnxruntime and tensorrt are imported by the
modules that need them (``engine.model``, ``engine.backends.*``, ``engine.gpu.*``,
``engine.export``).
"""

__version__ = "0.1.0"
