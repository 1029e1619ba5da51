"""Predict CIFAR-10.1 and the CIFAR-10 test set with one trained model.

    python run_cifar101_test.py --model_folder experiments/exp_10/exp_data/<run> \
        [--base_folder experiments/exp_10] [--subset 1000]

writes B/cifar101_predictions/<run>.npz (robustness/cifar101.py describes it): the
predicted class and its softmax confidence of every image of both test sets, with the
labels. CIFAR-10.1 is downloaded into DATA_FOLDER/CIFAR-10.1/ first if it is missing
(two files, 6 MB).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from errors import run_main  # noqa: E402


def build_parser():
    from robustness.per_run_script import run_prediction_parser

    p = run_prediction_parser("Write the CIFAR-10.1 and CIFAR-10 test predictions of one "
                              "trained run folder.", "cifar101_predictions/", 1000,
                              "images per forward pass", cpu_bs_default=100)
    p.add_argument("--subset", type=int, default=None,
                   help="only M images of each test set (the smoke profile): M spread evenly "
                        "over CIFAR-10.1, the first M of CIFAR-10's")
    p.add_argument("--replace-larger", dest="replace_larger", action="store_true",
                   help="replace a file made on more images (refused without)")
    return p


def main(argv) -> int:
    from datasets.cifar10 import load_cifar10
    from datasets.cifar101 import ensure_cifar101
    from robustness.cifar101 import output_file, predict_cifar101
    from robustness.per_run_script import output_lock, run_data_set, run_of, trained_model
    from robustness.provenance import weights_fingerprint

    args = build_parser().parse_args(argv)
    model_folder, base_folder, device = run_of(args)
    output = output_file(base_folder, model_folder.name)
    folder = ensure_cifar101()
    test_images, test_labels = load_cifar10("test")
    model = trained_model(model_folder, device)
    run_data_set(model_folder, "cifar_10", "CIFAR-10.1 test")   # a CIFAR-100 run: refused
    run_data_set(model_folder, args.dataset)
    print(f"{model_folder.name}: CIFAR-10.1 from {folder} and the CIFAR-10 test set on "
          f"{device}", flush=True)
    # The whole read-modify-write of the file under its lock: a second test of this run
    # waits, then finds the file done.
    with output_lock(output):
        predict_cifar101(model, folder, output, device, test_images, test_labels, args.bs,
                         args.subset, weights_fingerprint(model_folder),
                         log=lambda line: print(line, flush=True),
                         replace_larger=args.replace_larger)
    print(f"CIFAR-10.1 and CIFAR-10 test predictions -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, preload=["torch"]))
