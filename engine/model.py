"""The Stacked Hourglass network (Newell, Yang and Deng, ECCV 2016) in PyTorch.

Shapes: input (N, 3, S, S) normalised RGB; output a list of ``num_stacks`` heatmap tensors, each
(N, K, S/4, S/4). Heatmap pixel (i, j) is centred on input pixel (4j + 1.5, 4i + 1.5); see
``engine.coords``.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from engine.metadata import HourglassConfig


class Residual(nn.Module):
    """Pre-activation bottleneck residual module: BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (+ skip)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1)
        # A 1x1 projection only where the channel count changes, as in the paper.
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + self.skip(x)


class Hourglass(nn.Module):
    """Recursive hourglass of ``depth`` poolings, nearest-neighbour upsampling and skip additions."""

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.up1 = Residual(channels, channels)
        self.low1 = Residual(channels, channels)
        self.low2: nn.Module = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.low3 = Residual(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        up1 = self.up1(x)
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2))))
        return up1 + F.interpolate(low, scale_factor=2.0, mode="nearest")


class StackedHourglass(nn.Module):
    """Stem (7x7 stride-2 conv, residuals, pooling: /4), then ``num_stacks`` supervised hourglasses.

    After every stack but the last, the features and the predicted heatmaps are remapped by 1x1
    convolutions and added back to the stack's input (intermediate supervision).
    """

    def __init__(self, config: HourglassConfig) -> None:
        super().__init__()
        self.config = config
        w, k = config.width, config.num_joints
        # The paper's stem at width 256 is 64 -> 128 -> 128 -> 256; scale it with the width.
        c0, c1 = max(w // 4, 8), max(w // 2, 8)
        self.stem = nn.Sequential(
            nn.Conv2d(3, c0, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(c0),
            nn.ReLU(inplace=True),
            Residual(c0, c1),
            nn.MaxPool2d(2),
            Residual(c1, c1),
            Residual(c1, w),
        )
        self.hourglasses = nn.ModuleList(Hourglass(config.depth, w) for _ in range(config.num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(w, w), nn.Conv2d(w, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
            for _ in range(config.num_stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(w, k, 1) for _ in range(config.num_stacks))
        self.remap_features = nn.ModuleList(nn.Conv2d(w, w, 1) for _ in range(config.num_stacks - 1))
        self.remap_heatmaps = nn.ModuleList(nn.Conv2d(k, w, 1) for _ in range(config.num_stacks - 1))

    def forward(self, x: Tensor) -> list[Tensor]:
        """(N, 3, S, S) -> list of ``num_stacks`` tensors (N, K, S/4, S/4)."""
        return self.forward_with_features(x)[0]

    def forward_with_features(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """(N, 3, S, S) -> per stack, the heatmaps (N, K, S/4, S/4) and the features (N, W, S/4, S/4)
        they were read from (for training-only auxiliary heads)."""
        x = self.stem(x)
        outputs, features = [], []
        for i in range(self.config.num_stacks):
            feat = self.features[i](self.hourglasses[i](x))
            heatmaps = self.heads[i](feat)
            outputs.append(heatmaps)
            features.append(feat)
            if i < self.config.num_stacks - 1:
                x = x + self.remap_features[i](feat) + self.remap_heatmaps[i](heatmaps)
        return outputs, features


class LastStack(nn.Module):
    """Inference wrapper: (N, 3, S, S) -> (N, K, S/4, S/4), the final stack's heatmaps only."""

    def __init__(self, model: StackedHourglass) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)[-1]


def build_model(config: HourglassConfig) -> StackedHourglass:
    model = StackedHourglass(config)
    # Heads start near zero so early heatmaps are flat rather than noisy.
    for head in model.heads.modules():
        if isinstance(head, nn.Conv2d) and head.bias is not None:
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.zeros_(head.bias)
    return model


__all__ = ["Hourglass", "LastStack", "Residual", "StackedHourglass", "build_model"]
