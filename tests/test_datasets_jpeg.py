"""The JPEG robustness test set (docs/reference.md §5): protocols, stack files, CLI, stack loader."""
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

import datasets.jpeg as jpeg
from datasets.cifar10 import synthetic_cifar10, write_cifar10_batches
from datasets.jpeg import (QUALITIES, JpegStackBatches, create_jpeg_test_set, jpeg_roundtrip,
                           jpeg_stacks, load_jpeg_test_set, stack_file_names)
from datasets.loader import EvalBatches
from errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = REPO_ROOT / "datasets" / "ds_cifar10_compression_test.py"


def varied_images(seed: int = 0) -> np.ndarray:
    """320 uint8 (32, 32, 3) images meant to stress the codec in every way CIFAR might:
    natural-looking 1/f textures, drawn objects on backgrounds, smooth gradients, noise,
    saturated and extreme flat colours, hard edges, and the synthetic training data."""
    rng = np.random.default_rng(seed)
    images = []
    # 1/f^a noise: the power spectrum of natural photographs, channels correlated like theirs.
    fy, fx = np.meshgrid(np.fft.fftfreq(32), np.fft.fftfreq(32), indexing="ij")
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1
    for _ in range(80):
        alpha = rng.uniform(1.0, 2.5)
        noise = rng.normal(size=(3, 32, 32)) + 1j * rng.normal(size=(3, 32, 32))
        spectrum = noise / radius ** alpha
        field = np.real(np.fft.ifft2(spectrum))
        field = field[[0]] * rng.uniform(0.5, 1) + field * rng.uniform(0, 0.5)  # correlate
        field = (field - field.mean()) / (field.std() + 1e-9) * rng.uniform(20, 70)
        images.append(np.clip(field.transpose(1, 2, 0) + rng.uniform(40, 215, 3), 0, 255))
    # Objects: filled shapes on textured backgrounds, some blurred like a small photo.
    for _ in range(80):
        background = np.clip(images[rng.integers(80)] * 0.6 + 50, 0, 255)
        canvas = Image.fromarray(background.astype(np.uint8))
        draw = ImageDraw.Draw(canvas)
        for _ in range(rng.integers(1, 4)):
            box = sorted(rng.integers(0, 32, 2)), sorted(rng.integers(0, 32, 2))
            xy = [box[0][0], box[1][0], box[0][1] + 1, box[1][1] + 1]
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(xy, fill=colour)
        if rng.random() < 0.5:
            canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
        images.append(np.asarray(canvas, dtype=np.float64))
    # Smooth gradients in random directions and colours.
    yy, xx = np.mgrid[0:32, 0:32] / 31
    for _ in range(40):
        start, end = rng.uniform(0, 255, (2, 3))
        t = (np.cos(rng.uniform(0, 2 * np.pi)) * xx + np.sin(rng.uniform(0, 2 * np.pi)) * yy)
        t = (t - t.min()) / (np.ptp(t) + 1e-9)
        images.append(start + t[..., None] * (end - start))
    # Noise, full range: the worst case for quantisation and clamping.
    images += list(rng.integers(0, 256, (40, 32, 32, 3)))
    # Extremes: flat black, white, saturated primaries/secondaries, checkerboards, stripes.
    for colour in [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255),
                   (255, 255, 0), (0, 255, 255), (255, 0, 255), (128, 128, 128), (1, 254, 3)]:
        images.append(np.broadcast_to(np.array(colour, np.float64), (32, 32, 3)))
    checker = ((yy * 31).astype(int) // rng.integers(1, 5, 10)[:, None, None]
               + (xx * 31).astype(int)) % 2
    for k in range(10):
        a, b = rng.integers(0, 256, (2, 3))
        images.append(np.where(checker[k][..., None] == 1, a, b))
    images += list(synthetic_cifar10(0, 60, seed=seed + 1)[2])
    out = np.stack([np.clip(np.round(i), 0, 255).astype(np.uint8) for i in images])
    assert out.shape == (320, 32, 32, 3)
    return out


@pytest.fixture(scope="module")
def images():
    return varied_images()


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """A data folder with 40 test images: enough for the files, quick to encode."""
    folder = tmp_path_factory.mktemp("jpeg_data")
    train_x, train_y, test_x, test_y = synthetic_cifar10(10, 40, seed=4)
    write_cifar10_batches(folder, train_x, train_y, test_x, test_y)
    return folder, test_x, test_y


def opencv_paper_protocol(image, quality):
    """The authors' call, verbatim: an RGB array handed to OpenCV as if it were BGR."""
    import cv2

    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buffer, 1)


# ---------------------------------------------------------------------------- protocols


def test_paper_protocol_is_bit_identical_to_opencv(images):
    pytest.importorskip("cv2")
    for quality in QUALITIES + (1, 5, 95, 100):
        subset = images if quality in QUALITIES else images[::8]
        for index, image in enumerate(subset):
            ours = jpeg_roundtrip(image, quality, "paper")
            expected = opencv_paper_protocol(image, quality)
            assert np.array_equal(ours, expected), f"image {index}, quality {quality}"


def test_paper_stacks_from_worker_processes_equal_opencv(images):
    """The whole stack path (chunks, two processes, reassembly) against OpenCV."""
    pytest.importorskip("cv2")
    subset = images[::4]
    stacks = jpeg_stacks(subset, "paper", workers=2, progress=False)
    assert stacks.shape == (80, 10, 32, 32, 3) and stacks.dtype == np.uint8
    assert np.array_equal(stacks[:, 0], subset)
    for version, quality in enumerate(QUALITIES, start=1):
        expected = np.stack([opencv_paper_protocol(im, quality) for im in subset])
        assert np.array_equal(stacks[:, version], expected), f"quality {quality}"


def test_rgb_protocol_is_plain_pillow_and_differs_from_paper(images):
    differ = 0
    for image in images[:100]:
        for quality in QUALITIES:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, "JPEG", quality=quality)
            expected = np.asarray(Image.open(buffer))
            ours = jpeg_roundtrip(image, quality, "rgb")
            assert np.array_equal(ours, expected)
            differ += not np.array_equal(ours, jpeg_roundtrip(image, quality, "paper"))
    assert differ > 500  # the channel swap changes colour images


def test_file_names_keep_the_protocols_apart():
    assert stack_file_names("paper") == ("test_cifar10_jpeg_noise_image_stacks.npy",
                                         "test_cifar10_jpeg_noise_labels.npy")
    rgb = stack_file_names("rgb")
    assert all(name.endswith("_rgb.npy") for name in rgb)
    assert not set(rgb) & set(stack_file_names("paper"))
    with pytest.raises(UserError, match="paper, rgb"):
        stack_file_names("bgr")


# ------------------------------------------------------------------------- the files


# The script finding the repository by itself: a subprocess without PYTHONPATH.
@pytest.mark.slow
def test_cli_end_to_end_without_pythonpath(small_data, tmp_path):
    source, test_x, test_y = small_data
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cifar-10-batches-py").symlink_to(source / "cifar-10-batches-py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATA_FOLDER")}
    for protocol in ("paper", "rgb"):
        done = subprocess.run([sys.executable, str(CLI), "--data_folder", str(folder),
                               "--protocol", protocol, "--workers", "2"],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert names == sorted(stack_file_names("paper") + stack_file_names("rgb"))
    for protocol in ("paper", "rgb"):
        stacks = np.load(folder / stack_file_names(protocol)[0])
        labels = np.load(folder / stack_file_names(protocol)[1])
        assert stacks.shape == (40, 10, 32, 32, 3) and stacks.dtype == np.uint8
        assert labels.dtype == np.int64 and np.array_equal(labels, test_y)
        assert np.array_equal(stacks[:, 0], test_x)
        for version, quality in ((1, 90), (9, 10)):
            expected = [jpeg_roundtrip(im, quality, protocol) for im in test_x]
            assert np.array_equal(stacks[:, version], np.stack(expected))


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, str(CLI), "--data_folder", str(tmp_path),
                           "--workers", "0"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


def test_a_crash_while_writing_leaves_no_partial_file_and_old_files_intact(small_data, tmp_path,
                                                                         monkeypatch):
    source, _, _ = small_data
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cifar-10-batches-py").symlink_to(source / "cifar-10-batches-py")
    real_save = np.save

    def save_half_then_crash(file, array, **kw):
        real_save(io.BytesIO(), array, **kw)
        file.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(jpeg.np, "save", save_half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        create_jpeg_test_set(folder, "paper", workers=1)
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-batches-py"]  # no tmp left

    monkeypatch.setattr(jpeg.np, "save", real_save)
    stacks_path, labels_path = create_jpeg_test_set(folder, "paper", workers=1)
    before = stacks_path.read_bytes(), labels_path.read_bytes()

    calls = []

    def crash_on_labels(file, array, **kw):  # the stacks are written first, then the labels
        calls.append(array.shape)
        if len(calls) == 2:
            file.write(b"\x93NUMPY partial")
            raise OSError("disk full")
        real_save(file, array, **kw)

    monkeypatch.setattr(jpeg.np, "save", crash_on_labels)
    with pytest.raises(OSError):
        create_jpeg_test_set(folder, "paper", workers=1)
    assert labels_path.read_bytes() == before[1]
    assert stacks_path.read_bytes() == before[0]  # rewritten with the same content
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------ stack loader


@pytest.fixture(scope="module")
def stack_folder(small_data, tmp_path_factory):
    source, _, _ = small_data
    folder = tmp_path_factory.mktemp("stacks")
    (folder / "cifar-10-batches-py").symlink_to(source / "cifar-10-batches-py")
    create_jpeg_test_set(folder, "paper", workers=1)
    return folder


def test_load_jpeg_test_set_round_trip_and_subset(stack_folder, small_data):
    _, test_x, test_y = small_data
    stacks, labels = load_jpeg_test_set(stack_folder, "paper", create_if_missing=False)
    assert stacks.shape == (40, 10, 32, 32, 3) and labels.dtype == np.int64
    assert np.array_equal(stacks[:, 0], test_x) and np.array_equal(labels, test_y)
    stacks, labels = load_jpeg_test_set(stack_folder, "paper", create_if_missing=False, subset=7)
    assert stacks.shape[0] == 7 and labels.shape == (7,)


def test_missing_stacks_are_created_or_explained(small_data, tmp_path):
    source, test_x, _ = small_data
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cifar-10-batches-py").symlink_to(source / "cifar-10-batches-py")
    with pytest.raises(UserError, match="_rgb.npy is missing.*ds_cifar10_compression_test.py "
                                        "--protocol rgb"):
        load_jpeg_test_set(folder, "rgb", create_if_missing=False)
    stacks, _ = load_jpeg_test_set(folder, "rgb")
    assert np.array_equal(stacks[:, 0], test_x)
    assert (folder / stack_file_names("rgb")[0]).is_file()


@pytest.mark.parametrize("damage", ["truncated", "empty", "wrong_shape", "wrong_dtype",
                                    "pickled", "labels_short", "labels_out_of_range"])
def test_damaged_stack_files_are_a_user_error_naming_the_file_and_the_fix(stack_folder, tmp_path,
                                                                         damage):
    folder = tmp_path / "data"
    folder.mkdir()
    stacks_name, labels_name = stack_file_names("paper")
    stacks = np.load(stack_folder / stacks_name)
    labels = np.load(stack_folder / labels_name)
    np.save(folder / stacks_name, stacks)
    np.save(folder / labels_name, labels)
    damaged = folder / stacks_name
    if damage == "truncated":
        damaged.write_bytes(damaged.read_bytes()[:-1000])
    elif damage == "empty":
        damaged.write_bytes(b"")
    elif damage == "wrong_shape":
        np.save(damaged, stacks[:, :9])
    elif damage == "wrong_dtype":
        np.save(damaged, stacks.astype(np.float32))
    elif damage == "pickled":
        np.save(damaged, np.array([{"not": "an image"}], dtype=object), allow_pickle=True)
    else:
        damaged = folder / labels_name
        np.save(damaged, labels[:-1] if damage == "labels_short" else labels + 10)
    with pytest.raises(UserError) as info:
        load_jpeg_test_set(folder, "paper", create_if_missing=True)
    message = str(info.value)
    assert str(damaged) in message and "delete" in message
    assert "ds_cifar10_compression_test.py" in message and "\n" not in message


def test_jpeg_stack_batches_hold_the_10_versions_of_each_image_in_consecutive_rows(stack_folder):
    stacks, labels = load_jpeg_test_set(stack_folder, "paper", create_if_missing=False)
    batches = JpegStackBatches(stacks, labels, 16, "cpu")
    assert len(batches) == 3
    out = list(batches)
    assert [tuple(x.shape) for x, _ in out] == [(160, 3, 32, 32)] * 2 + [(80, 3, 32, 32)]
    assert all(x.is_contiguous(memory_format=torch.channels_last) for x, _ in out)
    x = torch.cat([x for x, _ in out])
    y = torch.cat([y for _, y in out])
    assert y.dtype == torch.int64 and torch.equal(y, torch.from_numpy(labels))
    # Row 10 i + v is version v of image i, normalised exactly like the test set.
    flat = np.asarray(stacks).reshape(-1, 32, 32, 3)
    expected = torch.cat([xb for xb, _ in EvalBatches(flat, np.zeros(len(flat)), 100, "cpu")])
    assert torch.equal(x, expected)
    x_nchw, _ = next(iter(JpegStackBatches(stacks, labels, 16, "cpu", channels_last=False)))
    assert x_nchw.is_contiguous() and torch.equal(x_nchw, expected[:160])
    with pytest.raises(ValueError):
        JpegStackBatches(stacks[:, :9], labels, 16, "cpu")
