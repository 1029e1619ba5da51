"""robustness/corruptions.py: the per-run corruption predictions of a fixed classifier (resume,
redo, the same numbers as a plain loop).
"""

import numpy as np
import pytest
import torch

from datasets import cifar10c
from datasets.loader import Normalize
from helpers import C_N as N, NearestClassMean
from robustness import corruptions


def test_error_grows_with_severity(folder_c, c_data, tmp_path):
    model = NearestClassMean(*c_data[:2]).eval()
    output = tmp_path / "B" / "corruption_predictions" / "run.npz"
    errors = corruptions.predict_corruptions(model, folder_c, output, "cpu", batch_size=64,
                                             log=lambda line: None)
    assert set(errors) == {"gaussian_noise", "fog"}
    rows = corruptions.errors_by_severity(corruptions.read_predictions(output))
    for name in errors:
        curve = [r["er"] for r in rows if r["corruption"] == name]
        assert len(curve) == 5 and curve[0] < 20 and curve[-1] > 50, curve
        assert curve == sorted(curve), curve


def test_predictions_match_a_plain_per_image_loop(folder_c, c_data, tmp_path):
    model = NearestClassMean(*c_data[:2]).eval()
    images = np.array(cifar10c.open_corruption(folder_c, "fog", N))
    fast = corruptions.predict_images(model, images, "cpu", batch_size=37)
    normalize = Normalize("cpu")
    with torch.no_grad():
        slow = [int(model(normalize(torch.from_numpy(im[None]), False)).argmax())
                for im in images]
    assert fast.dtype == np.uint8 and fast.tolist() == slow


def test_an_interrupted_job_resumes_with_the_missing_corruptions(folder_c, c_data, tmp_path):
    model = NearestClassMean(*c_data[:2]).eval()
    output = tmp_path / "run.npz"
    corruptions.predict_corruptions(model, folder_c, output, "cpu", corruptions=["fog"],
                                    log=lambda line: None)
    done = corruptions.read_predictions(output)
    assert list(done["predictions"]) == ["fog"]
    # Marks the finished corruption: if it were computed again, the mark would be lost.
    marked = dict(done["predictions"], fog=np.zeros(5 * N, np.uint8))
    corruptions.write_predictions(output, N, done["labels"], marked,
                                  confidences=done["confidences"])
    computed = []
    corruptions.predict_corruptions(model, folder_c, output, "cpu", log=computed.append)
    final = corruptions.read_predictions(output)
    assert len(computed) == 1 and computed[0].startswith("gaussian_noise")
    assert not final["predictions"]["fog"].any()
    assert set(final["predictions"]) == {"fog", "gaussian_noise"}


def test_an_unusable_file_is_computed_again(folder_c, c_data, tmp_path, capsys):
    model = NearestClassMean(*c_data[:2]).eval()
    output = tmp_path / "run.npz"
    output.write_bytes(b"not an npz")
    corruptions.predict_corruptions(model, folder_c, output, "cpu", log=lambda line: None)
    assert set(corruptions.read_predictions(output)["predictions"]) == {"fog", "gaussian_noise"}
    assert "cannot be read" in capsys.readouterr().err
    # A file of a subset is made on other images: computed again for the full set.
    # (Fewer images replace more only when asked to.)
    corruptions.predict_corruptions(model, folder_c, output, "cpu", subset=5, log=lambda l: None,
                                    replace_larger=True)
    small = corruptions.read_predictions(output)
    assert small["n"] == 5 and small["predictions"]["fog"].shape == (25,)
    assert "other images" in capsys.readouterr().err


# ------------------------------------------------- confidences, for calibration (issue 22)

def test_the_file_keeps_each_images_softmax_confidence(folder_c, c_data, tmp_path):
    model = NearestClassMean(*c_data[:2]).eval()
    output = tmp_path / "run.npz"
    corruptions.predict_corruptions(model, folder_c, output, "cpu", batch_size=50,
                                    log=lambda line: None)
    found = corruptions.read_predictions(output)
    images = np.array(cifar10c.open_corruption(folder_c, "fog", N))
    with torch.no_grad():
        probabilities = torch.softmax(model(Normalize("cpu")(torch.from_numpy(images), False)), 1)
    assert found["confidences"]["fog"].dtype == np.float32
    np.testing.assert_allclose(found["confidences"]["fog"], probabilities.max(1).values.numpy(),
                               rtol=1e-5)
    assert found["predictions"]["fog"].tolist() == probabilities.argmax(1).tolist()


def test_corruptions_without_confidences_are_read_and_predicted_again(folder_c, c_data,
                                                                      tmp_path):
    """A file from before confidences were kept: it reads (no confidences), and the next
    job computes again the corruptions asked for, keeping the others as they were."""
    model = NearestClassMean(*c_data[:2]).eval()
    output = tmp_path / "run.npz"
    corruptions.predict_corruptions(model, folder_c, output, "cpu", log=lambda line: None)
    done = corruptions.read_predictions(output)
    old = dict(done["predictions"], gaussian_noise=np.zeros(5 * N, np.uint8))
    corruptions.write_predictions(output, N, done["labels"], old)
    assert corruptions.read_predictions(output)["confidences"] == {}
    computed = []
    corruptions.predict_corruptions(model, folder_c, output, "cpu", corruptions=["fog"],
                                    log=computed.append)
    final = corruptions.read_predictions(output)
    assert len(computed) == 1 and computed[0].startswith("fog")
    assert set(final["confidences"]) == {"fog"}
    assert not final["predictions"]["gaussian_noise"].any()     # kept, not recomputed


def test_a_confidence_outside_0_1_is_a_bad_file(tmp_path):
    labels = np.zeros(10, np.uint8)
    output = tmp_path / "run.npz"
    corruptions.write_predictions(output, 2, labels, {"fog": labels},
                                  confidences={"fog": np.full(10, 1.5)})
    with pytest.raises(corruptions.BadCorruptionPredictions, match="fog_confidence"):
        corruptions.read_predictions(output)
