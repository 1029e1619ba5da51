"""The paper's three experiments as data (SPEC §3), their run names (SPEC §4) and where
each profile writes.

`paper` reproduces the paper under experiments/<exp>/; `smoke` is a few-minute check of
the whole flow (one seed, the smallest size, one epoch on a subset) under
experiments/<exp>/smoke/, so it never touches a real reproduction.
"""
from dataclasses import dataclass, field
from pathlib import Path

import config

RESNET_RECIPE = dict(lr=0.1, wd=1e-4, mom=0.9, bs=128, opt="SGD", opt_kw=None,
                     epochs=200, fixed_steps=[100, 150])
DENSENET_RECIPE = dict(lr=0.1, wd=1e-4, mom=0.9, bs=64, opt="SGD", opt_kw="nesterov: True;",
                       epochs=300, fixed_steps=[150, 225])
DENSENET_GROWTH_RATE = 12

# What `--profile smoke` changes in the recipe and the grid.
SMOKE = dict(epochs=1, fixed_steps=[], train_subset=2048, test_subset=1000)

# Names used in the paper's tables.
DISPLAY_NAMES = {
    "CifarMinFP-LS": "Min-Net",
    "CifarPyrResNet": "ResNet",
    "CifarResNet": "ResNet",
    "CifarDenseNet": "DenseNet",
    "CifarDenseMin": "Min-DenseNet",
}


@dataclass(frozen=True)
class Experiment:
    name: str                 # folder name under experiments/
    family: str               # "resnet" (size N) or "densenet" (depth L, growth rate 12)
    models: tuple
    sizes: tuple
    seeds: tuple
    recipe: dict = field(hash=False)

    def run_name(self, model_type: str, size: int, seed: int) -> str:
        if self.family == "densenet":
            return f"{model_type}_k{DENSENET_GROWTH_RATE}_L{size}_s{seed}"
        return f"{model_type}_s{seed}_N{size}"

    def model_kw(self, size: int) -> str:
        """The model_kw string exactly as the authors wrote it in opt.json."""
        if self.family == "densenet":
            return (f"stride: 1;growth_rate: {DENSENET_GROWTH_RATE};n_blocks: {size};"
                    "efficient: True;compression: 0.5;k: 3;q: 2;")
        return f"q: 2;k: 3;N: {size};"

    def base_folder(self, profile: str = "paper") -> Path:
        folder = config.EXPERIMENTS_FOLDER / self.name
        if profile == "smoke":
            return folder / "smoke"
        if profile != "paper":
            raise ValueError(f"unknown profile {profile!r}; use 'paper' or 'smoke'")
        return folder


EXP_10 = Experiment(
    name="exp_10", family="resnet",
    models=("CifarMinFP-LS", "CifarPyrResNet"), sizes=(3, 5, 7, 9),
    seeds=(9, 507, 723, 16, 744), recipe=RESNET_RECIPE)

EXP_10_1 = Experiment(
    name="exp_10_1", family="resnet",
    models=("CifarResNet",), sizes=(9,),
    seeds=(257, 408, 464, 82, 306, 369, 414, 443, 394, 444, 318, 343), recipe=RESNET_RECIPE)

EXP_11_1 = Experiment(
    name="exp_11_1", family="densenet",
    models=("CifarDenseNet", "CifarDenseMin"), sizes=(22, 58, 100),
    seeds=(9, 507, 723), recipe=DENSENET_RECIPE)

EXPERIMENTS = {e.name: e for e in (EXP_10, EXP_10_1, EXP_11_1)}
