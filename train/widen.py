"""Start a wider or deeper hourglass from a trained smaller one without losing what it learnt
(needs torch).

Net2WiderNet-style widening (Chen, Goodfellow and Shlens, "Net2Net", ICLR 2016), in its simplest
exact form: every channel count in ``engine.model`` is derived from the width, and each of the
narrow network's channels becomes the *leading* channel of the same name in the wide one. The new
channels keep their fresh random initialisation, and every weight that reads a new channel into an
old one is set to zero. The old channels therefore never see the new ones: the wide network computes
exactly the narrow one's heatmaps (in training and in evaluation mode, since BatchNorm statistics
are per channel), and training then spends the extra capacity from the narrow model's accuracy
rather than from scratch. Gradients reach the zeroed weights because the new channels carry signal.
More stacks are added the same way (:func:`deepen_state`): a copy of the last stack, fed through
zeroed remaps, computes the same heatmaps.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from engine.errors import ConfigError
from engine.model import StackedHourglass


def widen_into(model: StackedHourglass, narrow: Mapping[str, Tensor]) -> None:
    """Load the narrower state dict ``narrow`` into the wider ``model`` in place, function-preserving.

    Both must be the same architecture apart from the width (stacks, depth and joints equal); the
    input size does not enter the weights. Conv weights are (out, in, kh, kw); the narrow tensor
    fills the leading corner and the block (old outputs, new inputs) is zeroed.
    """
    wide = model.state_dict()
    narrow = _with_identity_skips(narrow, set(wide))
    for name in set(wide) & set(narrow):  # first, so that a narrower target is named as such
        source, target = narrow[name], wide[name]
        if source.dim() != target.dim() or any(s > t for s, t in zip(source.shape, target.shape, strict=True)):
            raise ConfigError(f"{name}: {tuple(source.shape)} does not fit into {tuple(target.shape)}")
    if set(wide) != set(narrow):
        raise ConfigError("the narrower network has other layers (stacks, depth or joints differ)")
    widened = {}
    for name, fresh in wide.items():
        source, value = narrow[name], fresh.clone()
        value[tuple(slice(0, s) for s in source.shape)] = source
        if value.dim() == 4:
            value[: source.shape[0], source.shape[1]:] = 0.0
        widened[name] = value
    model.load_state_dict(widened)


def _with_identity_skips(narrow: Mapping[str, Tensor], wide_keys: set[str]) -> dict[str, Tensor]:
    """``narrow`` with its identity skips written as the 1x1 convolutions the wide network has.

    The stem's channel counts are clamped at 8 (``engine.model``), so a residual whose input and
    output widths are equal when narrow (skip = identity, no weights) can differ when wide (skip =
    1x1 conv). An identity matrix with zero bias is that identity, and widens like any weight.
    """
    out = dict(narrow)
    for key in wide_keys - set(narrow):
        prefix, _, leaf = key.rpartition(".skip.")
        residual_out = narrow.get(f"{prefix}.conv3.weight")
        if leaf not in ("weight", "bias") or residual_out is None:
            continue  # a genuinely different layer: the caller's key check reports it
        channels = residual_out.shape[0]
        eye = torch.eye(channels, dtype=residual_out.dtype).reshape(channels, channels, 1, 1)
        out[key] = eye if leaf == "weight" else torch.zeros(channels, dtype=residual_out.dtype)
    return out


def deepen_state(state: Mapping[str, Tensor], stacks: int) -> dict[str, Tensor]:
    """``state`` (a trained hourglass's state dict) grown to ``stacks`` stacks, function-preserving.

    Net2DeeperNet in the stacked hourglass's own terms: every new stack is a copy of the last one
    (hourglass, features and head), and the remap convolutions that would feed the old last stack's
    features and heatmaps into the next one start at zero. The new stack then reads the same input
    as the old last one did and, with its weights, computes the same heatmaps, so the deeper network
    starts from the trained one's accuracy; the zeroed remaps learn (their inputs carry signal) and
    let each extra stack refine the previous stack's prediction, as the paper's later stacks do.
    Every stack stays supervised (intermediate supervision). The two new remap biases add into one
    sum, so they get the same gradient and stay equal through training (``engine.export`` gives
    each its own tensor in the ONNX file, or INT8 would leave one convolution in float).
    """
    old = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("hourglasses."))
    if stacks < old:
        raise ConfigError(f"cannot deepen {old} stacks into {stacks}")
    out = dict(state)
    last = old - 1
    head = state[f"heads.{last}.weight"]  # (K, width, 1, 1)
    heat_channels, width = head.shape[:2]
    for j in range(old, stacks):
        for part in ("hourglasses", "features", "heads"):
            prefix = f"{part}.{last}."
            for k, v in state.items():
                if k.startswith(prefix):
                    out[f"{part}.{j}.{k[len(prefix):]}"] = v.clone()
        # remap_*.{j-1} carry stack j-1's output into stack j's input: nothing at first.
        for part, inputs in (("remap_features", width), ("remap_heatmaps", heat_channels)):
            out[f"{part}.{j - 1}.weight"] = torch.zeros(width, inputs, 1, 1, dtype=head.dtype)
            out[f"{part}.{j - 1}.bias"] = torch.zeros(width, dtype=head.dtype)
    return out


__all__ = ["deepen_state", "widen_into"]
