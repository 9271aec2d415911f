import pytest

from engine.errors import ModelError
from engine.skeleton import COCO17, LSP14, MPII16, SKELETONS, Skeleton, get_skeleton


@pytest.mark.parametrize("skel", list(SKELETONS.values()), ids=list(SKELETONS))
def test_flip_is_an_involution_that_swaps_sides(skel: Skeleton) -> None:
    perm = skel.flip_permutation()
    assert sorted(perm) == list(range(skel.num_joints))
    assert tuple(perm[perm[i]] for i in range(skel.num_joints)) == tuple(range(skel.num_joints))
    for i, j in enumerate(perm):
        a, b = skel.joint_side(i), skel.joint_side(j)
        # A mirror maps left to right and right to left; centre joints stay put.
        assert {a, b} == {"left", "right"} or (a == b == "centre" and i == j)


def test_known_joint_sets() -> None:
    assert (LSP14.num_joints, MPII16.num_joints, COCO17.num_joints) == (14, 16, 17)
    assert LSP14.flip_permutation()[LSP14.index("R ankle")] == LSP14.index("L ankle")
    assert COCO17.flip_permutation()[COCO17.index("nose")] == COCO17.index("nose")


def test_limb_colours_follow_the_side() -> None:
    left_shin = (LSP14.index("L knee"), LSP14.index("L ankle"))
    right_shin = (LSP14.index("R knee"), LSP14.index("R ankle"))
    neck_head = (LSP14.index("neck"), LSP14.index("head top"))
    colours = {LSP14.limb_colour(left_shin), LSP14.limb_colour(right_shin), LSP14.limb_colour(neck_head)}
    assert len(colours) == 3


def test_invalid_skeletons_are_rejected() -> None:
    with pytest.raises(ValueError):
        Skeleton("bad", ("a", "b"), limbs=((0, 2),), flip_pairs=())
    with pytest.raises(ValueError):
        Skeleton("bad", ("l a", "r a", "c"), limbs=(), flip_pairs=((0, 1), (1, 2)))
    with pytest.raises(ModelError, match="unknown skeleton"):
        get_skeleton("nope")
