"""Widening a trained hourglass keeps its heatmaps exactly and leaves the new channels trainable."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.errors import ConfigError
from engine.metadata import HourglassConfig
from engine.model import build_model
from train.widen import deepen_state, widen_into

NARROW = HourglassConfig(num_stacks=2, width=16, num_joints=14, input_size=64, depth=3)


def _trained_like(config: HourglassConfig) -> torch.nn.Module:
    """A network with non-trivial weights and BatchNorm statistics, as training leaves them."""
    torch.manual_seed(0)
    model = build_model(config)
    for p in model.parameters():
        p.data.normal_(0.0, 0.2)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, config.input_size, config.input_size))
    return model


@pytest.mark.parametrize("width", [20, 32])
def test_the_wider_network_computes_the_same_heatmaps(width: int) -> None:
    narrow = _trained_like(NARROW)
    wide = build_model(dataclasses.replace(NARROW, width=width))
    widen_into(wide, narrow.state_dict())
    x = torch.randn(3, 3, 64, 64)
    for mode in ("eval", "train"):  # running statistics, then batch statistics
        narrow.train(mode == "train")
        wide.train(mode == "train")
        with torch.no_grad():
            for a, b in zip(narrow(x), wide(x), strict=True):  # every stack
                assert b.shape == a.shape == (3, 14, 16, 16)
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=mode)


def test_the_new_channels_carry_signal_and_the_zeroed_weights_learn() -> None:
    narrow = _trained_like(NARROW)
    wide = build_model(dataclasses.replace(NARROW, width=32))
    widen_into(wide, narrow.state_dict())
    head = wide.heads[-1].weight  # (K, width, 1, 1): inputs 16.. are new channels, zeroed
    assert torch.count_nonzero(head[:, 16:]) == 0
    wide.train()
    sum(o.square().mean() for o in wide(torch.randn(2, 3, 64, 64))).backward()
    assert head.grad is not None and head.grad[:, 16:].abs().sum() > 0


def test_only_a_wider_network_of_the_same_layers_fits() -> None:
    narrow = _trained_like(NARROW).state_dict()
    with pytest.raises(ConfigError, match="does not fit"):
        widen_into(build_model(dataclasses.replace(NARROW, width=8)), narrow)
    with pytest.raises(ConfigError, match="other layers"):
        widen_into(build_model(dataclasses.replace(NARROW, width=32, num_stacks=1)), narrow)


@pytest.mark.parametrize("stacks,width", [(3, 16), (4, 24)])
def test_a_deeper_network_computes_the_same_last_heatmaps(stacks: int, width: int) -> None:
    narrow = _trained_like(NARROW)
    deep = build_model(dataclasses.replace(NARROW, num_stacks=stacks, width=width))
    widen_into(deep, deepen_state(narrow.state_dict(), stacks))
    x = torch.randn(3, 3, 64, 64)
    for mode in ("eval", "train"):
        narrow.train(mode == "train")
        deep.train(mode == "train")
        with torch.no_grad():
            old, new = narrow(x), deep(x)
        assert len(new) == stacks
        torch.testing.assert_close(new[0], old[0], rtol=1e-5, atol=1e-6, msg=mode)
        for extra in new[1:]:  # the old last stack and every copy of it
            torch.testing.assert_close(extra, old[-1], rtol=1e-5, atol=1e-6, msg=mode)


def test_the_new_stack_learns_to_read_the_previous_one() -> None:
    narrow = _trained_like(NARROW)
    deep = build_model(dataclasses.replace(NARROW, num_stacks=3))
    widen_into(deep, deepen_state(narrow.state_dict(), 3))
    remap = deep.remap_heatmaps[1].weight  # stack 1's heatmaps into stack 2's input: zero at first
    assert torch.count_nonzero(remap) == 0
    deep.train()
    sum(o.square().mean() for o in deep(torch.randn(2, 3, 64, 64))).backward()
    assert remap.grad is not None and remap.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="cannot deepen"):
        deepen_state(deep.state_dict(), 2)
