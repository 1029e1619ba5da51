"""What the launcher needs to plan each robustness test's per-run jobs
(jobs.PredictionKind): the script (the declaration's, experiments.robustness_suite), a
run's output file, the script's options, and whether an existing file can be used.
"""
from pathlib import Path

import config
from errors import UserError
from experiments.launching.jobs import PredictionKind
from robustness import jpeg as predictions



def jpeg(script: str, protocol: str = "paper", subset=None,
         dataset: str = "cifar_10") -> PredictionKind:
    """The JPEG test (docs/reference.md §5): run_jpeg_robustness_test.py writes
    B/jpeg_model_predictions/<run>.npy (the rgb protocol's folder is another), on the
    stacks of `dataset`'s test set (CIFAR-10's; exp_12: CIFAR-100's)."""
    from datasets import catalog

    def output(base_folder, run_name):
        return predictions.output_file(base_folder, run_name, protocol)

    def options(run, base_folder):
        argv = ["--model_folder", str(run.folder), "--base_folder", str(base_folder),
                "--protocol", protocol, "--dataset", dataset]
        return argv + (["--subset", str(subset)] if subset else [])

    def usable(path, run_folder):
        from robustness import provenance

        predictions.load_predictions(path, catalog.data_set(dataset).num_classes)
        record = provenance.read_sidecar(path)
        if record is not None:   # none: the authors' file, or one of ours from before
            # The subset is recorded but not compared: `-- --subset M` on the exe script
            # overrides the profile's, and the planner cannot see it.
            expected = predictions.record_of(run_folder, protocol, subset)
            why = provenance.mismatch(record, dict(weights=expected["weights"],
                                                   protocol=protocol))
            if why:
                raise UserError(why)

    return PredictionKind(label=predictions.OUTPUT_FOLDERS[protocol],
                          script=config.REPO_ROOT / script,
                          output=output, options=options, usable=usable)


def corruption(script: str, subset=None, corruptions=None, folder=None,
               dataset: str = "cifar_10") -> PredictionKind:
    """The common corruptions of `folder` (default DATA_FOLDER/CIFAR-10-C, or its offline
    stand-in; CIFAR-100-C for `dataset` cifar_100): run_corruption_test.py writes
    B/corruption_predictions/<run>.npz. A file that lacks a corruption asked for (or
    present in the folder), or was made on other images, is not usable: the job runs
    again and computes only what is missing."""
    from datasets import cifar10c
    from robustness import corruptions as predictions_of

    default = cifar10c.corruption_folder(dataset=dataset)
    classes = cifar10c.corruption_set(dataset).num_classes
    folder = Path(folder or default)

    def options(run, base_folder):
        argv = ["--model_folder", str(run.folder), "--base_folder", str(base_folder),
                "--dataset", dataset]
        argv += ["--subset", str(subset)] if subset else []
        argv += ["--corruption_folder", str(folder)] if folder != default else []
        return argv + (["--corruptions", *corruptions] if corruptions else [])

    def usable(path, run_folder):
        from robustness import provenance

        found = predictions_of.read_predictions(path, classes)
        expected = {"weights": provenance.weights_fingerprint(run_folder)}
        if (folder / cifar10c.LABELS_FILE).is_file():
            expected["data"] = "sha256:" + provenance.file_sha256(folder / cifar10c.LABELS_FILE)
        why = provenance.mismatch(found["record"], expected)
        if why:
            raise UserError(why)
        wanted = corruptions or cifar10c.present_corruptions(folder)
        missing = [name for name in wanted if name not in found["predictions"]]
        if missing:
            raise UserError(f"lacks {', '.join(missing)}")
        unconfident = [name for name in wanted if name not in found["confidences"]]
        if unconfident:   # a file from before confidences were kept (calibration)
            raise UserError(f"lacks the confidences of {', '.join(unconfident)}")
        if (folder / cifar10c.LABELS_FILE).is_file():
            _check_images_per_severity(found["n"], cifar10c.load_labels(folder)[1], subset)

    return PredictionKind(label=predictions_of.OUTPUT_FOLDER,
                          script=config.REPO_ROOT / script,
                          output=lambda base_folder, run_name:
                              predictions_of.output_file(base_folder, run_name),
                          options=options, usable=usable)


def _check_images_per_severity(made_on: int, n: int, subset) -> None:
    """A UserError when a corruption file was made on other than the wanted images per
    severity (the first `subset` of the folder's n)."""
    wanted_n = min(n, subset or n)
    if made_on > wanted_n:
        raise UserError(f"was made on {made_on} images per severity, not {wanted_n}: its job "
                        "refuses to replace it by fewer unless given -- --replace-larger")
    if made_on != wanted_n:
        raise UserError(f"was made on {made_on} images per severity, not {wanted_n}")


def adversarial(script: str, settings, eps_255, dataset: str = "cifar_10") -> PredictionKind:
    """AutoAttack (robustness.adversarial.AttackSettings: norm, attacks, images, seed) at
    the radii `eps_255` (units of 1/255) on `dataset`'s test images:
    run_adversarial_test.py writes B/adversarial_predictions/<settings.tag>/<run>.json. A file lacking a radius is run
    again (the script keeps the radii it has)."""
    from robustness import adversarial as attack

    def options(run, base_folder):
        return ["--model_folder", str(run.folder), "--base_folder", str(base_folder),
                "--dataset", dataset, "--norm", settings.norm, "--attacks", settings.attacks,
                "--n-images", str(settings.n_images), "--attack-seed", str(settings.seed),
                "--eps", *(f"{e:g}" for e in eps_255)]

    def usable(path, run_folder):
        from robustness import provenance

        found = attack.read_results(path)
        if found["settings"] != settings:
            raise UserError("was made with other attack settings")
        why = provenance.mismatch(found["record"],
                                  {"weights": provenance.weights_fingerprint(run_folder)})
        if why:
            raise UserError(why)
        done = {row["eps_255"] for row in found["rows"]}
        missing = [f"{e:g}" for e in eps_255 if float(e) not in done]
        if missing:
            raise UserError(f"lacks eps {' '.join(missing)}/255")

    return PredictionKind(label=f"{attack.OUTPUT_FOLDER}_{settings.tag}",
                          script=config.REPO_ROOT / script,
                          output=lambda base_folder, run_name:
                              attack.output_file(base_folder, run_name, settings),
                          options=options, usable=usable)


def cifar101(script: str, subset=None) -> PredictionKind:
    """CIFAR-10.1 and the CIFAR-10 test set: run_cifar101_test.py writes
    B/cifar101_predictions/<run>.npz (robustness.cifar101.check_usable says when an
    existing one can be used)."""
    from datasets.cifar101 import cifar101_folder
    from robustness import cifar101 as predictions_of

    def options(run, base_folder):
        argv = ["--model_folder", str(run.folder), "--base_folder", str(base_folder)]
        return argv + (["--subset", str(subset)] if subset else [])

    return PredictionKind(label=predictions_of.OUTPUT_FOLDER,
                          script=config.REPO_ROOT / script,
                          output=predictions_of.output_file, options=options,
                          usable=lambda path, run_folder: predictions_of.check_usable(
                              path, run_folder, cifar101_folder(), subset))
