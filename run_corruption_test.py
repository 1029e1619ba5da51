"""Predict the classes of every CIFAR-10-C corruption with one trained model (CIFAR-100-C's
for a run trained on CIFAR-100).

    python run_corruption_test.py --model_folder experiments/exp_10/exp_data/<run> \
        [--base_folder experiments/exp_10] [--corruptions fog snow] [--subset 100]

writes B/corruption_predictions/<run>.npz (robustness/corruptions.py describes it): the
predicted class of every image of every corruption and severity, with the labels. The
file grows one corruption at a time, so running the command again after an interruption
computes only the missing corruptions. CIFAR-10-C is downloaded into
DATA_FOLDER/CIFAR-10-C/ first if it is missing (2.9 GB), unless --corruption_folder names
another folder in its layout (the smoke profile's offline stand-in).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from errors import counted, run_main  # noqa: E402
from precision import error_text  # noqa: E402


def build_parser():
    from datasets.cifar10c import CORRUPTIONS
    from robustness.per_run_script import run_prediction_parser

    p = run_prediction_parser("Write the CIFAR-10-C predictions of one trained run folder.",
                              "corruption_predictions/", 1000, "images per forward pass",
                              cpu_bs_default=100)
    p.add_argument("--corruptions", nargs="+", choices=CORRUPTIONS, default=None,
                   metavar="NAME", help="only these corruptions (default: every file present)")
    p.add_argument("--subset", type=int, default=None,
                   help="only the first M images of every severity (the smoke profile)")
    p.add_argument("--corruption_folder", type=Path, default=None,
                   help="read the corruptions from this folder in CIFAR-10-C's layout "
                        "(default: DATA_FOLDER/CIFAR-10-C, downloaded when missing)")
    p.add_argument("--replace-larger", dest="replace_larger", action="store_true",
                   help="replace a file made on more images per severity (refused without)")
    return p


def main(argv) -> int:
    from datasets.cifar10c import ensure_cifar10c
    from datasets.identity import describe_corruptions
    from robustness.corruptions import output_file, predict_corruptions, read_predictions
    from robustness.per_run_script import output_lock, run_data_set, run_of, test_labels, \
        trained_model
    from robustness.provenance import weights_fingerprint

    args = build_parser().parse_args(argv)
    model_folder, base_folder, device = run_of(args)
    output = output_file(base_folder, model_folder.name)
    model = trained_model(model_folder, device)
    data_set = run_data_set(model_folder, args.dataset)   # CIFAR-100 runs: CIFAR-100-C
    folder = args.corruption_folder or ensure_cifar10c(dataset=data_set.name)
    print(f"{model_folder.name}: {describe_corruptions(folder)['text']} from {folder} on "
          f"{device}", flush=True)
    # The whole read-modify-write of the file under its lock: a second test of this run
    # (say, other --corruptions) waits, then adds its corruptions to what this one wrote.
    with output_lock(output):
        errors = predict_corruptions(model, folder, output, device, args.bs,
                                     args.corruptions, args.subset,
                                     log=lambda line: print(line, flush=True),
                                     weights=weights_fingerprint(model_folder),
                                     test_labels=test_labels(data_set),
                                     replace_larger=args.replace_larger, data_set=data_set)
    mean = sum(errors.values()) / len(errors)
    images = 5 * read_predictions(output, data_set.num_classes)["n"] * len(errors)  # 5 severities
    print(f"{counted(len(errors), 'corruption')}, mean error {error_text(mean, images)} % "
          f"-> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, preload=["torch"]))
