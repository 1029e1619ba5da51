"""A trained model that takes images in [0, 1] (robustness/adversarial.py attacks it), so
that an attack's eps is measured in pixel units (1/255 = one grey level)."""
import torch

from datasets.catalog import CIFAR10_MEAN as MEAN, CIFAR10_STD as STD


class NormalizedModel(torch.nn.Module):
    """A trained model that takes NCHW float images in [0, 1]: the training normalisation
    (CIFAR-10's mean and std unless given) happens inside, and the model stays in eval
    mode (batch-norm statistics fixed)."""

    def __init__(self, model: torch.nn.Module, mean=MEAN, std=STD):
        super().__init__()
        self.model = model
        device = next(model.parameters()).device
        self.register_buffer("mean", torch.tensor(mean, device=device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, device=device).view(1, 3, 1, 1))
        self.eval()

    def train(self, mode: bool = True):
        # An attack must never update batch-norm statistics: always eval mode.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        return self.model(x)
