"""The three robustness tests of exp_10 and exp_11_1 as declarations: what each adds to
the command line, the per-run prediction it launches, what it prepares once, and the
evaluation that turns the predictions into tables (experiments/cli.robustness_tests
runs each of them the same way).

- JPEG compression, the paper's test (docs/reference.md §5);
- common corruptions, CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019);
- adversarial attacks, AutoAttack (Croce & Hein, ICML 2020).
"""
from dataclasses import dataclass
from typing import Callable

import config
from errors import UserError
from experiments import grid
from experiments.launching.jobs import PredictionKind
from robustness import jpeg as predictions


@dataclass(frozen=True)
class RobustnessTest:
    title: str              # "JPEG robustness test", for --help
    reads: str              # where its predictions live, for --help
    script: str             # the per-run script, for --help
    add_options: Callable   # (parser) -> None: the test's own options
    kind: Callable          # (args) -> jobs.PredictionKind
    prepare: Callable       # (args) -> None: once, before the jobs (data, downloads)
    evaluate: Callable      # (grid, base_folder, args) -> exit code


def smoke(args) -> bool:
    return args.profile == "smoke"


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

    if not all(path.is_file() for path in jpeg.stack_paths(None, args.protocol)):
        print(f"creating the JPEG test set ({args.protocol} protocol) in "
              f"{config.DATA_FOLDER}", flush=True)
        jpeg.create_jpeg_test_set(protocol=args.protocol)


def _jpeg_evaluate(grid_, base_folder, args):
    from experiments.evaluating.jpeg import evaluate_jpeg

    return evaluate_jpeg(grid_, base_folder, args.protocol, profile=args.profile)


JPEG = RobustnessTest(
    title="JPEG robustness test", reads="jpeg_model_predictions/",
    script="run_jpeg_robustness_test.py", add_options=_jpeg_options,
    kind=lambda args: jpeg(
        args.protocol, grid.SMOKE["test_subset"] if smoke(args) else None),
    prepare=_jpeg_prepare, evaluate=_jpeg_evaluate)


# ------------------------------------------------------------------- common corruptions

def _corruption_options(parser):
    from datasets.cifar10c import CORRUPTIONS

    parser.add_argument("--corruptions", nargs="+", choices=CORRUPTIONS, default=None,
                        metavar="NAME", help="predict only these corruptions (default: "
                                             "every file in DATA_FOLDER/CIFAR-10-C)")


def _corruption_prepare(args):
    from datasets.cifar10c import ensure_cifar10c

    ensure_cifar10c()   # downloads it (2.9 GB) once, here, when it is missing


def _corruption_evaluate(grid_, base_folder, args):
    from experiments.evaluating.corruptions import evaluate_corruptions

    return evaluate_corruptions(grid_, base_folder, profile=args.profile)


CORRUPTIONS = RobustnessTest(
    title="Common-corruption test (CIFAR-10-C)", reads="corruption_predictions/",
    script="run_corruption_test.py", add_options=_corruption_options,
    kind=lambda args: corruption(
        grid.SMOKE_ROBUSTNESS["corruption_subset"] if smoke(args) else None, args.corruptions),
    prepare=_corruption_prepare, evaluate=_corruption_evaluate)


# --------------------------------------------------------------------------- AutoAttack

def _adversarial_options(parser):
    from robustness.adversarial import ATTACK_CHOICES, DEFAULT_EPS_255, DEFAULT_N_IMAGES, NORMS

    smoke_ = grid.SMOKE_ROBUSTNESS
    parser.add_argument("--norm", choices=NORMS, default="Linf", help="threat model (default Linf)")
    parser.add_argument("--attacks", choices=ATTACK_CHOICES, default=None,
                        help="AutoAttack's standard version (default) or APGD-CE alone "
                             f"(cheaper; the smoke profile's: {smoke_['adversarial_attacks']})")
    parser.add_argument("--eps", type=float, nargs="+", default=None,
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
        n_images=args.n_images or smoke_.get("adversarial_images", DEFAULT_N_IMAGES),
        seed=args.attack_seed)
    eps = args.eps or smoke_.get("adversarial_eps") or DEFAULT_EPS_255[args.norm]
    return adversarial(settings, tuple(eps))


def _adversarial_prepare(args):
    from datasets.cifar10 import ensure_cifar10

    ensure_cifar10()


def _adversarial_evaluate(grid_, base_folder, args):
    from experiments.evaluating.adversarial import evaluate_adversarial

    return evaluate_adversarial(grid_, base_folder, profile=args.profile)


ADVERSARIAL = RobustnessTest(
    title="Adversarial robustness test (AutoAttack)", reads="adversarial_predictions/",
    script="run_adversarial_test.py", add_options=_adversarial_options,
    kind=_adversarial_kind, prepare=_adversarial_prepare, evaluate=_adversarial_evaluate)


# --------------------------------------------------- the per-run prediction of each test
# The kinds of per-run predictions the launcher computes, each a short declaration
# (experiments.jobs.PredictionKind): the script, the output file of a run, the script's
# options. A new kind (common corruptions, adversarial attacks) is one more function here.

def jpeg(protocol: str = "paper", subset=None) -> PredictionKind:
    """The JPEG test (docs/reference.md §5): run_jpeg_robustness_test.py writes
    B/jpeg_model_predictions/<run>.npy (the rgb protocol's folder is another)."""
    def output(base_folder, run_name):
        return predictions.output_file(base_folder, run_name, protocol)

    def options(run, base_folder):
        argv = ["--model_folder", str(run.folder), "--base_folder", str(base_folder),
                "--protocol", protocol]
        return argv + (["--subset", str(subset)] if subset else [])

    return PredictionKind(label=predictions.OUTPUT_FOLDERS[protocol],
                          script=config.REPO_ROOT / "run_jpeg_robustness_test.py",
                          output=output, options=options,
                          usable=predictions.load_predictions)


def corruption(subset=None, corruptions=None) -> PredictionKind:
    """The common corruptions (CIFAR-10-C): run_corruption_test.py writes
    B/corruption_predictions/<run>.npz. A file that lacks a corruption asked for (or present
    in DATA_FOLDER/CIFAR-10-C), or was made on other images, is not usable: the job runs
    again and computes only what is missing."""
    from datasets import cifar10c
    from robustness import corruptions as predictions_of

    def options(run, base_folder):
        argv = ["--model_folder", str(run.folder), "--base_folder", str(base_folder)]
        argv += ["--subset", str(subset)] if subset else []
        return argv + (["--corruptions", *corruptions] if corruptions else [])

    def usable(path):
        found = predictions_of.read_predictions(path)
        folder = cifar10c.corruption_folder()
        wanted = corruptions or cifar10c.present_corruptions(folder)
        missing = [name for name in wanted if name not in found["predictions"]]
        if missing:
            raise UserError(f"lacks {', '.join(missing)}")
        if (folder / cifar10c.LABELS_FILE).is_file():
            _, n = cifar10c.load_labels(folder)
            if found["n"] != min(n, subset or n):
                raise UserError(f"was made on {found['n']} images per severity, not "
                                f"{min(n, subset or n)}")

    return PredictionKind(label=predictions_of.OUTPUT_FOLDER,
                          script=config.REPO_ROOT / "run_corruption_test.py",
                          output=lambda base_folder, run_name:
                              predictions_of.output_file(base_folder, run_name),
                          options=options, usable=usable)


def adversarial(settings, eps_255) -> PredictionKind:
    """AutoAttack (robustness.adversarial.AttackSettings: norm, attacks, images, seed) at
    the radii `eps_255` (units of 1/255): run_adversarial_test.py writes
    B/adversarial_predictions/<norm>_<attacks>/<run>.json. A file lacking a radius is run
    again (the script keeps the radii it has)."""
    from robustness import adversarial as attack

    def options(run, base_folder):
        return ["--model_folder", str(run.folder), "--base_folder", str(base_folder),
                "--norm", settings.norm, "--attacks", settings.attacks,
                "--n-images", str(settings.n_images), "--seed", str(settings.seed),
                "--eps", *(f"{e:g}" for e in eps_255)]

    def usable(path):
        found = attack.read_results(path)
        if found["settings"] != settings:
            raise UserError("was made with other attack settings")
        done = {row["eps_255"] for row in found["rows"]}
        missing = [f"{e:g}" for e in eps_255 if float(e) not in done]
        if missing:
            raise UserError(f"lacks eps {' '.join(missing)}/255")

    return PredictionKind(label=f"{attack.OUTPUT_FOLDER}_{settings.tag}",
                          script=config.REPO_ROOT / "run_adversarial_test.py",
                          output=lambda base_folder, run_name:
                              attack.output_file(base_folder, run_name, settings),
                          options=options, usable=usable)
