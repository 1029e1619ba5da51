"""robustness/corruptions.py: the per-run corruption predictions of a fixed classifier (resume,
redo, the same numbers as a plain loop).
"""

import numpy as np
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
    corruptions.write_predictions(output, N, done["labels"], marked)
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
