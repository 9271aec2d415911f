"""hgpose training: datasets, augmentation, heatmap targets, the training loop and PCK evaluation.

Imports ``engine``; never imported by it.
"""
