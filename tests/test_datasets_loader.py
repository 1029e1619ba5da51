"""datasets/loader.py: the training batches' augmentation (torchvision's outcomes and
distribution), order and determinism, and the test batches.
"""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from datasets.cifar10 import synthetic_cifar10
from datasets.loader import MEAN, STD, EvalBatches, TrainBatches


def chi_square_limit(dof: int, z: float = 3.09) -> float:
    """Upper chi-square quantile (z = 3.09: p = 0.001), Wilson-Hilferty; no scipy here."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def chi_square(counts: np.ndarray) -> float:
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


def torchvision_normalised(image_pil) -> torch.Tensor:
    import torchvision.transforms.functional as TF

    return TF.normalize(TF.to_tensor(image_pil), MEAN, STD)


def position_coded_image() -> np.ndarray:
    """Every pixel distinct (R codes the row, G the column), none 0 like the padding."""
    rows, cols = np.mgrid[0:32, 0:32]
    return np.stack([10 + 7 * rows, 10 + 7 * cols, np.full_like(rows, 128)], -1).astype(np.uint8)


def torchvision_outcomes(image: np.ndarray) -> dict:
    """Normalised bytes -> (row offset, column offset, flip) for all 162 outcomes of
    RandomCrop(32, padding=4) + RandomHorizontalFlip, built with torchvision on PIL."""
    import torchvision.transforms.functional as TF

    padded = TF.pad(Image.fromarray(image), 4)  # fill 0
    outcomes = {}
    for dy in range(9):
        for dx in range(9):
            crop = TF.crop(padded, dy, dx, 32, 32)
            for flip in (0, 1):
                x = torchvision_normalised(TF.hflip(crop) if flip else crop)
                outcomes[x.numpy().tobytes()] = (dy, dx, flip)
    assert len(outcomes) == 162
    return outcomes


# A loop in Python over 9,720 augmented images and 2,430 of torchvision's: the slow suite's.
@pytest.mark.slow
def test_augmentation_has_torchvisions_distribution_and_exact_values():
    """Each augmented image is exactly one of torchvision's 162 outcomes (same pixels, same
    normalised float32 values, padding included), and the outcomes are uniform, as they are
    for torchvision's own transforms."""
    image = position_coded_image()
    outcomes = torchvision_outcomes(image)
    n = 162 * 60
    batches = TrainBatches(np.repeat(image[None], n, 0), np.zeros(n), 512, "cpu", seed=5)
    counts = np.zeros((9, 9, 2), np.int64)
    zero = torchvision_normalised(Image.fromarray(np.zeros((1, 1, 3), np.uint8)))[:, 0, 0]
    for x, _ in batches.epoch(0):
        for sample in x:
            dy, dx, flip = outcomes[sample.contiguous().numpy().tobytes()]
            counts[dy, dx, flip] += 1
            # Padding is exactly the normalised value of a 0 pixel, torchvision's float32.
            if dy < 4:
                assert torch.equal(sample[:, : 4 - dy], zero[:, None, None].expand(3, 4 - dy, 32))
    assert counts.sum() == n
    assert chi_square(counts.ravel()) < chi_square_limit(161)
    assert chi_square(counts.sum((1, 2))) < chi_square_limit(8)  # row offsets
    assert chi_square(counts.sum((0, 2))) < chi_square_limit(8)  # column offsets
    assert abs(counts[..., 1].sum() - n / 2) < 4 * math.sqrt(n / 4)  # flips at 1/2

    # torchvision's transforms: same outcome set (so the decoding above is right), uniform too.
    from torchvision import transforms

    reference = transforms.Compose([transforms.RandomCrop(32, padding=4),
                                    transforms.RandomHorizontalFlip()])
    torch.manual_seed(0)
    reference_counts = np.zeros(162, np.int64)
    pil = Image.fromarray(image)
    for _ in range(162 * 15):
        dy, dx, flip = outcomes[torchvision_normalised(reference(pil)).numpy().tobytes()]
        reference_counts[(dy * 9 + dx) * 2 + flip] += 1
    assert chi_square(reference_counts) < chi_square_limit(161)


def test_each_image_keeps_its_label_and_is_seen_once_per_epoch_last_batch_kept():
    n, batch_size = 1000, 128
    # Image i is constant at value 1 + i % 250 and has label i: check image and label travel
    # together through shuffling and cropping (pixels are the value or the padding).
    values = 1 + np.arange(n) % 250
    images = np.broadcast_to(values[:, None, None, None], (n, 32, 32, 3)).astype(np.uint8)
    batches = TrainBatches(images, np.arange(n), batch_size, "cpu", seed=0)
    assert len(batches) == 8
    mean, std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]
    seen, sizes = [], []
    for x, y in batches.epoch(3):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.is_contiguous(memory_format=torch.channels_last)
        pixels = torch.round((x * std + mean) * 255).amax(dim=(1, 2, 3))
        assert torch.equal(pixels.long(), torch.from_numpy(values)[y])
        seen.append(y)
        sizes.append(len(y))
    assert sizes == [128] * 7 + [104]
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(n))
    assert not torch.equal(torch.cat(seen), torch.arange(n))  # shuffled


def epoch_tensors(batches, epoch):
    xs, ys = zip(*batches.epoch(epoch))
    return torch.cat(xs), torch.cat(ys)


def test_batches_are_determined_by_seed_and_epoch_alone():
    images, labels, _, _ = synthetic_cifar10(300, 0, seed=1)
    first = TrainBatches(images, labels, 64, "cpu", seed=7)
    torch.manual_seed(123)
    global_state = torch.get_rng_state()
    x_a, y_a = epoch_tensors(first, 4)
    assert torch.equal(torch.get_rng_state(), global_state)  # the global RNG is untouched
    torch.manual_seed(999)  # ... and does not matter
    epoch_tensors(first, 0)  # nor does what ran before (a resumed run starts at epoch 4)
    second = TrainBatches(images, labels, 64, "cpu", seed=7)
    x_b, y_b = epoch_tensors(second, 4)
    assert torch.equal(x_a, x_b) and torch.equal(y_a, y_b)

    x_next, y_next = epoch_tensors(first, 5)
    assert not torch.equal(y_a, y_next) and not torch.equal(x_a, x_next)
    x_other, y_other = epoch_tensors(TrainBatches(images, labels, 64, "cpu", seed=8), 4)
    assert not torch.equal(y_a, y_other)


def test_channels_last_off_gives_contiguous_nchw_with_the_same_values():
    images, labels, _, _ = synthetic_cifar10(100, 0, seed=2)
    on = epoch_tensors(TrainBatches(images, labels, 32, "cpu", seed=1), 0)[0]
    batches = TrainBatches(images, labels, 32, "cpu", seed=1, channels_last=False)
    x, _ = next(batches.epoch(0))
    assert x.is_contiguous()
    assert torch.equal(epoch_tensors(batches, 0)[0], on)


def test_test_batches_are_in_order_unaugmented_and_normalised_like_torchvision():
    _, _, images, labels = synthetic_cifar10(0, 70, seed=3)
    batches = EvalBatches(images, labels, 32, "cpu")
    assert len(batches) == 3
    out = list(batches)
    assert [len(y) for _, y in out] == [32, 32, 6]
    assert all(x.is_contiguous(memory_format=torch.channels_last) for x, _ in out)
    x = torch.cat([x for x, _ in out])
    y = torch.cat([y for _, y in out])
    expected = torch.stack([torchvision_normalised(Image.fromarray(im)) for im in images])
    assert torch.equal(x, expected)  # bit-identical to ToTensor + Normalize
    assert torch.equal(y, torch.from_numpy(labels))
    x_nchw, _ = next(iter(EvalBatches(images, labels, 32, "cpu", channels_last=False)))
    assert x_nchw.is_contiguous() and torch.equal(x_nchw, expected[:32])


def test_bad_input_shapes_are_rejected():
    with pytest.raises(ValueError, match="uint8"):
        TrainBatches(np.zeros((4, 32, 32, 3), np.float32), np.zeros(4), 2, "cpu", seed=0)
    with pytest.raises(ValueError, match="labels"):
        EvalBatches(np.zeros((4, 32, 32, 3), np.uint8), np.zeros(3), 2, "cpu")
