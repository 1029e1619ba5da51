"""Predict the classes of the JPEG robustness test set with one trained model (docs/reference.md §5).

    python run_jpeg_robustness_test.py --model_folder experiments/exp_10/exp_data/<run> \
        --base_folder experiments/exp_10

writes B/jpeg_model_predictions/<run>.npy: an int array (n, 11), column 0 the label,
columns 1-10 the predicted class of versions 0-9 of each test image (the original, then
JPEG quality 90 ... 10). The `rgb` protocol's predictions go to
B/jpeg_model_predictions_rgb/, so the two never mix. The test set is created in the data
folder first if it is missing. exe_<exp>_jpeg_tests.py --run-predictions runs this for
every finished run of an experiment.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets.jpeg import PROTOCOLS  # noqa: E402
from errors import run_main  # noqa: E402
from precision import error_text  # noqa: E402


def build_parser():
    from robustness.per_run_script import run_prediction_parser

    p = run_prediction_parser("Write the JPEG robustness predictions of one trained run "
                              "folder.", "jpeg_model_predictions/", 200,
                              "test images per batch, each counted 10 times (one per version)",
                              cpu_bs_default=10)
    p.add_argument("--protocol", choices=PROTOCOLS, default="paper",
                   help="JPEG test set: the authors' (paper, default) or standard RGB JPEG")
    p.add_argument("--subset", type=int, default=None,
                   help="only the first N test images (a quick check)")
    return p


def main(argv) -> int:
    import atomic_files
    from datasets.jpeg import load_jpeg_test_set
    from robustness.jpeg import output_file, predict, record_of
    from robustness.per_run_script import output_lock, run_data_set, run_of, \
        test_set_source, trained_model
    from robustness.provenance import write_sidecar

    args = build_parser().parse_args(argv)
    model_folder, base_folder, device = run_of(args)
    output = output_file(base_folder, model_folder.name, args.protocol)
    model = trained_model(model_folder, device)   # batches go channels_last too
    # The stacks of the run's own test set: CIFAR-10's (docs/reference.md §5), or CIFAR-100's.
    data_set = run_data_set(model_folder, args.dataset)
    stacks, labels = load_jpeg_test_set(protocol=args.protocol, create_if_missing=True,
                                        subset=args.subset, dataset=data_set.name)
    print(f"{model_folder.name}: {len(labels)} test images x {stacks.shape[1]} versions "
          f"({args.protocol} protocol) on {device}", flush=True)
    predictions = predict(model, stacks, labels, args.bs, device, channels_last=True,
                          data_set=data_set)
    # The .npy stays the authors' format; its record goes beside it. Written after the
    # array: a kill in between leaves an old record, which the launcher sees as stale.
    with output_lock(output):
        atomic_files.save_npy(output, predictions)
        write_sidecar(output, dict(record_of(model_folder, args.protocol, args.subset),
                                   n=len(predictions),
                                   data_source=test_set_source(data_set=data_set)))

    truth, versions = predictions[:, :1], predictions[:, 1:]
    errors = 100.0 * (versions != truth).mean(axis=0) if len(predictions) else []
    print("test error (%) of versions 0-9: "
          + " ".join(error_text(e, len(predictions)) for e in errors), flush=True)
    print(f"-> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, preload=["torch"]))
