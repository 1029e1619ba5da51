"""An offline stand-in for CIFAR-10-C, so that the corruption test's smoke profile runs
without the 2.9 GB download.

It holds those of the benchmark's 15 corruptions that numpy and Pillow compute exactly
as the benchmark defines them (Hendrycks & Dietterich, ICLR 2019), at its CIFAR-10
parameters (severities 1 to 5), applied to the first n test images, in CIFAR-10-C's
layout (datasets/cifar10c.py) but in its own folder, DATA_FOLDER/CIFAR-10-C-stand-in/,
so it is never taken for the real set. On images in 0..1:

  gaussian_noise    add normal noise of std 0.04, 0.06, 0.08, 0.09, 0.10
  shot_noise        Poisson(x c) / c with c = 500, 250, 100, 75, 50
  impulse_noise     salt and pepper on a fraction 0.01, 0.02, 0.03, 0.05, 0.07 of the
                    values (each value of each channel on its own, salt and pepper alike)
  brightness        add 0.05, 0.1, 0.15, 0.2, 0.3 to the HSV value channel
  contrast          (x - mean) c + mean, per image and channel, c = 0.75, 0.5, 0.4, 0.3, 0.15
  pixelate          box-downsample to 32 c pixels (c = 0.95, 0.9, 0.85, 0.75, 0.65), back up
  jpeg_compression  JPEG at quality 80, 65, 58, 50, 40 (Pillow)

each clipped to 0..1 and, as the benchmark does, truncated to uint8 (x 255). The noises
are random: the stand-in has the benchmark's distributions from fixed seeds, not its
pixels. The other 8 corruptions (blurs, weather, elastic) need ImageMagick or image
files the benchmark ships, so the stand-in has none of them and no mean corruption error.
Its marker (identity.STAND_IN_MARKER, written last) names its corruptions and source.
"""
import io
from pathlib import Path

import numpy as np
from PIL import Image

import atomic_files
import config
from datasets import cifar10c, identity

FOLDER = "CIFAR-10-C-stand-in"
SEED = 0
# corruption -> its parameter at severities 1..5 (the benchmark's CIFAR-10 values)
PARAMETERS = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
}
CORRUPTIONS = tuple(name for name in cifar10c.BENCHMARK_CORRUPTIONS if name in PARAMETERS)
DESCRIPTION = identity.stand_in_text(len(CORRUPTIONS))


def stand_in_folder(data_folder=None) -> Path:
    return Path(data_folder or config.DATA_FOLDER) / FOLDER


def _each_image(images, corrupt) -> np.ndarray:
    return np.stack([corrupt(Image.fromarray(image)) for image in images])


def _pixelate(images, c) -> np.ndarray:
    side = int(32 * c)
    return _each_image(images, lambda im: np.asarray(
        im.resize((side, side), Image.BOX).resize((32, 32), Image.BOX)))


def _jpeg(images, quality) -> np.ndarray:
    def compress(im):
        buffer = io.BytesIO()
        im.save(buffer, "JPEG", quality=quality)
        return np.asarray(Image.open(buffer).convert("RGB"))
    return _each_image(images, compress)


def _brightness(x, c) -> np.ndarray:
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    hsv = rgb_to_hsv(x)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return hsv_to_rgb(hsv)


def _impulse(x, amount, rng) -> np.ndarray:
    flipped = rng.random(x.shape) < amount
    salt = rng.random(x.shape) < 0.5
    return np.where(flipped, salt.astype(np.float64), x)


def corrupt(images, name: str, severity: int, rng) -> np.ndarray:
    """uint8 (n, 32, 32, 3) images with corruption `name` at `severity` (1..5)."""
    c = PARAMETERS[name][severity - 1]
    if name in ("pixelate", "jpeg_compression"):    # Pillow's own uint8 images
        return (_pixelate if name == "pixelate" else _jpeg)(np.asarray(images, np.uint8), c)
    x = np.asarray(images, dtype=np.float64) / 255
    if name == "gaussian_noise":
        out = x + rng.normal(size=x.shape, scale=c)
    elif name == "shot_noise":
        out = rng.poisson(x * c) / c
    elif name == "impulse_noise":
        out = _impulse(x, c, rng)
    elif name == "brightness":
        out = _brightness(x, c)
    else:   # contrast
        means = x.mean(axis=(1, 2), keepdims=True)
        out = (x - means) * c + means
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)   # truncated, as the benchmark's


def build(folder, images, labels) -> Path:
    """Write the stand-in of `images` (uint8 (n, 32, 32, 3)) and `labels` into `folder`
    in CIFAR-10-C's layout; the marker last, so a killed build is never used."""
    folder = Path(folder)
    (folder / identity.STAND_IN_MARKER).unlink(missing_ok=True)
    labels = np.asarray(labels, dtype=np.uint8)
    atomic_files.save_npy(folder / cifar10c.LABELS_FILE, np.tile(labels, 5))
    for i, name in enumerate(CORRUPTIONS):
        rng = np.random.default_rng([SEED, i])
        blocks = [corrupt(images, name, s, rng) for s in cifar10c.SEVERITIES]
        atomic_files.save_npy(folder / f"{name}.npy", np.concatenate(blocks))
    return folder


def ensure_stand_in(n: int, data_folder=None) -> Path:
    """The stand-in of the first n test images of DATA_FOLDER's CIFAR-10, built (again)
    unless its marker says it was built from these very images."""
    from datasets.cifar10 import batches_folder, load_cifar10
    from robustness.provenance import array_fingerprint

    images, labels = load_cifar10("test", data_folder)
    images, labels = images[:n], labels[:n]
    source = dict(corruptions=list(CORRUPTIONS), n=len(labels), seed=SEED,
                  images=array_fingerprint(images, labels),
                  test_set=identity.describe(batches_folder(data_folder))["text"])
    folder = stand_in_folder(data_folder)
    if identity.read_json(folder / identity.STAND_IN_MARKER) != source:
        print(f"building the {DESCRIPTION} from {len(labels):,} test images in {folder}",
              flush=True)
        build(folder, images, labels)
        atomic_files.write_json(folder / identity.STAND_IN_MARKER, source, indent=1)
    return folder


def corruption_data(smoke: bool, data_folder=None) -> Path:
    """The folder the corruption test reads: CIFAR-10-C when it is there or the paper
    profile asks for it (it is downloaded then), else, for the smoke profile, the stand-in."""
    real = cifar10c.corruption_folder(data_folder)
    if (real / cifar10c.LABELS_FILE).is_file() or not smoke:
        return real
    return stand_in_folder(data_folder)
