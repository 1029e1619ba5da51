"""experiments/evaluating/calibration.py: the expected calibration error against
torchmetrics' on the same predictions, and an over-confident model against the same model
with tempered logits (the session's trained ResNet, through the per-run prediction code)."""
import numpy as np
import pytest
import torch

from datasets.cifar10 import load_cifar10
from datasets.loader import Normalize
from experiments.evaluating import calibration
from helpers import blended
from robustness.corruptions import predict_with_confidence
from robustness.per_run_script import trained_model


def ours_and_torchmetrics(probabilities: torch.Tensor, labels: torch.Tensor) -> tuple:
    # Imported here, not when pytest collects the file (1.2 s, in every test worker).
    from torchmetrics.functional.classification import multiclass_calibration_error

    confidence, predicted = probabilities.max(1)
    ours = calibration.expected_calibration_error(confidence.numpy(),
                                                  (predicted == labels).numpy())
    theirs = multiclass_calibration_error(probabilities, labels, num_classes=10, n_bins=15,
                                          norm="l1")
    return ours, float(theirs)


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0, 60.0])
def test_our_ece_is_torchmetrics_on_the_same_predictions(scale):
    generator = torch.Generator().manual_seed(int(scale * 10))
    logits = torch.randn(5000, 10, generator=generator) * scale
    labels = torch.randint(0, 10, (5000,), generator=generator)
    labels[:2500] = logits[:2500].argmax(1)              # half right, half by chance
    probabilities = torch.softmax(logits, 1)
    ours, theirs = ours_and_torchmetrics(probabilities, labels)
    assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-7)
    if scale == 60.0:       # saturated: confidences of exactly 1 have their own slot
        assert (probabilities.max(1).values == 1).sum() > 100


def test_confidences_on_the_bin_boundaries_fall_where_torchmetrics_puts_them():
    boundaries = torch.linspace(0, 1, 16)
    confidence = torch.cat([boundaries[1:], boundaries[1:] - 1e-7, boundaries[1:] + 1e-7])
    confidence = confidence.clamp(0.1, 1)
    rest = (1 - confidence) / 9
    probabilities = torch.cat([confidence[:, None], rest[:, None].expand(-1, 9)], 1)
    labels = torch.arange(len(confidence)) % 2           # every other one right
    ours, theirs = ours_and_torchmetrics(probabilities, labels)
    assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-7)
    counts, _, _ = calibration.calibration_bins(confidence.numpy(), labels.numpy() == 0)
    assert counts.sum() == len(confidence) and counts[-1] == (confidence == 1).sum() == 2


@pytest.mark.parametrize("n_bins", [5, 10, 15, 20, 100, 1000])
def test_our_bin_edges_are_torchs_bit_for_bit(n_bins):
    """The evaluation bins without importing torch: its edges are torch.linspace's, which
    torchmetrics bins with (np.linspace gives six of the 16 edges of 15 bins one bit off)."""
    edges = calibration.bin_edges(n_bins)
    assert edges.dtype == np.float32
    assert np.array_equal(edges, torch.linspace(0, 1, n_bins + 1).numpy())
    if n_bins == 15:
        assert not np.array_equal(edges, np.linspace(0, 1, 16).astype(np.float32))


def test_perfectly_calibrated_predictions_have_an_ece_near_zero():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.1, 1, 200_000)
    correct = rng.uniform(size=confidence.shape) < confidence
    assert calibration.expected_calibration_error(confidence, correct) < 0.005
    assert calibration.expected_calibration_error(np.ones(10), np.zeros(10)) == 1.0


class Scaled(torch.nn.Module):
    """A model whose logits are multiplied by `factor` (> 1: over-confident; < 1: tempered)."""

    def __init__(self, model, factor):
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x):
        return self.model(x) * self.factor


def test_an_over_confident_model_has_a_larger_ece_than_its_tempered_self(trained_resnet,
                                                                        cifar_folder):
    model = trained_model(trained_resnet.folder, "cpu")
    images, labels = load_cifar10("test", cifar_folder)
    images = blended(images, 0.6, seed=0)       # a shift, so that the model errs
    predicted, _ = predict_with_confidence(model, images, "cpu", 100)
    accuracy = (predicted == labels).mean()
    assert 0.2 < accuracy < 0.9, accuracy
    # The temperature of least negative log-likelihood (Guo et al. 2017), on a grid.
    with torch.no_grad():
        logits = model(Normalize("cpu")(torch.from_numpy(images), channels_last=True)).double()
    nll = {t: float(torch.nn.functional.cross_entropy(logits / t, torch.from_numpy(labels)))
           for t in np.geomspace(0.05, 20, 120)}
    temperature = min(nll, key=nll.get)
    ece = {}
    for name, factor in (("over-confident", 10.0), ("tempered", 1 / temperature)):
        predicted, confidence = predict_with_confidence(Scaled(model, factor), images, "cpu", 100)
        ece[name] = calibration.ece_percent(confidence, predicted, labels)
        probabilities = torch.softmax(logits * factor, 1).float()
        assert ece[name] / 100 == pytest.approx(
            ours_and_torchmetrics(probabilities, torch.from_numpy(labels))[1], abs=1e-3)
    assert ece["over-confident"] > ece["tempered"] + 5, (ece, temperature, accuracy)


def test_pooled_bins_are_the_bins_of_all_images_together():
    rng = np.random.default_rng(1)
    parts = [(rng.uniform(0, 1, n), rng.uniform(size=n) < 0.5) for n in (50, 70)]
    pooled = calibration.pooled_bins(
        [calibration.calibration_bins(c, k) for c, k in parts])
    together = calibration.calibration_bins(np.concatenate([c for c, _ in parts]),
                                            np.concatenate([k for _, k in parts]))
    for a, b in zip(pooled, together):
        np.testing.assert_allclose(a, b)
