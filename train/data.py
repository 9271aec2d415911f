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
from train.teachers import FACE_FLIP

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
    With ``face_weight > 0`` and a pack holding face targets, the targets and weights gain
    F = 5 channels after the K joints' (in the labels' set; the teacher set's are weighted 0): the
    nose, eyes and ears (:data:`train.teachers.FACE_JOINTS`), each Gaussian as high as the
    teacher's score, every channel weighted ``face_weight`` (a face absent is a target too), or 0
    for a person without face targets. They train the trainer's auxiliary face heads.
    With ``back_view_weight`` ≠ 1, the loss weights (the labels' and, with distillation, the
    teacher's) of the people the teacher sees from behind (:func:`train.facing.facing`) are
    scaled by it.

    Randomness comes from a generator seeded by (seed, epoch, index), so a resumed run sees exactly
    the same augmentations as an uninterrupted one, with any number of workers.
    """

    def __init__(self, pack: Pack, input_size: int, heatmap_size: int, augment_config: AugmentConfig,
                 normalisation: Normalisation, sigma: float = 1.0, seed: int = 0,
                 distill_weight: float = 0.0, back_view_weight: float = 1.0, face_weight: float = 0.0) -> None:
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
        self.face_weight = face_weight if pack.face is not None else 0.0
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
        # The teacher's keypoints and the face targets ride along as more joints, so one random
        # view (and one left/right swap on a mirror) applies to every set.
        sets = [(points, perm)]
        if self.distill_weight > 0:
            assert self.pack.teacher is not None
            sets.append((self.pack.teacher[index], perm))
        if self.face_weight > 0:
            assert self.pack.face is not None
            sets.append((self.pack.face[index], FACE_FLIP))
        offsets = np.cumsum([0] + [len(p) for p, _ in sets])
        all_points = np.concatenate([p for p, _ in sets])
        all_perm = tuple(int(o) + i for (_, q), o in zip(sets, offsets, strict=False) for i in q)
        crop, joints = augment(self.pack.images[index], all_points, self.pack.person_size,
                               self.input_size, all_perm, self.augment_config, rng, self.halves)
        x = normalise_batch(crop[None], self.norm)[0]
        labels = joints[:k]
        heat, weights = gaussian_heatmaps(labels, self.input_size, self.heatmap_size, self.sigma)
        heats, ws = [heat], [weights]
        if self.distill_weight > 0:
            teacher = joints[k:2 * k]
            heat_t, w_t = gaussian_heatmaps(teacher, self.input_size, self.heatmap_size, self.sigma)
            heats.append(heat_t)
            ws.append(w_t * teacher[:, 2] * self.distill_weight)
        if self.face_weight > 0:
            heat_f, w_f = self._face_targets(joints[offsets[-2]:])
            heats[0], ws[0] = np.concatenate([heats[0], heat_f]), np.concatenate([ws[0], w_f])
            for i in range(1, len(heats)):  # the other sets have no face channels: weight 0
                heats[i] = np.concatenate([heats[i], np.zeros_like(heat_f)])
                ws[i] = np.concatenate([ws[i], np.zeros_like(w_f)])
        target, weight = (heats[0], ws[0]) if len(heats) == 1 else (np.stack(heats), np.stack(ws))
        return (torch.from_numpy(x), torch.from_numpy(target), torch.from_numpy(weight * self.person_weight[index]),
                torch.from_numpy(labels))

    def _face_targets(self, face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F, 3) augmented face points in input pixels -> heatmaps (F, H, W), each as high as its
        point's score, and weights (F,): ``face_weight``, or 0 for a person without face targets."""
        present = face[:, 2] >= 0
        heat, _ = gaussian_heatmaps(np.column_stack([face[:, :2], np.ones(len(face))]), self.input_size,
                                    self.heatmap_size, self.sigma)
        heat *= np.clip(face[:, 2], 0.0, 1.0)[:, None, None]
        return heat, np.where(present, self.face_weight, 0.0).astype(np.float32)
