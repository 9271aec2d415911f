"""Torch datasets over decoded packs: augmentation and heatmap targets per sample."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.crop import normalise_batch
from engine.metadata import Normalisation
from engine.skeleton import get_skeleton
from train.augment import AugmentConfig, augment
from train.facing import BACK, facing
from train.pack import Pack
from train.targets import gaussian_heatmaps

# Joint names (lower case) of the lower half of the body for half-body views; the rest is the upper.
LOWER_BODY = ("hip", "knee", "ankle")


def body_halves(joints: tuple[str, ...] | list[str]) -> tuple[list[int], list[int]] | None:
    """(upper, lower) joint indices of a skeleton's joint names for half-body views (the hips go
    with the legs), or None when a half is empty."""
    lower = [i for i, n in enumerate(joints) if any(part in n.lower() for part in LOWER_BODY)]
    upper = [i for i in range(len(joints)) if i not in lower]
    return (upper, lower) if upper and lower else None


class PackDataset(Dataset):
    """Items: input (3, S, S) float32, target heatmaps (K, S/4, S/4), joint weights (K,), and
    joints (K, 3) in input pixels.

    With ``distill_weight > 0`` and a pack holding teacher keypoints, the targets are
    (2, K, S/4, S/4) and the weights (2, K): the labels' and the teacher's, the teacher's weights
    being its scores times ``distill_weight`` (see :func:`train.trainer.heatmap_loss`).
    With ``back_view_weight`` ≠ 1, the loss weights (the labels' and, with distillation, the
    teacher's) of the people the teacher sees from behind (:func:`train.facing.facing`) are
    scaled by it.

    Randomness comes from a generator seeded by (seed, epoch, index), so a resumed run sees exactly
    the same augmentations as an uninterrupted one, with any number of workers.
    """

    def __init__(self, pack: Pack, input_size: int, heatmap_size: int, augment_config: AugmentConfig,
                 normalisation: Normalisation, sigma: float = 1.0, seed: int = 0,
                 distill_weight: float = 0.0, back_view_weight: float = 1.0) -> None:
        self.pack = pack
        self.input_size = input_size
        self.heatmap_size = heatmap_size
        self.augment_config = augment_config
        self.norm = normalisation
        self.sigma = sigma
        self.seed = seed
        self.epoch = 0
        skeleton = get_skeleton(pack.info["skeleton"])
        self.flip_perm = skeleton.flip_permutation()
        self.halves = body_halves(skeleton.joints)
        self.distill_weight = distill_weight if pack.teacher is not None else 0.0
        # (N,) per-person loss weight; a person's facing survives every augmentation (train.facing).
        self.person_weight = np.ones(len(pack), dtype=np.float32)
        if pack.teacher is not None and back_view_weight != 1.0:
            self.person_weight[facing(pack.joints, pack.teacher) == BACK] = back_view_weight

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pack)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``item``: an index (augmented as in :meth:`set_epoch`'s epoch) or an (epoch, index) pair."""
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        rng = np.random.default_rng((self.seed, epoch, index))
        points, perm, k = self.pack.joints[index], self.flip_perm, len(self.flip_perm)
        if self.distill_weight > 0:
            # The teacher's keypoints ride along as K more joints, so one random view (and one
            # left/right swap on a mirror) applies to both sets.
            assert self.pack.teacher is not None
            points = np.concatenate([points, self.pack.teacher[index]])
            perm = (*perm, *(k + p for p in perm))
        crop, joints = augment(self.pack.images[index], points, self.pack.person_size,
                               self.input_size, perm, self.augment_config, rng, self.halves)
        x = normalise_batch(crop[None], self.norm)[0]
        if self.distill_weight > 0:
            labels, teacher = joints[:k], joints[k:]
            heat_l, w_l = gaussian_heatmaps(labels, self.input_size, self.heatmap_size, self.sigma)
            heat_t, w_t = gaussian_heatmaps(teacher, self.input_size, self.heatmap_size, self.sigma)
            w_t *= teacher[:, 2] * self.distill_weight
            weights = np.stack([w_l, w_t]) * self.person_weight[index]
            return (torch.from_numpy(x), torch.from_numpy(np.stack([heat_l, heat_t])),
                    torch.from_numpy(weights), torch.from_numpy(labels))
        heat, weights = gaussian_heatmaps(joints, self.input_size, self.heatmap_size, self.sigma)
        return (torch.from_numpy(x), torch.from_numpy(heat), torch.from_numpy(weights * self.person_weight[index]),
                torch.from_numpy(joints))
