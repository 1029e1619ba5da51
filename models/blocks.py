"""The building blocks of docs/reference.md §1: residual blocks (basic, pyramid, min) and DenseNet-BC's
dense layer and transition.

Module attribute names are not free: they reproduce the keys of the authors' published
`model.pt` files (tests/fixtures/authors_checkpoint_layout.json), so that those weights
load strictly. Inside an nn.Sequential the index is part of the key, which is why the
ReLUs sit exactly where they do (e.g. a BasicBlock's second conv is `block.3`).

Shapes in comments: b batch, c channels, h x w spatial size.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def conv3x3(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels, out_channels, bias=False):
    return nn.Conv2d(in_channels, out_channels, 1, bias=bias)


# ------------------------------------------------------------------------ residual blocks

class Shortcut(nn.Module):
    """The parameter-free identity path of a residual block.

    Stride 2 halves h and w, either by taking every second pixel ("subsample", He et al.)
    or by 2x2 average pooling ("avgpool", Han et al.; ceil_mode so an odd size keeps its
    last row and column). Missing channels are appended as zeros ("option A"), so the
    first in_channels channels of the output are the input's.
    """

    def __init__(self, in_channels, out_channels, stride, downsample):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"a zero-padded shortcut cannot drop channels ({in_channels} -> "
                             f"{out_channels}); use a conv_for_res projection")
        if stride not in (1, 2) or downsample not in ("subsample", "avgpool"):
            raise ValueError(f"unsupported shortcut: stride {stride}, {downsample!r}")
        self.stride, self.downsample = stride, downsample
        self.extra_channels = out_channels - in_channels

    def forward(self, x):                                        # (b, c_in, h, w)
        if self.stride == 2 and self.downsample == "subsample":
            x = x[..., ::2, ::2]                                 # (b, c_in, ceil(h/2), ...)
        elif self.stride == 2:
            x = F.avg_pool2d(x, 2, stride=2, ceil_mode=True)     # (b, c_in, ceil(h/2), ...)
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))   # (b, c_out, ...)
        return x

    def extra_repr(self):
        return f"stride={self.stride}, downsample={self.downsample}, " \
               f"extra_channels={self.extra_channels}"


class BlockWithShortcut(nn.Module):
    """block(x) + shortcut(x), the shortcut optionally followed by a 1x1 conv with bias.

    conv_for_res (only DenseMin uses it) is assigned before `block` because the order
    of registration is the order of the authors' state_dict keys.
    """

    def __init__(self, block, shortcut, conv_for_res=None):
        super().__init__()
        self.conv_for_res = conv_for_res
        self.block = block
        self.shortcut = shortcut

    def forward(self, x):
        shortcut = self.shortcut(x)
        if self.conv_for_res is not None:
            shortcut = self.conv_for_res(shortcut)
        return self.block(x) + shortcut


class BasicBlock(nn.Module):
    """He et al. 2016: conv-BN-ReLU-conv-BN, plus the subsampled shortcut, then ReLU."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        block = nn.Sequential(
            conv3x3(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
        )
        shortcut = Shortcut(in_channels, out_channels, stride, "subsample")
        self.block_with_shortcut = BlockWithShortcut(block, shortcut)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):                                  # (b, c_in, h, w)
        return self.relu(self.block_with_shortcut(x))      # (b, c_out, h/s, w/s)


class PyramidBasicBlock(nn.Module):
    """Han et al. 2017: BN-conv-BN-ReLU-conv-BN plus the average-pooled shortcut; no ReLU
    after the sum, so the identity path stays linear from block to block."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        block = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            conv3x3(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
        )
        shortcut = Shortcut(in_channels, out_channels, stride, "avgpool")
        self.block_with_shortcut = BlockWithShortcut(block, shortcut)

    def forward(self, x):                                  # (b, c_in, h, w)
        return self.block_with_shortcut(x)                 # (b, c_out, h/s, w/s)


def depthwise_branch(channels, kernel_size, stride):
    """Depthwise conv -> InstanceNorm -> ReLU: one input of the minimum.

    InstanceNorm without affine parameters and without running statistics normalises
    every feature map of every image by its own mean and variance, in training and in
    evaluation alike.
    """
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=kernel_size // 2,
                  groups=channels, bias=False),
        nn.InstanceNorm2d(channels, affine=False, track_running_stats=False),
        nn.ReLU(inplace=True),
    )


class MinResidual(nn.Module):
    """The residual path of a MinBlock: an FP-block whose product is a minimum.

    Expand with a 1x1 conv to q*out channels, filter twice in parallel with depthwise
    convs, keep the elementwise minimum (an AND of the two feature detectors), project
    back with a 1x1 conv.
    """

    def __init__(self, in_channels, out_channels, stride=1, q=2, k=3):
        super().__init__()
        width = q * out_channels
        # Registered upper, lower, left_dw, right_dw: the order of the authors' keys.
        self.upper = nn.Sequential(conv1x1(in_channels, width), nn.BatchNorm2d(width),
                                   nn.ReLU(inplace=True))
        self.lower = nn.Sequential(conv1x1(width, out_channels), nn.BatchNorm2d(out_channels),
                                   nn.ReLU(inplace=True))
        self.left_dw = depthwise_branch(width, k, stride)
        self.right_dw = depthwise_branch(width, k, stride)

    def forward(self, x):                                          # (b, c_in, h, w)
        x = self.upper(x)                                          # (b, q*c_out, h, w)
        left, right = self.left_dw(x), self.right_dw(x)            # (b, q*c_out, h/s, w/s)
        # The elementwise minimum, as where() rather than torch.minimum: the same values,
        # but torch.minimum's backward splits the gradient of ties in half, four extra
        # passes over the tensor (~4% of a CPU step). Ties are common here (both branches
        # 0 after their ReLUs) but get no gradient through the ReLUs either way; gradients
        # differ only at exact ties of positive values.
        x = torch.where(left < right, left, right)
        return self.lower(x)                                       # (b, c_out, h/s, w/s)


class MinBlock(nn.Module):
    """The paper's min-unit: MinResidual plus the average-pooled, zero-padded shortcut
    (or, with conv_for_res, the shortcut mapped to out_channels by a 1x1 conv with bias);
    no ReLU after the sum."""

    def __init__(self, in_channels, out_channels, stride=1, q=2, k=3, conv_for_res=False):
        super().__init__()
        if q < 1 or k < 1 or k % 2 == 0:
            raise ValueError(f"MinBlock needs q >= 1 and an odd kernel size k, got q={q}, k={k}")
        block = MinResidual(in_channels, out_channels, stride, q, k)
        projection = conv1x1(in_channels, out_channels, bias=True) if conv_for_res else None
        shortcut = Shortcut(in_channels, in_channels if conv_for_res else out_channels,
                            stride, "avgpool")
        self.block_with_shortcut = BlockWithShortcut(block, shortcut, projection)

    def forward(self, x):                                  # (b, c_in, h, w)
        return self.block_with_shortcut(x)                 # (b, c_out, h/s, w/s)


# ------------------------------------------------------------------------ DenseNet-BC

class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bottleneck to 4k channels), BN-ReLU-conv3x3 (k new channels).

    Takes the block's features so far as separate tensors and returns only the k new
    channels; the dense block concatenates.

    efficient=True recomputes the concatenation and the first BN-ReLU-conv in the
    backward pass instead of storing them (gradient checkpointing; these tensors grow
    with the layer's index, so storing them makes memory quadratic in depth). The
    recomputation normalises with the batch statistics but leaves the running statistics
    alone, so they are updated once per step as without checkpointing. (The authors'
    version re-ran norm1 in training mode and updated them twice.)
    """

    def __init__(self, in_channels, growth_rate, bottleneck_factor=4, efficient=False):
        super().__init__()
        width = bottleneck_factor * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(in_channels, width)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(width, growth_rate)
        self.efficient = efficient

    def bottleneck(self, features, update_running_stats=True):
        x = torch.cat(features, 1)                         # (b, c_in, h, w)
        if update_running_stats or not self.norm1.training:
            x = self.norm1(x)
        else:
            # Training-mode normalisation whose running-statistics update is a no-op
            # (momentum 0: new = 1 * old + 0 * batch), and num_batches_tracked unchanged.
            # The same op as norm1's, so it saves the same tensors for backward, which
            # the checkpoint checks.
            norm = self.norm1
            x = F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                             training=True, momentum=0.0, eps=norm.eps)
        return self.conv1(self.relu1(x))                   # (b, 4k, h, w)

    def checkpointed_bottleneck(self, features):
        calls = 0

        def bottleneck(*features):
            nonlocal calls
            calls += 1  # call 1: the forward pass; call 2: recomputation in backward
            return self.bottleneck(features, update_running_stats=calls == 1)

        # No random ops inside, so there is no RNG state to save and restore.
        return checkpoint(bottleneck, *features, use_reentrant=False, preserve_rng_state=False)

    def forward(self, *features):                          # each (b, c_i, h, w)
        if self.efficient and any(f.requires_grad for f in features) \
                and torch.is_grad_enabled():
            x = self.checkpointed_bottleneck(features)
        else:
            x = self.bottleneck(features)
        return self.conv2(self.relu2(self.norm2(x)))       # (b, k, h, w)


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1 (compress channels) and 2x2 average pooling between dense blocks."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = conv1x1(in_channels, out_channels)
        self.pool = nn.AvgPool2d(2, stride=2)
