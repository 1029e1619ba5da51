"""DenseNet-BC for CIFAR and DenseMin, its min-unit variant (docs/reference.md §1).

Depth L = 6n + 4 gives n dense layers per block (each layer: two convs; plus the stem
conv, two transition convs and the classifier). With growth rate k = 12, L = 22:

    conv0        conv3x3 3 -> 2k                            (b, 24, 32, 32)
    denseblock1  n layers, each adds k channels             (b, 24 + n*k, 32, 32)
    transition1  BN-ReLU-conv1x1 halves channels, avgpool   (b, 30, 16, 16)
    denseblock2                                             (b, 30 + n*k, 16, 16)
    transition2                                             (b, 33, 8, 8)
    denseblock3                                             (b, 33 + n*k, 8, 8)
    norm_final   BN -> ReLU -> global average pool          (b, 69)
    classifier   Linear                                     (b, out_dim)

In DenseMin the first layer of each dense block (`start_block`) is a MinBlock whose
shortcut is projected to k channels by a 1x1 conv with bias.
"""
import math
from collections import OrderedDict

import torch
import torch.nn as nn

from models.blocks import DenseLayer, MinBlock, Transition


def is_densenet_depth(depth) -> bool:
    """L = 6n + 4 with n >= 1: three blocks of n two-conv layers, plus conv0, two
    transitions and the classifier."""
    return depth >= 10 and (depth - 4) % 6 == 0


def dense_layers_per_block(depth):
    if not is_densenet_depth(depth):
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 with n >= 1, got {depth}")
    return (depth - 4) // 6


class DenseBlock(nn.ModuleDict):
    """Layers that each see the concatenation of the block input and all earlier outputs."""

    def forward(self, x):                          # (b, c, h, w)
        features = [x]
        for layer in self.values():
            features.append(layer(*features))      # each new: (b, k, h, w)
        return torch.cat(features, 1)              # (b, c + n*k, h, w)


class CifarDenseNet(nn.Module):
    """DenseNet-BC (Huang et al. 2017) for 32x32 inputs: no dropout, three dense blocks.

    min_block: None for DenseNet-BC, or (q, k) to make each block's first layer a MinBlock
    with expansion q and depthwise kernel size k (DenseMin).
    stride: of the stem conv (the authors' `stride` option; 1 for CIFAR).
    """

    def __init__(self, depth, growth_rate=12, compression=0.5, stride=1, efficient=False,
                 min_block=None, in_dim=3, out_dim=10):
        super().__init__()
        layers_per_block = dense_layers_per_block(depth)
        channels = 2 * growth_rate
        features = OrderedDict(conv0=nn.Conv2d(in_dim, channels, 3, stride=stride, padding=1,
                                               bias=False))
        for number in (1, 2, 3):
            block = DenseBlock()
            for index in range(layers_per_block):
                name = "start_block" if index == 0 else f"default_block{index}"
                if index == 0 and min_block is not None:
                    q, k = min_block
                    block[name] = MinBlock(channels, growth_rate, stride=1, q=q, k=k,
                                           conv_for_res=True)
                else:
                    block[name] = DenseLayer(channels, growth_rate, efficient=efficient)
                channels += growth_rate
            features[f"denseblock{number}"] = block
            if number < 3:
                compressed = int(math.floor(channels * compression))
                features[f"transition{number}"] = Transition(channels, compressed)
                channels = compressed
        features["norm_final"] = nn.BatchNorm2d(channels)
        features["relu_final"] = nn.ReLU(inplace=True)
        self.features = nn.Sequential(features)
        self.classifier = nn.Linear(channels, out_dim)

    def set_grad_checkpointing(self, enabled: bool) -> None:
        """Recompute the dense layers' bottlenecks in the backward pass (less memory,
        the same numbers) or store them (faster)."""
        for module in self.modules():
            if isinstance(module, DenseLayer):
                module.efficient = bool(enabled)

    def forward(self, x):                          # (b, in_dim, 32, 32)
        x = self.features(x)                       # (b, c, 8, 8)
        x = x.mean((2, 3))                         # (b, c) global average pool
        return self.classifier(x)                  # (b, out_dim)


def init_by_parameter_name(model):
    """The authors' DenseNet init (from Pleiss et al.'s efficient DenseNet), by name:
    "conv" + "weight" ~ N(0, sqrt(2 / (out * kh * kw))), "norm" + "weight" = 1,
    "norm" + "bias" = 0, classifier bias = 0; anything else (the MinBlocks' upper,
    lower and depthwise convs and BNs, conv_for_res.bias, the classifier weight) keeps
    PyTorch's default."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "conv" in name and "weight" in name:
                out_channels, _, kh, kw = parameter.shape
                parameter.normal_(0.0, math.sqrt(2.0 / (out_channels * kh * kw)))
            elif "norm" in name and "weight" in name:
                parameter.fill_(1.0)
            elif ("norm" in name or "classifier" in name) and "bias" in name:
                parameter.zero_()


# ------------------------------------------------------------------------ the two models
# n_blocks is the depth L. q and k only shape DenseMin's MinBlocks; the authors wrote
# them into every DenseNet's options, so both models accept them.

def cifar_densenet(n_blocks, growth_rate=12, compression=0.5, stride=1, efficient=False,
                   q=2, k=3, in_dim=3, out_dim=10):
    """`CifarDenseNet`: DenseNet-BC of depth n_blocks."""
    model = CifarDenseNet(n_blocks, growth_rate, compression, stride, efficient,
                          min_block=None, in_dim=in_dim, out_dim=out_dim)
    init_by_parameter_name(model)
    return model


def cifar_dense_min(n_blocks, growth_rate=12, compression=0.5, stride=1, efficient=False,
                    q=2, k=3, in_dim=3, out_dim=10):
    """`CifarDenseMin`: DenseNet-BC whose dense blocks start with a MinBlock."""
    model = CifarDenseNet(n_blocks, growth_rate, compression, stride, efficient,
                          min_block=(q, k), in_dim=in_dim, out_dim=out_dim)
    init_by_parameter_name(model)
    return model
