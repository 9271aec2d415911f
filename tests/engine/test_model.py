import pytest

torch = pytest.importorskip("torch")

from engine.errors import ModelError  # noqa: E402
from engine.metadata import HourglassConfig  # noqa: E402
from engine.model import LastStack, build_model  # noqa: E402


@pytest.mark.parametrize("stacks", [1, 2, 8])
def test_every_stack_returns_heatmaps(stacks: int) -> None:
    config = HourglassConfig(num_stacks=stacks, width=16, num_joints=14, input_size=64)
    model = build_model(config).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert len(out) == stacks
    assert all(o.shape == (2, 14, 16, 16) for o in out)
    with torch.no_grad():
        last = LastStack(model)(torch.randn(1, 3, 64, 64))
    assert last.shape == (1, 14, 16, 16)


def test_paper_geometry_pools_down_to_4x4_at_256() -> None:
    model = build_model(HourglassConfig(num_stacks=1, width=32, input_size=256)).eval()
    sizes = []
    hook = model.hourglasses[0]
    while hasattr(hook, "low2"):
        hook.low1.register_forward_hook(lambda _m, _i, o: sizes.append(o.shape[-1]))
        hook = hook.low2
    with torch.no_grad():
        model(torch.randn(1, 3, 256, 256))
    assert sizes == [32, 16, 8, 4]


def test_no_filter_larger_than_3x3_inside_the_hourglass() -> None:
    model = build_model(HourglassConfig(num_stacks=2, width=16, input_size=64))
    for m in model.hourglasses.modules():
        if isinstance(m, torch.nn.Conv2d):
            assert max(m.kernel_size) <= 3


@pytest.mark.parametrize("kwargs", [{"num_stacks": 0}, {"num_stacks": 9}, {"input_size": 100},
                                    {"width": 6}, {"depth": 0}])
def test_bad_configs_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ModelError):
        HourglassConfig(**kwargs)
