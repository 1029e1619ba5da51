"""The kinds of per-run predictions the launcher computes, each a short declaration
(experiments.jobs.PredictionKind): the script, the output file of a run, the script's
options. A new kind (common corruptions, adversarial attacks) is one more function here.
"""
import config
from errors import UserError
from experiments import predictions
from experiments.jobs import PredictionKind


def jpeg(protocol: str = "paper", subset=None) -> PredictionKind:
    """The JPEG test (docs/reference.md §5): run_jpeg_robustness_test.py writes
    B/jpeg_model_predictions/<run>.npy (the rgb protocol's folder is another)."""
    def output(base_folder, run_name):
        return predictions.predictions_file(base_folder, run_name, protocol)

    def options(run, base_folder):
        argv = ["--model_folder", str(run.folder), "--base_folder", str(base_folder),
                "--protocol", protocol]
        return argv + (["--subset", str(subset)] if subset else [])

    return PredictionKind(label=predictions.PREDICTIONS_FOLDERS[protocol],
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

    return PredictionKind(label=predictions_of.PREDICTIONS_FOLDER,
                          script=config.REPO_ROOT / "run_corruption_test.py",
                          output=lambda base_folder, run_name:
                              predictions_of.predictions_path(base_folder, run_name),
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

    return PredictionKind(label=f"{attack.RESULTS_FOLDER}_{settings.tag}",
                          script=config.REPO_ROOT / "run_adversarial_test.py",
                          output=lambda base_folder, run_name:
                              attack.results_path(base_folder, run_name, settings),
                          options=options, usable=usable)
