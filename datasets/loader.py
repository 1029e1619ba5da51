"""Device-resident CIFAR batches: augmentation and normalisation as batched tensor ops.

The uint8 images live on the device that trains (on CUDA the whole set stays on the GPU),
zero-padded by 4 pixels once and stored twice, as they are and mirrored. A training batch
is then two tensor operations, with no per-image Python, PIL or worker processes (the style
of airbench):

- crop and flip: a strided view holds every 32x32 window of every padded image and of its
  mirror image, shape (n, 2, 9, 9, 32, 32, 3), without copying; indexing it with (image,
  mirrored, row offset, column offset) gathers the batch in one copy. Torchvision crops at
  (dy, dx) and then mirrors; those pixels are the window of the mirrored image at
  (dy, 8 - dx). The mirrored copy costs 240 MB for CIFAR-10's 50,000 images and makes a
  batch twice as fast on the CPU as a torch.where between crops and their flips;
- normalise: ToTensor's division by 255 then Normalize's subtraction and division, the same
  float32 operations in the same order, so the values equal torchvision's bit for bit.

docs/reference.md §2's augmentation is zero-pad 4, random 32x32 crop (offsets uniform over the 9x9
positions), horizontal flip with p = 1/2: torchvision's RandomCrop(32, padding=4) and
RandomHorizontalFlip(). The order, offsets and flips of an epoch come from a CPU
torch.Generator seeded from (seed, epoch) alone, so the batches do not depend on the global
RNG, on the device, or on what ran before: a resumed run sees the same batches.
"""
import math

import numpy as np
import torch

from datasets.catalog import CIFAR10_MEAN as MEAN, CIFAR10_STD as STD  # the default

PAD = 4
SIZE = 32


def _as_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        array = np.ascontiguousarray(images)
        # torch warns on read-only memory (an np.load mmap); a copy is cheap here.
        images = torch.from_numpy(array if array.flags.writeable else array.copy())
    if images.dtype != torch.uint8 or tuple(images.shape[1:]) != (SIZE, SIZE, 3):
        raise ValueError(f"images must be uint8 (n, 32, 32, 3), not {images.dtype} "
                         f"{tuple(images.shape)}")
    return images


def _as_labels(labels, n: int, device) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    labels = labels.to(dtype=torch.int64)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), not {tuple(labels.shape)}")
    return labels.to(device)


class Normalize:
    """uint8 NHWC batch -> float32 NCHW, normalised exactly like ToTensor + Normalize
    (with CIFAR-10's mean and std unless given: datasets.catalog has each data set's)."""

    def __init__(self, device, mean=MEAN, std=STD):
        # Per-pixel copies (32, 32, 3) of mean and std: broadcast over the batch only, every
        # operation runs contiguous and vectorised, 5x faster on the CPU than broadcasting
        # a 3-vector over the innermost dimension.
        self.mean = torch.tensor(mean, device=device).expand(SIZE, SIZE, 3).contiguous()
        self.std = torch.tensor(std, device=device).expand(SIZE, SIZE, 3).contiguous()

    def __call__(self, images_nhwc: torch.Tensor, channels_last: bool = True) -> torch.Tensor:
        x = images_nhwc.float().div_(255).sub_(self.mean).div_(self.std)
        # NHWC memory seen as NCHW is channels_last already: no copy.
        x = x.permute(0, 3, 1, 2)
        return x if channels_last else x.contiguous()


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator that depends on (seed, epoch) only, well mixed across both."""
    entropy = [int(seed) % 2**64, int(epoch) % 2**64]
    state = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class TrainBatches:
    """Shuffled, augmented, normalised training batches; the last partial batch is kept.

    `epoch(e)` yields (x float32 (b, 3, 32, 32) on `device`, channels_last memory unless
    `channels_last=False`; y int64 (b,)), determined by (seed, e).
    """

    def __init__(self, images_uint8_nhwc, labels, batch_size: int, device, seed: int,
                 channels_last: bool = True, mean=MEAN, std=STD):
        images = _as_images(images_uint8_nhwc)
        if batch_size < 1 or len(images) == 0:
            raise ValueError("need at least one image and batch_size >= 1")
        self.n, self.batch_size, self.seed = len(images), int(batch_size), int(seed)
        self.device, self.channels_last = torch.device(device), channels_last
        self.labels = _as_labels(labels, self.n, self.device)
        # Pad and mirror on the device: only the unpadded set crosses the bus.
        images = images.to(self.device)
        side = SIZE + 2 * PAD
        self.padded = torch.zeros((self.n, 2, side, side, 3), dtype=torch.uint8, device=self.device)
        self.padded[:, 0, PAD:PAD + SIZE, PAD:PAD + SIZE] = images
        self.padded[:, 1] = self.padded[:, 0].flip(2)
        del images
        s_img, s_mirror, s_row, s_col, s_chan = self.padded.stride()
        positions = 2 * PAD + 1
        # windows[i, m, dy, dx]: the 32x32 window at (dy, dx) of padded image i (m = 0) or of
        # its mirror image (m = 1). A view: nothing is copied.
        self.windows = self.padded.as_strided(
            (self.n, 2, positions, positions, SIZE, SIZE, 3),
            (s_img, s_mirror, s_row, s_col, s_row, s_col, s_chan))
        self.normalize = Normalize(self.device, mean, std)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def epoch(self, epoch: int):
        """Iterator over the batches of `epoch`; the same (seed, epoch) gives the same batches."""
        generator = epoch_generator(self.seed, epoch)
        # Drawn on the CPU so that every device sees the same numbers, then moved once.
        order = torch.randperm(self.n, generator=generator)
        offsets = torch.randint(0, 2 * PAD + 1, (self.n, 2), generator=generator)
        flips = torch.rand(self.n, generator=generator) < 0.5
        rows, columns = offsets[:, 0], offsets[:, 1]
        # Crop at (dy, dx) then mirror = the mirrored image's window at (dy, 2 * PAD - dx).
        columns = torch.where(flips, 2 * PAD - columns, columns)
        windows = (order, flips.long(), rows, columns)
        return self._batches(*(t.to(self.device) for t in windows))

    def _batches(self, order, mirrored, rows, columns):
        for start in range(0, self.n, self.batch_size):
            index = order[start:start + self.batch_size]
            crops = self.windows[index, mirrored[index], rows[index], columns[index]]
            yield self.normalize(crops, self.channels_last), self.labels[index]


class EvalBatches:
    """Test batches in order, normalised, no augmentation; the last partial batch is kept."""

    def __init__(self, images, labels, batch_size: int, device, channels_last: bool = True,
                 mean=MEAN, std=STD):
        images = _as_images(images)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.n, self.batch_size = len(images), int(batch_size)
        self.device, self.channels_last = torch.device(device), channels_last
        self.images = images.to(self.device)
        self.labels = _as_labels(labels, self.n, self.device)
        self.normalize = Normalize(self.device, mean, std)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        for start in range(0, self.n, self.batch_size):
            stop = start + self.batch_size
            x = self.normalize(self.images[start:stop], self.channels_last)
            yield x, self.labels[start:stop]
