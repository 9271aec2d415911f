"""Training-only auxiliary face heads: the network's stacks also predict MoveNet's face points.

LSP has no face, yet a face seen (nose and eyes) or not (the back of a head) is what tells a person
facing the camera from one facing away, and so which image side holds their left: the distinction
behind most mirrored people. A 1x1 convolution per stack reads F face heatmaps off the same
features the joint heatmaps come from, trained against the packs' face targets
(:func:`train.teachers.face_targets`, weight ``data.face_weight``). The heads shape the shared
features only: they are not part of the saved model, and inference never runs them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.model import StackedHourglass


class FaceHeads(nn.Module):
    """``model`` with a face head per stack: (N, 3, S, S) -> per stack (N, K + F, S/4, S/4), the
    joints' heatmaps then the face's, so one masked loss and one flip permutation cover both."""

    def __init__(self, model: StackedHourglass, num_points: int) -> None:
        super().__init__()
        self.model = model
        width = model.config.width
        heads = [nn.Conv2d(width, num_points, 1) for _ in range(model.config.num_stacks)]
        for head in heads:  # near zero, as the joint heads start (engine.model.build_model)
            nn.init.normal_(head.weight, std=1e-3)
            if head.bias is not None:
                nn.init.zeros_(head.bias)
        self.heads = nn.ModuleList(heads)

    def forward(self, x: Tensor) -> list[Tensor]:
        heatmaps, features = self.model.forward_with_features(x)
        return [torch.cat([h, head(f)], dim=1) for h, head, f in zip(heatmaps, self.heads, features, strict=True)]
