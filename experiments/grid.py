"""The declaration of the paper's three experiments (and exp_12, the paper's exp_10 on
CIFAR-100), as data (docs/reference.md §3): their
grids and recipes, run names (§4), where each profile writes, and the command lines of
their exe scripts that hints print. The runs a launcher makes of a grid are
experiments.launching.runs; the robustness tests are declared in
experiments.robustness_suite.

`paper` reproduces the paper under experiments/<exp>/; `smoke` is a few-minute check of
the whole flow (one seed, the smallest size, a few epochs on a subset) under
experiments/<exp>/smoke/, so it never touches a real reproduction.
"""
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

import config
from run_folder import EXP_DATA

RESNET_RECIPE = dict(lr=0.1, wd=1e-4, mom=0.9, bs=128, opt="SGD", opt_kw=None,
                     epochs=200, fixed_steps=[100, 150])
DENSENET_RECIPE = dict(lr=0.1, wd=1e-4, mom=0.9, bs=64, opt="SGD", opt_kw="nesterov: True;",
                       epochs=300, fixed_steps=[150, 225])
DENSENET_GROWTH_RATE = 12

PROFILES = ("paper", "smoke")

# What `--profile smoke` changes in the recipe and the grid: enough training to learn
# (well below chance's 90 % test error: about 300 SGD steps), in a few minutes per model
# on a 2-core CPU (8 epochs of 5,000 images are 40,000 images: 100 to 270 s for Min-Net
# N=3 at the 150 to 400 img/s such a CPU gives). The learning rate drops tenfold at half
# and three quarters of the epochs, as in the paper's recipes. On smaller data sets the
# subsets are the whole set.
SMOKE = dict(epochs=8, fixed_steps=[4, 6], train_subset=5000, test_subset=1000)
# ... and in the robustness tests: the first 100 images of every CIFAR-10-C severity
# (9,500 predictions per run instead of 950,000), and AutoAttack's cheapest attack on 32
# test images at two radii, so that each takes a minute or two per model on a CPU.
SMOKE_ROBUSTNESS = dict(corruption_subset=100, adversarial_images=32,
                        adversarial_eps=(1, 8), adversarial_attacks="apgd-ce")

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
    dataset: str = "cifar_10"  # opt.json's `dataset` of its runs (datasets.catalog)

    def points(self):
        """Every (model_type, size, seed) of the grid, in the grid's order: models, then
        sizes, then seeds. The one place that walks the grid; the launchers and every
        evaluation go through it."""
        for model_type in self.models:
            for size in self.sizes:
                for seed in self.seeds:
                    yield model_type, size, seed

    def display_name(self, model_type: str) -> str:
        """The model's name in the paper's tables ("Min-Net"); its type where it has none."""
        return DISPLAY_NAMES.get(model_type, model_type)

    @property
    def size_label(self) -> str:
        """What the size is called in this family: blocks per stack N, or DenseNet depth L."""
        return "L" if self.family == "densenet" else "N"

    def run_name(self, model_type: str, size: int, seed: int) -> str:
        if self.family == "densenet":
            return f"{model_type}_k{DENSENET_GROWTH_RATE}_L{size}_s{seed}"
        return f"{model_type}_s{seed}_N{size}"

    def model_kw(self, size: int) -> str:
        """The model_kw string exactly as the authors wrote it in opt.json (the keys in
        their order), written by the one writer of that format."""
        from model_kw import format_model_kw

        if self.family == "densenet":
            return format_model_kw(dict(stride=1, growth_rate=DENSENET_GROWTH_RATE,
                                        n_blocks=size, efficient=True, compression=0.5,
                                        k=3, q=2))
        return format_model_kw(dict(q=2, k=3, N=size))

    def for_profile(self, profile: str) -> "Experiment":
        """The grid a profile runs: the smoke profile's is one seed and the smallest size."""
        if profile == "smoke":
            return replace(self, seeds=self.seeds[:1], sizes=(min(self.sizes),))
        return self

    def evaluated_grid(self, profile: str, base_folder) -> "Experiment":
        """The grid an evaluation of `profile` covers in `base_folder`: the paper profile's
        whole grid; the smoke grid widened by the seeds and sizes of the paper's grid that
        have a run folder there, so smoke runs trained with --seeds / --sizes count too."""
        grid = self.for_profile(profile)
        if profile != "smoke":
            return grid
        exp_data = Path(base_folder) / EXP_DATA
        present = {p.name for p in exp_data.iterdir()} if exp_data.is_dir() else set()
        found = [(size, seed) for model_type, size, seed in self.points()
                 if self.run_name(model_type, size, seed) in present]
        sizes = set(grid.sizes) | {size for size, _ in found}
        seeds = set(grid.seeds) | {seed for _, seed in found}
        return replace(grid, seeds=tuple(s for s in self.seeds if s in seeds),
                       sizes=tuple(n for n in self.sizes if n in sizes))

    def base_folder(self, profile: str = "paper") -> Path:
        folder = config.EXPERIMENTS_FOLDER / self.name
        if profile == "smoke":
            return folder / "smoke"
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
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

# Beyond the paper: exp_10's models, sizes, seeds and ResNet recipe on CIFAR-100, to ask
# whether the Min-Net's lower error holds on another data set (100 classes, 500 training
# images each).
EXP_12 = Experiment(
    name="exp_12", family="resnet",
    models=EXP_10.models, sizes=EXP_10.sizes, seeds=EXP_10.seeds, recipe=RESNET_RECIPE,
    dataset="cifar_100")

# The paper's, whose runs the authors published (all on CIFAR-10).
PAPER_EXPERIMENTS = {e.name: e for e in (EXP_10, EXP_10_1, EXP_11_1)}
EXPERIMENTS = {**PAPER_EXPERIMENTS, EXP_12.name: EXP_12}


# ------------------------------------------------------------ the commands hints print
# A hint must work when followed: it names the experiment's own script, and repeats
# --profile smoke and --base_folder when the user's command had them, so that the command
# acts on the folder in question (the smoke hint must not start the paper's 200-epoch grid).

# The exe_ scripts every experiment has; a robustness test declares its own
# (experiments.robustness_suite).
SCRIPTS = {
    "train": "experiments/{name}/exe_train_{name}.py",
    "eval": "experiments/{name}/exe_eval_{name}.py",
}
MOVE_AUTHORS_RUNS = "python exe_move_models_to_exp_folder.py"


def command(experiment, script: str, profile: str = "paper", base_folder=None, *options) -> str:
    """`python <script> [--profile smoke] [--base_folder B] [options]`: `script` is
    "train", "eval" or an exe script's path from the repository root; the base folder
    only when it is not the profile's own."""
    words = ["python", SCRIPTS[script].format(name=experiment.name)
             if script in SCRIPTS else script]
    if profile != "paper":
        words += ["--profile", profile]
    if base_folder is not None and \
            Path(base_folder).resolve() != experiment.base_folder(profile).resolve():
        words += ["--base_folder", str(base_folder)]
    words += list(options)
    return shlex.join(words)


def infer_profile(experiment, base_folder) -> str:
    """'smoke' when `base_folder` is the experiment's smoke folder, else 'paper' (for a
    caller that did not say which profile it evaluates)."""
    smoke = experiment.base_folder("smoke").resolve()
    return "smoke" if Path(base_folder).resolve() == smoke else "paper"
