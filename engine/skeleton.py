"""Skeleton definitions as data: joint names, limbs, left/right flip pairs and colours.

Joint indices are the channel order of the heatmaps (N, K, H, W) that a model produces. Left and
right are person-centric, as in the LSP, MPII and COCO annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import ModelError

# BGR colours, so they can be handed to OpenCV drawing directly; Qt code converts.
RIGHT_COLOUR = (60, 76, 231)  # red-ish: the person's right side
LEFT_COLOUR = (219, 152, 52)  # blue-ish: the person's left side
CENTRE_COLOUR = (113, 204, 46)  # green: head, neck, spine
_SIDE_COLOURS = {"left": LEFT_COLOUR, "right": RIGHT_COLOUR, "centre": CENTRE_COLOUR}


def _side_of(joint_name: str) -> str:
    low = joint_name.lower()
    if low.startswith(("l ", "left")):
        return "left"
    if low.startswith(("r ", "right")):
        return "right"
    return "centre"


@dataclass(frozen=True)
class Skeleton:
    """A joint set.

    Attributes:
        name: registry key, stored in model metadata (e.g. ``"lsp14"``).
        joints: joint names; index i is heatmap channel i.
        limbs: pairs of joint indices drawn as bones.
        flip_pairs: (left, right) joint index pairs swapped by a horizontal flip.
        angles: named joint angles (a, vertex, b) for sports analysis, in degrees at ``vertex``.
    """

    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    angles: tuple[tuple[str, int, int, int], ...] = ()
    _sides: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        k = len(self.joints)
        for a, b in (*self.limbs, *self.flip_pairs):
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"{self.name}: joint index out of range in pair ({a}, {b})")
        seen = [j for pair in self.flip_pairs for j in pair]
        if len(seen) != len(set(seen)):
            raise ValueError(f"{self.name}: a joint appears in two flip pairs")
        object.__setattr__(self, "_sides", tuple(_side_of(n) for n in self.joints))

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def flip_permutation(self) -> tuple[int, ...]:
        """Channel permutation p so that ``flipped[p[i]]`` holds joint i after a mirror.

        Applying it twice is the identity (an involution).
        """
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return tuple(perm)

    def joint_side(self, index: int) -> str:
        """``"left"``, ``"right"`` or ``"centre"`` for joint ``index``."""
        return self._sides[index]

    def limb_colour(self, limb: tuple[int, int]) -> tuple[int, int, int]:
        """BGR colour of a limb: by the side of its joints, centre if they disagree."""
        sa, sb = self.joint_side(limb[0]), self.joint_side(limb[1])
        return _SIDE_COLOURS[sa if sa == sb else "centre"]

    def joint_colour(self, index: int) -> tuple[int, int, int]:
        return _SIDE_COLOURS[self.joint_side(index)]

    def index(self, joint: str) -> int:
        return self.joints.index(joint)


LSP14 = Skeleton(
    name="lsp14",
    joints=(
        "R ankle", "R knee", "R hip", "L hip", "L knee", "L ankle",
        "R wrist", "R elbow", "R shoulder", "L shoulder", "L elbow", "L wrist",
        "neck", "head top",
    ),
    limbs=(
        (0, 1), (1, 2), (3, 4), (4, 5), (2, 3),
        (6, 7), (7, 8), (9, 10), (10, 11), (8, 9),
        (8, 2), (9, 3), (12, 13), (8, 12), (9, 12),
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
    angles=(
        ("R knee", 2, 1, 0), ("L knee", 3, 4, 5),
        ("R elbow", 8, 7, 6), ("L elbow", 9, 10, 11),
        ("R hip", 8, 2, 1), ("L hip", 9, 3, 4),
        ("R shoulder", 2, 8, 7), ("L shoulder", 3, 9, 10),
    ),
)

# The LSP joints that other common skeletons (COCO's, BlazePose's) define as LSP does: their hips
# sit higher, and they have no neck or head top. Teacher supervision and `hgpose compare` use these.
COMMON_JOINTS = ("R ankle", "R knee", "L knee", "L ankle", "R wrist", "R elbow", "R shoulder", "L shoulder",
                 "L elbow", "L wrist")

MPII16 = Skeleton(
    name="mpii16",
    joints=(
        "R ankle", "R knee", "R hip", "L hip", "L knee", "L ankle",
        "pelvis", "thorax", "upper neck", "head top",
        "R wrist", "R elbow", "R shoulder", "L shoulder", "L elbow", "L wrist",
    ),
    limbs=(
        (0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
        (10, 11), (11, 12), (12, 7), (13, 7), (13, 14), (14, 15),
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    angles=(
        ("R knee", 2, 1, 0), ("L knee", 3, 4, 5),
        ("R elbow", 12, 11, 10), ("L elbow", 13, 14, 15),
        ("R hip", 12, 2, 1), ("L hip", 13, 3, 4),
        ("R shoulder", 2, 12, 11), ("L shoulder", 3, 13, 14),
    ),
)

COCO17 = Skeleton(
    name="coco17",
    joints=(
        "nose", "L eye", "R eye", "L ear", "R ear",
        "L shoulder", "R shoulder", "L elbow", "R elbow", "L wrist", "R wrist",
        "L hip", "R hip", "L knee", "R knee", "L ankle", "R ankle",
    ),
    limbs=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
        (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    angles=(
        ("R knee", 12, 14, 16), ("L knee", 11, 13, 15),
        ("R elbow", 6, 8, 10), ("L elbow", 5, 7, 9),
        ("R hip", 6, 12, 14), ("L hip", 5, 11, 13),
        ("R shoulder", 12, 6, 8), ("L shoulder", 11, 5, 7),
    ),
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (LSP14, MPII16, COCO17)}


def get_skeleton(name: str) -> Skeleton:
    """Look a skeleton up by its registry name; raises ``ModelError`` for an unknown one."""
    try:
        return SKELETONS[name]
    except KeyError:
        known = ", ".join(sorted(SKELETONS))
        raise ModelError(f"unknown skeleton {name!r} (known: {known})") from None
