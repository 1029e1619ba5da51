"""datasets.corruption_stand_in: the offline stand-in for CIFAR-10-C, built from a
generated test set in the official CIFAR-10 format, read by the real CIFAR-10-C loaders."""
import io

import numpy as np
import pytest
from PIL import Image

from datasets import cifar10c, identity
from datasets import corruption_stand_in as stand_in
from datasets.cifar10 import synthetic_cifar10, write_cifar10_batches

N = 12


@pytest.fixture
def data_folder(tmp_path):
    folder = tmp_path / "data"
    write_cifar10_batches(folder, *synthetic_cifar10(n_train=50, n_test=30, seed=2))
    return folder


def grey(value: int, n: int = 4) -> np.ndarray:
    return np.full((n, 32, 32, 3), value, np.uint8)


def test_the_stand_in_has_cifar10c_layout_in_its_own_folder(data_folder):
    folder = stand_in.ensure_stand_in(N, data_folder)
    assert folder == data_folder / "CIFAR-10-C-stand-in" != cifar10c.corruption_folder(data_folder)
    assert not cifar10c.corruption_folder(data_folder).exists()
    from datasets.cifar10 import load_cifar10

    _, test_y = load_cifar10("test", data_folder)
    labels, n = cifar10c.load_labels(folder, test_labels=test_y)
    assert n == N
    assert cifar10c.present_corruptions(folder) == list(stand_in.CORRUPTIONS) == [
        "gaussian_noise", "shot_noise", "impulse_noise", "brightness", "contrast", "pixelate",
        "jpeg_compression"]
    for name in stand_in.CORRUPTIONS:
        assert cifar10c.open_corruption(folder, name, n).shape == (5 * N, 32, 32, 3)
    found = identity.describe_corruptions(folder)
    assert found["stand_in"] and not found["verified"]
    assert found["text"] == stand_in.DESCRIPTION == "stand-in corruptions (7 of 15), not CIFAR-10-C"


def test_it_is_built_once_and_again_when_the_test_set_changes(data_folder, capsys):
    folder = stand_in.ensure_stand_in(N, data_folder)
    stamp = (folder / "contrast.npy").stat().st_mtime_ns
    assert "building the stand-in" in capsys.readouterr().out
    stand_in.ensure_stand_in(N, data_folder)
    assert (folder / "contrast.npy").stat().st_mtime_ns == stamp
    assert capsys.readouterr().out == ""
    write_cifar10_batches(data_folder, *synthetic_cifar10(n_train=50, n_test=30, seed=3))
    stand_in.ensure_stand_in(N, data_folder)
    assert "building" in capsys.readouterr().out
    assert (folder / "contrast.npy").stat().st_mtime_ns != stamp


def test_without_its_marker_a_half_built_folder_is_not_taken_for_the_stand_in(data_folder):
    folder = stand_in.ensure_stand_in(N, data_folder)
    (folder / identity.STAND_IN_MARKER).unlink()
    assert not identity.describe_corruptions(folder)["stand_in"]


def test_which_folder_the_corruption_test_reads(data_folder):
    real = cifar10c.corruption_folder(data_folder)
    assert stand_in.corruption_data(True, data_folder) == stand_in.stand_in_folder(data_folder)
    assert stand_in.corruption_data(False, data_folder) == real   # the paper: downloaded
    cifar10c.write_cifar10c(data_folder, {"fog": grey(0, 5)}, [1])
    assert stand_in.corruption_data(True, data_folder) == real


# ----------------------------------------------------- the benchmark's CIFAR-10 parameters

def test_contrast_and_brightness_follow_their_definitions():
    rng = np.random.default_rng(0)
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, :16] = 200
    image[0, 16:] = 40
    out = stand_in.corrupt(image, "contrast", 5, rng)      # c = 0.15 around the mean 120
    # 120 ± 80 x 0.15 = 132 and 108, less one where truncation meets rounding error
    assert len(np.unique(out[0, :16])) == 1 and len(np.unique(out[0, 16:])) == 1
    assert int(out[0, 0, 0, 0]) in (131, 132) and int(out[0, 31, 0, 0]) in (107, 108)
    out = stand_in.corrupt(grey(100), "brightness", 3, rng)       # V + 0.15
    assert (out == int((100 / 255 + 0.15) * 255)).all()
    assert (stand_in.corrupt(grey(250), "brightness", 5, rng) == 255).all()   # V clipped at 1


def test_the_noises_have_the_benchmarks_strength():
    rng = np.random.default_rng(0)
    image = grey(128, 20)
    noisy = stand_in.corrupt(image, "gaussian_noise", 1, rng).astype(float)
    assert (noisy - 128).std() == pytest.approx(0.04 * 255, rel=0.05)
    shot = stand_in.corrupt(image, "shot_noise", 5, rng).astype(float) / 255   # c = 50
    assert shot.var() == pytest.approx((128 / 255) / 50, rel=0.1)
    impulse = stand_in.corrupt(image, "impulse_noise", 5, rng)                # 7 % of values
    assert ((impulse == 0) | (impulse == 255)).mean() == pytest.approx(0.07, abs=0.01)
    assert (impulse == 0).mean() == pytest.approx((impulse == 255).mean(), abs=0.01)


def test_jpeg_and_pixelate_are_pillows():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(images[1]).save(buffer, "JPEG", quality=40)
    assert (stand_in.corrupt(images, "jpeg_compression", 5, rng)[1]
            == np.asarray(Image.open(buffer))).all()
    blocky = Image.fromarray(images[2]).resize((20, 20), Image.BOX).resize((32, 32), Image.BOX)
    assert (stand_in.corrupt(images, "pixelate", 5, rng)[2] == np.asarray(blocky)).all()
