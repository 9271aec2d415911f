"""Dataset loaders. Each returns :class:`train.datasets.base.PoseSample` records (image path, joints
(K, 3) in image pixels with a labelled flag, and the person crop box: centre and side).

``lsp`` (LSP and LSPET ``joints.mat``), ``mpii`` (official ``.mat`` and JSON conversions), ``coco``
(person keypoints JSON); ``mapping`` converts MPII16 and COCO17 joints to LSP14.
"""
