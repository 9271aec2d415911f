"""Converting joints between skeletons (MPII16 and COCO17 to LSP14).

Each target joint is the mean of one or more source joints, labelled only when all of them are.
What is exact and what is approximate:

* The 12 limb joints (ankles, knees, hips, wrists, elbows, shoulders) exist in all three sets and
  map one to one. The annotation guides place some of them (hips above all) a little differently,
  so a mixed training set blurs those heatmaps slightly.
* MPII16 -> LSP14: ``neck`` <- MPII ``upper neck`` (approximate: the two datasets do not define the
  neck point identically; MPII's ``thorax`` is lower still); ``head top`` <- MPII ``head top``.
* COCO17 -> LSP14: ``neck`` <- midpoint of the two shoulders (approximate: it lies a little below
  LSP's neck); ``head top`` has no COCO counterpart, so it is left unlabelled (weight 0 in the loss,
  not counted by PCK).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.errors import ConfigError
from engine.skeleton import COCO17, LSP14, MPII16, Skeleton
from train.datasets.base import PoseSample


@dataclass(frozen=True)
class JointMap:
    """How to build each joint of ``target`` from joints of ``source``.

    Attributes:
        sources: one tuple of source joint indices per target joint; the target joint is their
            mean, labelled when all are labelled. An empty tuple leaves the joint unlabelled.
    """

    source: Skeleton
    target: Skeleton
    sources: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.sources) != self.target.num_joints:
            raise ValueError(f"{self.source.name}->{self.target.name}: {len(self.sources)} entries for "
                             f"{self.target.num_joints} joints")

    def apply(self, joints: np.ndarray) -> np.ndarray:
        """(K_source, 3) -> (K_target, 3) float32, same frame; unlabelled joints have x = y = 0."""
        out = np.zeros((self.target.num_joints, 3), dtype=np.float32)
        for t, src in enumerate(self.sources):
            if src and all(joints[s, 2] > 0 for s in src):
                out[t, :2] = joints[list(src), :2].mean(axis=0)
                out[t, 2] = 1.0
        return out


def _by_name(source: Skeleton, target: Skeleton, special: dict[str, tuple[str, ...]]) -> JointMap:
    """Same-named joints map one to one; ``special`` names the sources of the others."""
    sources = []
    for name in target.joints:
        names = special.get(name, (name,) if name in source.joints else ())
        sources.append(tuple(source.index(n) for n in names))
    return JointMap(source, target, tuple(sources))


MPII16_TO_LSP14 = _by_name(MPII16, LSP14, {"neck": ("upper neck",)})
COCO17_TO_LSP14 = _by_name(COCO17, LSP14, {"neck": ("L shoulder", "R shoulder"), "head top": ()})

_MAPS = {(m.source.name, m.target.name): m for m in (MPII16_TO_LSP14, COCO17_TO_LSP14)}


def joint_map(source: str, target: str) -> JointMap | None:
    """The map from skeleton ``source`` to ``target``; None when they are the same."""
    if source == target:
        return None
    try:
        return _MAPS[(source, target)]
    except KeyError:
        known = ", ".join(f"{a}->{b}" for a, b in _MAPS)
        raise ConfigError(f"no joint mapping from {source} to {target} (known: {known})") from None


def convert_samples(samples: list[PoseSample], source: str, target: str) -> list[PoseSample]:
    """Map every sample's joints to ``target``, dropping people left with no labelled joint.

    The crop boxes are kept: they come from the dataset's own person box, not from the joints.
    """
    mapping = joint_map(source, target)
    if mapping is None:
        return list(samples)
    out = []
    for s in samples:
        joints = mapping.apply(s.joints)
        if (joints[:, 2] > 0).any():
            out.append(replace(s, joints=joints))
    return out
