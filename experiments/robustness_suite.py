"""The robustness tests of exp_10 and exp_11_1, one declaration each: everything about a
test that the rest of the house needs, in one place. experiments/cli.robustness_tests runs
every test the same way from it, and the test's evaluation module reads its own
declaration for the hints and the report (docs/adding_a_robustness_test.md).

- JPEG compression, the paper's test (docs/reference.md §5);
- common corruptions, CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019);
- adversarial attacks, AutoAttack (Croce & Hein, ICML 2020);
- a new test set, CIFAR-10.1 (Recht et al. 2018), beside CIFAR-10's own.
"""
import importlib
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import config
from datasets import needs
from experiments import grid
from experiments.launching import prediction_kinds as kinds
from robustness import jpeg as predictions


@dataclass(frozen=True)
class RobustnessTest:
    name: str               # "corruption": the word in its exe scripts' names
    title: str              # "Common-corruption test (CIFAR-10-C)", for --help
    script: str             # its per-run script, at the repository root
    output_folder: str      # B/<output_folder>/: its per-run files
    files: str              # what they are called in messages: "corruption prediction files"
    sections: tuple         # its section files in B, in report.md's order
    exe_scripts: dict       # experiment name -> its exe script, from the repository root
    add_options: Callable   # (parser) -> None: the test's own options
    kind: Callable          # (args) -> jobs.PredictionKind: the per-run job
    prepare: Callable       # (args) -> None: once, before the jobs (data, downloads)
    # (args has `dataset`, the experiment's data set: cli sets it)
    evaluation: str         # "module:function" of its evaluation (below)
    # (args) -> the evaluation's options besides the experiment, B and the profile
    evaluation_options: Callable = field(default=lambda args: {})
    published_by_authors: bool = False   # the authors published files of this test
    evaluated_options: tuple = ()        # its options that its evaluation uses too
    # (args) -> lines (datasets.needs) on the data it needs besides CIFAR-10, for --dry-run
    data_needs: Callable = field(default=lambda args: [])

    def command(self, experiment, profile: str = "paper", base_folder=None, *options) -> str:
        """The command line of this test's exe script for `experiment` (for hints)."""
        return grid.command(experiment, self.exe_scripts[experiment.name], profile,
                            base_folder, *options)

    def prediction_command(self, experiment, profile: str, base_folder, *options) -> str:
        """The hint that computes missing per-run files (with the test's `options`)."""
        return " ".join([self.command(experiment, profile, base_folder), "--run-predictions",
                         *options])

    def evaluate(self, experiment, base_folder, args) -> int:
        """The evaluation: `function(experiment, B, profile=..., **evaluation_options)`,
        found by name so that the evaluation module may read this declaration."""
        module, function = self.evaluation.split(":")
        evaluate = getattr(importlib.import_module(module), function)
        return evaluate(experiment, base_folder, profile=args.profile,
                        **self.evaluation_options(args))


def smoke(args) -> bool:
    return args.profile == "smoke"


def exe_scripts(name: str, cifar_100: bool = True) -> dict:
    """The exe scripts of a test in exp_10, exp_11_1 (the JPEG ones keep the authors' names,
    the others follow them) and, unless not `cifar_100`, exp_12."""
    scripts = {"exp_10": f"experiments/exp_10/exe_exp10_{name}_tests.py",
               "exp_11_1": f"experiments/exp_11_1/exe_exp_11_1_{name}_tests.py"}
    if cifar_100:
        scripts["exp_12"] = f"experiments/exp_12/exe_exp_12_{name}_tests.py"
    return scripts


# ------------------------------------------------------------------------------ JPEG

def _jpeg_options(parser):
    from datasets.jpeg import PROTOCOLS

    parser.add_argument("--protocol", choices=PROTOCOLS, default="paper",
                        help="paper: the authors' JPEG test set (docs/reference.md §5); rgb: "
                             "standard RGB JPEGs, with their own test set, prediction files "
                             "and tables")


def _jpeg_prepare(args):
    """Create the JPEG test set once, here, rather than in every parallel job."""
    import config
    from datasets import jpeg

    if not all(path.is_file() for path in jpeg.stack_paths(None, args.protocol, args.dataset)):
        print(f"creating the JPEG test set ({args.protocol} protocol) in "
              f"{config.DATA_FOLDER}", flush=True)
        jpeg.create_jpeg_test_set(protocol=args.protocol, dataset=args.dataset)


JPEG = RobustnessTest(
    name="jpeg", title="JPEG robustness test", script="run_jpeg_robustness_test.py",
    output_folder=predictions.OUTPUT_FOLDERS["paper"], files="JPEG prediction files",
    sections=("jpeg_results.md", "jpeg_results_rgb.md"), exe_scripts=exe_scripts("jpeg"),
    add_options=_jpeg_options,
    kind=lambda args: jpeg(args.protocol, grid.SMOKE["test_subset"] if smoke(args) else None,
                           args.dataset),
    prepare=_jpeg_prepare, evaluation="experiments.evaluating.jpeg:evaluate_jpeg",
    evaluation_options=lambda args: dict(protocol=args.protocol), published_by_authors=True,
    evaluated_options=("protocol",),
    data_needs=lambda args: [needs.jpeg_line(args.protocol, dataset=args.dataset)])


# ------------------------------------------------------------------- common corruptions

def _corruption_options(parser):
    from datasets.cifar10c import CORRUPTIONS

    parser.add_argument("--corruptions", nargs="+", choices=CORRUPTIONS, default=None,
                        metavar="NAME", help="predict only these corruptions (default: every "
                                             "file in DATA_FOLDER/CIFAR-10-C; exp_12: -100-C)")


def _corruption_prepare(args):
    """Once, here: download CIFAR-10-C (CIFAR-100-C; 2.9 GB) when it is missing, or, for
    the smoke profile without CIFAR-10-C, build its offline stand-in (datasets.
    corruption_stand_in; CIFAR-100-C has none)."""
    from datasets import cifar10c
    from datasets.corruption_stand_in import prepare_corruption_data

    if args.dataset != "cifar_10":
        cifar10c.ensure_cifar10c(dataset=args.dataset)
    else:
        prepare_corruption_data(smoke(args), grid.SMOKE_ROBUSTNESS["corruption_subset"])


def _corruption_kind(args):
    from datasets.corruption_stand_in import corruption_data

    subset = grid.SMOKE_ROBUSTNESS["corruption_subset"] if smoke(args) else None
    if args.dataset != "cifar_10":
        return corruption(subset, args.corruptions, dataset=args.dataset)
    return corruption(subset, args.corruptions, corruption_data(smoke(args), args.corruptions))


CORRUPTIONS = RobustnessTest(
    name="corruption", title="Common-corruption test (CIFAR-10-C; exp_12: CIFAR-100-C)",
    script="run_corruption_test.py", output_folder="corruption_predictions",
    files="corruption prediction files", sections=("corruption_results.md",),
    exe_scripts=exe_scripts("corruption"), add_options=_corruption_options,
    kind=_corruption_kind, prepare=_corruption_prepare,
    evaluation="experiments.evaluating.corruptions:evaluate_corruptions",
    data_needs=lambda args: [needs.cifar10c_line(smoke(args), dataset=args.dataset)])


# --------------------------------------------------------------------------- AutoAttack

def _adversarial_options(parser):
    from robustness.adversarial import ATTACK_CHOICES, DEFAULT_EPS_255, DEFAULT_N_IMAGES, NORMS
    from robustness.per_run_script import positive_eps

    smoke_ = grid.SMOKE_ROBUSTNESS
    parser.add_argument("--norm", choices=NORMS, default="Linf", help="threat model (default Linf)")
    parser.add_argument("--attacks", choices=ATTACK_CHOICES, default=None,
                        help="AutoAttack's standard version (default) or APGD-CE alone "
                             f"(cheaper; the smoke profile's: {smoke_['adversarial_attacks']})")
    parser.add_argument("--eps", type=positive_eps, nargs="+", default=None,
                        help="radii in units of 1/255 (default: Linf "
                             f"{' '.join(f'{e:g}' for e in DEFAULT_EPS_255['Linf'])}; L2 "
                             f"{' '.join(f'{e:g}' for e in DEFAULT_EPS_255['L2'])}; smoke: "
                             f"{' '.join(map(str, smoke_['adversarial_eps']))})")
    parser.add_argument("--n-images", dest="n_images", type=int, default=None,
                        help=f"attack the first N test images, the same for every run (default "
                             f"{DEFAULT_N_IMAGES}; smoke: {smoke_['adversarial_images']})")
    parser.add_argument("--attack-seed", dest="attack_seed", type=int, default=0,
                        help="AutoAttack's random seed (default 0)")


def _adversarial_kind(args):
    from robustness.adversarial import DEFAULT_EPS_255, DEFAULT_N_IMAGES, AttackSettings

    smoke_ = grid.SMOKE_ROBUSTNESS if smoke(args) else {}
    settings = AttackSettings(
        norm=args.norm,
        attacks=args.attacks or smoke_.get("adversarial_attacks", "standard"),
        # `is None`, not `or`: --n-images 0 is refused by AttackSettings, not replaced.
        n_images=(smoke_.get("adversarial_images", DEFAULT_N_IMAGES) if args.n_images is None
                  else args.n_images),
        seed=args.attack_seed)
    eps = args.eps or smoke_.get("adversarial_eps") or DEFAULT_EPS_255[args.norm]
    return adversarial(settings, tuple(eps), args.dataset)


def _adversarial_prepare(args):
    from datasets import catalog

    catalog.data_set(args.dataset).ensure()


ADVERSARIAL = RobustnessTest(
    name="adversarial", title="Adversarial robustness test (AutoAttack)",
    script="run_adversarial_test.py", output_folder="adversarial_predictions",
    files="adversarial result files", sections=("adversarial_results.md",),
    exe_scripts=exe_scripts("adversarial"), add_options=_adversarial_options,
    kind=_adversarial_kind, prepare=_adversarial_prepare,
    evaluation="experiments.evaluating.adversarial:evaluate_adversarial")


# ------------------------------------------------------------------------- CIFAR-10.1

def _cifar101_prepare(args):
    from datasets.cifar10 import ensure_cifar10
    from datasets.cifar101 import ensure_cifar101

    ensure_cifar10()
    ensure_cifar101()   # downloads its two files (6 MB) once, here, when they are missing


CIFAR101 = RobustnessTest(
    name="cifar101", title="CIFAR-10.1 test (a new test set)", script="run_cifar101_test.py",
    output_folder="cifar101_predictions", files="CIFAR-10.1 prediction files",
    # Not exp_12's: CIFAR-10.1 is a new test set of CIFAR-10's classes.
    sections=("cifar101_results.md",), exe_scripts=exe_scripts("cifar101", cifar_100=False),
    add_options=lambda parser: None,
    kind=lambda args: cifar101(grid.SMOKE["test_subset"] if smoke(args) else None),
    prepare=_cifar101_prepare, evaluation="experiments.evaluating.cifar101:evaluate_cifar101",
    data_needs=lambda args: [needs.cifar101_line()])


# The per-run job of each test (experiments.launching.prediction_kinds), with its script.
jpeg = partial(kinds.jpeg, JPEG.script)
corruption = partial(kinds.corruption, CORRUPTIONS.script)
adversarial = partial(kinds.adversarial, ADVERSARIAL.script)
cifar101 = partial(kinds.cifar101, CIFAR101.script)


TESTS = (JPEG, CORRUPTIONS, ADVERSARIAL, CIFAR101)


def report_tests(experiment, base_folder, profile: str) -> tuple:
    """(title, section files, the command that runs it) of each test of `experiment`:
    report.md names those without a section (rendering.report.write_report)."""
    return tuple((test.title, test.sections,
                  test.prediction_command(experiment, profile, base_folder))
                 for test in TESTS if experiment.name in test.exe_scripts)


# The section files of report.md, in its order: the test errors (experiments.evaluating.
# test_error), then every test's.
REPORT_SECTIONS = ("results.md",) + tuple(name for test in TESTS for name in test.sections)
