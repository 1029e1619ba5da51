"""The four CIFAR ResNets of size N (docs/reference.md §1): one skeleton, four choices of blocks and
initialisation.

    stem   conv3x3 -> BN -> ReLU                      (b, 16, 32, 32)
    stack1 N blocks, 16 channels                      (b, 16, 32, 32)
    stack2 N blocks, 32 channels, the first stride 2  (b, 32, 16, 16)
    stack3 N blocks, 64 channels, the first stride 2  (b, 64, 8, 8)
    head   global average pool -> Linear              (b, out_dim)
"""
import math
from collections import OrderedDict

import torch.nn as nn

from models.blocks import BasicBlock, MinBlock, PyramidBasicBlock, conv3x3

STACK_WIDTHS = (16, 32, 64)


class CifarResNet(nn.Module):
    """Stem, three stacks of N blocks, head. `make_block(in, out, stride, index)` builds
    the block at position `index` (0 = first) of a stack."""

    def __init__(self, make_block, N, in_dim=3, out_dim=10):
        super().__init__()
        if N < 1:
            raise ValueError(f"N (blocks per stack) must be >= 1, got {N}")
        self.first_conv = nn.Sequential(conv3x3(in_dim, STACK_WIDTHS[0]),
                                        nn.BatchNorm2d(STACK_WIDTHS[0]), nn.ReLU(inplace=True))
        in_channels = STACK_WIDTHS[0]
        for number, width in enumerate(STACK_WIDTHS, start=1):
            first_stride = 1 if number == 1 else 2
            blocks = OrderedDict()
            for index in range(N):
                blocks[f"block_{index}"] = make_block(in_channels, width,
                                                      first_stride if index == 0 else 1, index)
                in_channels = width
            setattr(self, f"stack{number}", nn.Sequential(blocks))
        self.out = nn.Linear(in_channels, out_dim)

    def set_grad_checkpointing(self, enabled: bool) -> None:
        """The same switch as the DenseNets'; a ResNet's activations grow linearly with
        depth, so it always stores them and the switch changes nothing."""

    def forward(self, x):                     # (b, in_dim, 32, 32)
        x = self.first_conv(x)                # (b, 16, 32, 32)
        x = self.stack1(x)                    # (b, 16, 32, 32)
        x = self.stack2(x)                    # (b, 32, 16, 16)
        x = self.stack3(x)                    # (b, 64, 8, 8)
        x = x.mean((2, 3))                    # (b, 64) global average pool
        return self.out(x)                    # (b, out_dim)


def min_block_first(default_block, q, k):
    """A stack's first block is a MinBlock, the others `default_block`."""
    def make_block(in_channels, out_channels, stride, index):
        if index == 0:
            return MinBlock(in_channels, out_channels, stride, q=q, k=k)
        return default_block(in_channels, out_channels, stride)
    return make_block


def same_block(block):
    return lambda in_channels, out_channels, stride, index: block(in_channels, out_channels,
                                                                  stride)


# ------------------------------------------------------------------------ initialisation

def init_kaiming(model):
    """He et al. / akamaster: Kaiming-normal (fan-in, ReLU gain) on every Conv2d and
    Linear weight; biases and BatchNorm keep PyTorch's defaults."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)


def init_pyramid(model):
    """Han et al.'s PyramidNet: conv weights ~ N(0, sqrt(2 / (kh * kw * out_channels)))
    (fan-out), BatchNorm weight 1 and bias 0; the Linear layer keeps its default."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / (kh * kw * module.out_channels)))
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


# ------------------------------------------------------------------------ the four models
# q (expansion) and k (kernel size) only shape the MinBlocks; the authors passed them to
# every model of this family, so all four accept them.

def cifar_resnet(N, q=2, k=3, in_dim=3, out_dim=10):
    """`CifarResNet`: BasicBlock everywhere, Kaiming init."""
    model = CifarResNet(same_block(BasicBlock), N, in_dim, out_dim)
    init_kaiming(model)
    return model


def cifar_pyr_resnet(N, q=2, k=3, in_dim=3, out_dim=10):
    """`CifarPyrResNet`: PyramidBasicBlock everywhere, PyramidNet init."""
    model = CifarResNet(same_block(PyramidBasicBlock), N, in_dim, out_dim)
    init_pyramid(model)
    return model


def cifar_min_fp_ls(N, q=2, k=3, in_dim=3, out_dim=10):
    """`CifarMinFP-LS` (the paper's Min-Net): a MinBlock first in every stack, then
    PyramidBasicBlocks; PyTorch's default init (the authors applied none)."""
    return CifarResNet(min_block_first(PyramidBasicBlock, q, k), N, in_dim, out_dim)


def cifar_min_fp_ls_rn_basic(N, q=2, k=3, in_dim=3, out_dim=10):
    """`CifarMinFP-LS-RNBasic`: as CifarMinFP-LS with BasicBlocks after the MinBlock;
    PyTorch's default init."""
    return CifarResNet(min_block_first(BasicBlock, q, k), N, in_dim, out_dim)
