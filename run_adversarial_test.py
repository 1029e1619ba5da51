"""Robust error of one trained model under AutoAttack, at several eps.

    python run_adversarial_test.py --model_folder experiments/exp_10/exp_data/<run> \
        [--base_folder experiments/exp_10] [--norm Linf|L2] [--attacks standard|apgd-ce] \
        [--eps 0.25 0.5 1 2 4 8] [--n-images 1000]

writes B/adversarial_predictions/<norm>_<attacks>[_n<N>_seed<S>]/<run>.json
(robustness/adversarial.py describes it): per eps (in units of 1/255; 0 = the clean images) the robust error on the
first --n-images test images of the run's data set (CIFAR-10 or CIFAR-100). Running the
command again after an interruption continues where it stopped; eps already in the file
are not attacked again.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from errors import run_main  # noqa: E402


def build_parser():
    from robustness.per_run_script import positive_eps, run_prediction_parser
    from robustness.adversarial import ATTACK_CHOICES, DEFAULT_EPS_255, DEFAULT_N_IMAGES, NORMS

    p = run_prediction_parser("Write the AutoAttack robust errors of one trained run "
                              "folder.", "adversarial_predictions/", 250,
                              "images per attack batch")
    p.add_argument("--norm", choices=NORMS, default="Linf", help="threat model (default Linf)")
    p.add_argument("--attacks", choices=ATTACK_CHOICES, default="standard",
                   help="AutoAttack's standard version (default) or only APGD-CE (cheaper)")
    p.add_argument("--eps", type=positive_eps, nargs="+", default=None,
                   help="eps in units of 1/255 (default: Linf "
                        f"{' '.join(f'{e:g}' for e in DEFAULT_EPS_255['Linf'])}; L2 "
                        f"{' '.join(f'{e:g}' for e in DEFAULT_EPS_255['L2'])})")
    p.add_argument("--n-images", dest="n_images", type=int, default=DEFAULT_N_IMAGES,
                   help=f"attack the first N test images (default {DEFAULT_N_IMAGES})")
    p.add_argument("--attack-seed", type=int, default=0, old_names=("--seed",),
                   help="AutoAttack's random seed (default 0)")
    return p


def main(argv) -> int:
    from errors import UserError
    from robustness import adversarial
    from robustness.normalized_model import NormalizedModel
    from robustness.per_run_script import output_lock, run_data_set, run_of, \
        test_set_source, trained_model
    from robustness.provenance import weights_fingerprint

    args = build_parser().parse_args(argv)
    model_folder, base_folder, device = run_of(args)
    eps = args.eps or adversarial.DEFAULT_EPS_255[args.norm]
    settings = adversarial.AttackSettings(args.norm, args.attacks, args.n_images,
                                          args.attack_seed)
    output = adversarial.output_file(base_folder, model_folder.name, settings)
    model = trained_model(model_folder, device)
    data_set = run_data_set(model_folder, args.dataset)   # its test images are attacked
    wrapped = NormalizedModel(model, data_set.mean, data_set.std)
    x, y = adversarial.test_subset(args.n_images, data_set=data_set)
    if len(y) < args.n_images:
        raise UserError(f"the test set has only {len(y)} images; use --n-images {len(y)} or "
                        "fewer")
    print(f"{model_folder.name}: AutoAttack {settings.attacks} ({settings.norm}) on the first "
          f"{len(y)} test images, eps {' '.join(f'{e:g}' for e in eps)}/255, on {device}",
          flush=True)
    # The whole read-modify-write of the file under its lock: a second attack of this
    # run with these settings (say, other --eps) waits, then adds to what this one wrote.
    with output_lock(output):
        adversarial.evaluate_run(wrapped, x, y, eps, settings, output, device, args.bs,
                                 log=lambda line: print(line, flush=True),
                                 weights=weights_fingerprint(model_folder),
                                 data_source=test_set_source(data_set=data_set))
    print(f"-> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, preload=["torch"]))
