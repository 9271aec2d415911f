"""Dataset loaders. Each returns :class:`train.datasets.base.PoseSample` records."""
