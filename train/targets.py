"""Gaussian heatmap targets at the network's output resolution."""

from __future__ import annotations

import numpy as np

from engine.crop import input_to_heatmap


def gaussian_heatmaps(joints: np.ndarray, input_size: int, heatmap_size: int,
                      sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Targets for one crop.

    Args:
        joints: (K, 3) in input-crop pixels; third column > 0 where the joint is labelled.
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        heatmaps (K, H, W) float32 with peak 1 at each joint (sub-pixel centred), and weights (K,)
        float32: 1 for labelled joints whose peak lies on the heatmap, 0 otherwise (masked in the loss).
    """
    k = len(joints)
    stride = input_size / heatmap_size
    centres = input_to_heatmap(joints[:, :2], stride)
    grid = np.arange(heatmap_size, dtype=np.float32)
    dx = grid[None, :] - centres[:, 0:1].astype(np.float32)  # (K, W)
    dy = grid[None, :] - centres[:, 1:2].astype(np.float32)  # (K, H)
    inv = 1.0 / (2.0 * sigma * sigma)
    # Separable: exp(-(dx^2 + dy^2)/2s^2) = exp(-dy^2/2s^2) exp(-dx^2/2s^2).
    heat = np.exp(-dy * dy * inv)[:, :, None] * np.exp(-dx * dx * inv)[:, None, :]
    inside = ((centres[:, 0] >= -0.5) & (centres[:, 0] <= heatmap_size - 0.5)
              & (centres[:, 1] >= -0.5) & (centres[:, 1] <= heatmap_size - 0.5))
    weights = ((joints[:, 2] > 0) & inside).astype(np.float32)
    heat *= weights[:, None, None]
    return heat.astype(np.float32).reshape(k, heatmap_size, heatmap_size), weights
