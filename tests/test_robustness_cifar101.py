"""robustness/cifar101.py: one run's CIFAR-10.1 and CIFAR-10 test predictions with their
confidences (the same numbers as a plain loop, resume, redo, what the launcher accepts)."""
import numpy as np
import pytest
import torch

from datasets import cifar101 as dataset
from datasets.cifar10 import load_cifar10
from datasets.loader import Normalize
from errors import UserError
from helpers import NearestClassMean
from robustness import cifar101
from robustness_runs import trained_run


@pytest.fixture
def model(data101):
    return NearestClassMean(*load_cifar10("train", data101)).eval()


def predict(model, data, output, **options):
    test_images, test_labels = load_cifar10("test", data)
    return cifar101.predict_cifar101(model, dataset.cifar101_folder(data), output, "cpu",
                                     test_images, test_labels, batch_size=16,
                                     log=options.pop("log", lambda line: None), **options)


def test_predictions_and_confidences_match_a_plain_loop(model, data101, tmp_path):
    output = tmp_path / "run.npz"
    errors = predict(model, data101, output)
    found = cifar101.read_predictions(output)
    for name, (images, labels) in (("cifar101", dataset.load_cifar101(data101 / dataset.FOLDER)),
                                   ("cifar10", load_cifar10("test", data101))):
        with torch.no_grad():
            p = torch.softmax(model(Normalize("cpu")(torch.from_numpy(np.array(images)), False)), 1)
        part = found["sets"][name]
        assert part["labels"].tolist() == labels.tolist()
        assert part["predicted"].tolist() == p.argmax(1).tolist()
        np.testing.assert_allclose(part["confidence"], p.max(1).values.numpy(), rtol=1e-5)
        assert errors[name] == pytest.approx(100 * (p.argmax(1).numpy() != labels).mean())
    assert found["record"] is None       # no weights given, no record


def test_an_interrupted_job_computes_only_the_missing_test_set(model, data101, tmp_path):
    output = tmp_path / "run.npz"
    predict(model, data101, output, weights="sha256:w")
    found = cifar101.read_predictions(output)
    # As a job killed after CIFAR-10.1: only that set, marked (a recomputation would lose it).
    marked = dict(found["sets"]["cifar101"], predicted=np.zeros(30, np.uint8))
    cifar101.write_predictions(output, {"cifar101": marked}, found["record"])
    computed = []
    predict(model, data101, output, weights="sha256:w", log=computed.append)
    final = cifar101.read_predictions(output)
    assert len(computed) == 1 and computed[0].startswith("CIFAR-10:")
    assert not final["sets"]["cifar101"]["predicted"].any()
    assert set(final["sets"]) == {"cifar101", "cifar10"}
    # Other weights: both computed again, with a warning.
    predict(model, data101, output, weights="sha256:other", log=computed.append)
    assert len(computed) == 3 and cifar101.read_predictions(output)["sets"]["cifar101"][
        "predicted"].any()


def test_a_subset_never_replaces_more_images_unless_asked(model, data101, tmp_path):
    output = tmp_path / "run.npz"
    predict(model, data101, output, weights="sha256:w")
    full = output.read_bytes()
    with pytest.raises(UserError, match="--replace-larger"):
        predict(model, data101, output, weights="sha256:w", subset=10)
    assert output.read_bytes() == full
    predict(model, data101, output, weights="sha256:w", subset=10, replace_larger=True)
    found = cifar101.read_predictions(output)
    assert [len(p["labels"]) for p in found["sets"].values()] == [10, 10]
    # The ten of CIFAR-10.1 are spread over its class-ordered file.
    assert len(set(found["sets"]["cifar101"]["labels"])) > 5


def test_a_model_of_other_classes_is_refused_in_one_line(data101, tmp_path):
    with pytest.raises(UserError) as error:
        predict(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 100)), data101,
                tmp_path / "run.npz")
    assert "100 outputs" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run.npz").exists()


@pytest.mark.parametrize("damage, why", [
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "truncated"),
    (lambda p: np.savez(p, cifar101_labels=np.zeros(3, np.uint8)), "lacks some"),
    (lambda p: np.savez(p, cifar10_labels=np.zeros(3, np.uint8),
                        cifar10_predicted=np.zeros(3, np.uint8),
                        cifar10_confidence=np.full(3, 2, np.float32)), "outside 0-1"),
])
def test_a_bad_file_says_why(tmp_path, damage, why):
    path = tmp_path / "run.npz"
    path.write_bytes(b"")
    damage(path)
    with pytest.raises(cifar101.BadCifar101Predictions, match=why):
        cifar101.read_predictions(path)


def test_the_launcher_accepts_only_a_complete_file_of_these_weights_data_and_images(
        data101, tmp_path):
    run = trained_run(tmp_path / "run")
    from robustness.per_run_script import trained_model
    from robustness.provenance import weights_fingerprint

    output = tmp_path / "run.npz"
    folder = dataset.cifar101_folder(data101)
    predict(trained_model(run, "cpu"), data101, output, weights=weights_fingerprint(run))
    cifar101.check_usable(output, run, folder, None)
    with pytest.raises(UserError, match="made on all images per test set, not 10: its job "
                                        "refuses"):
        cifar101.check_usable(output, run, folder, 10)
    found = cifar101.read_predictions(output)
    cifar101.write_predictions(output, {"cifar101": found["sets"]["cifar101"]}, found["record"])
    with pytest.raises(UserError, match="lacks CIFAR-10$"):
        cifar101.check_usable(output, run, folder, None)
    trained_run(run, seed=1)        # retrained: other weights
    with pytest.raises(UserError, match="other weights"):
        cifar101.check_usable(output, run, folder, None)
