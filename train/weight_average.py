"""An exponential moving average of a model's weights (Polyak averaging), validated and kept instead
of the raw weights when ``ema_decay`` is set.

Small-batch training (batch 32 on a CPU) ends each step somewhere in the noise around the minimum;
the running average of the last few thousand steps sits nearer its centre, and costs one ``lerp``
per tensor per step. BatchNorm running statistics are averaged like the weights, so the averaged
model is usable as it stands (no re-estimation pass). ``torch.optim.swa_utils.AveragedModel`` does
the averaging too, but it has no warm-up of the decay and wraps the model (``module.`` keys, an
``n_averaged`` buffer), where ``best.pt`` must hold a plain ``StackedHourglass`` state dict.
"""

from __future__ import annotations

import copy
from typing import Any, Generic, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


class WeightAverage(Generic[M]):
    """``average = d * average + (1 - d) * weights`` after each optimiser step.

    The decay ramps up as ``d_n = min(decay, (1 + n) / (10 + n))`` over the first updates ``n``, so
    the average forgets its starting point (random or ``init_from`` weights) quickly and settles on a
    horizon of about ``1 / (1 - decay)`` steps.
    """

    def __init__(self, model: M, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model: M = copy.deepcopy(model).eval().requires_grad_(False)
        # The averaged model's tensors never move, so its float/count split is fixed: work out once.
        state = self.model.state_dict()
        self._float_keys = [k for k, v in state.items() if v.is_floating_point()]
        self._floats = [state[k] for k in self._float_keys]
        self._counts = {k: v for k, v in state.items() if not v.is_floating_point()}

    def current_decay(self) -> float:
        """The decay the next :meth:`update` applies."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average toward ``model``'s current weights (same architecture, same device)."""
        theirs = model.state_dict()  # detached views of the live tensors
        torch._foreach_lerp_(self._floats, [theirs[k] for k in self._float_keys], 1.0 - self.current_decay())
        for key, value in self._counts.items():  # BatchNorm's num_batches_tracked: a count, not averaged
            value.copy_(theirs[key])
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"weights": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
