"""Every file the evaluations write, pinned byte for byte.

The inputs are made here from a fixed seed in the formats of the run folder and of the
four tests' per-run files (the authors' log.json and JPEG .npy, our corruption .npz
(as written before confidences were kept), adversarial .json and CIFAR-10.1 .npz): a paper-sized folder of each experiment (with one unfinished run and
one missing run) and a smoke-sized one (8 epochs on 5,000 images, so that the smoke note
is written too). Each experiment's exe_ evaluation scripts run on them in this process,
and the SHA-256 of every file they write is compared with
tests/fixtures/evaluation_outputs.json. A reorganisation of the code must leave every one
unchanged; a change of an output on purpose rewrites the manifest with

    python tests/test_outputs_unchanged.py --write

and the diff of that file shows which outputs it changed.
"""
import hashlib
import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = REPO_ROOT / "tests" / "fixtures" / "evaluation_outputs.json"
BASE = "<BASE>"      # the base folder's path in text outputs (hints name it)

# The grids of docs/reference.md §3, as the inputs are laid out here.
GRIDS = {
    "exp_10": dict(family="resnet", models=("CifarMinFP-LS", "CifarPyrResNet"),
                   sizes=(3, 5, 7, 9), seeds=(9, 507, 723, 16, 744), epochs=200, bs=128),
    "exp_10_1": dict(family="resnet", models=("CifarResNet",), sizes=(9,),
                     seeds=(257, 408, 464, 82, 306, 369, 414, 443, 394, 444, 318, 343),
                     epochs=200, bs=128),
    "exp_11_1": dict(family="densenet", models=("CifarDenseNet", "CifarDenseMin"),
                     sizes=(22, 58, 100), seeds=(9, 507, 723), epochs=300, bs=64),
}
SMOKE_EPOCHS, SMOKE_IMAGES = 8, 5000
BENCHMARK = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
             "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
             "elastic_transform", "pixelate", "jpeg_compression")
JPEG_IMAGES, CORRUPTION_IMAGES, ATTACK_IMAGES = 200, 20, 32
CIFAR101_IMAGES = {"cifar101": 40, "cifar10": 60}

# (experiment, exe script, arguments) of every evaluation, in the order they run.
EVALUATIONS = (
    ("exp_10", "exe_eval_exp_10.py", ()),
    ("exp_10", "exe_exp10_jpeg_tests.py", ()),
    ("exp_10", "exe_exp10_jpeg_tests.py", ("--protocol", "rgb")),
    ("exp_10", "exe_exp10_corruption_tests.py", ()),
    ("exp_10", "exe_exp10_adversarial_tests.py", ()),
    ("exp_10", "exe_exp10_cifar101_tests.py", ()),
    ("exp_10_1", "exe_eval_exp_10_1.py", ()),
    ("exp_11_1", "exe_eval_exp_11_1.py", ()),
    ("exp_11_1", "exe_exp_11_1_jpeg_tests.py", ()),
    ("exp_11_1", "exe_exp_11_1_corruption_tests.py", ()),
    ("exp_11_1", "exe_exp_11_1_adversarial_tests.py", ()),
    ("exp_11_1", "exe_exp_11_1_cifar101_tests.py", ()),
)


def run_name(grid: dict, model_type: str, size: int, seed: int) -> str:
    if grid["family"] == "densenet":
        return f"{model_type}_k12_L{size}_s{seed}"
    return f"{model_type}_s{seed}_N{size}"


def model_kw(grid: dict, size: int) -> str:
    if grid["family"] == "densenet":
        return (f"stride: 1; growth_rate: 12; n_blocks: {size}; efficient: True; "
                "compression: 0.5; k: 3; q: 2;")
    return f"q: 2; k: 3; N: {size};"


def log_json(rng, epochs: int, last_val_er: float, done: int) -> dict:
    """log.json in the authors' schema: a training and a test phase per epoch."""
    keys = ("epoch", "loss", "sec", "lr", "num_samples", "acc", "er", "val_loss",
            "val_num_samples", "val_acc", "val_er")
    log = {k: [] for k in keys}
    for e in range(done):
        decay = math.exp(-6 * e / epochs)
        val_er = round(last_val_er + 40 * decay + rng.uniform(0, 0.5), 2)
        er = round(1 + 50 * decay + rng.uniform(0, 0.5), 3)
        if e == epochs - 1:
            val_er = last_val_er
        for k, v in dict(epoch=e, loss=er / 50, sec=round(20 + rng.uniform(0, 2), 3),
                         lr=0.1, num_samples=50000, acc=1 - er / 100, er=er).items():
            log[k].append(v)
        for k, v in dict(epoch=e, sec=1.5, lr=-1.0, val_loss=val_er / 30,
                         val_num_samples=10000, val_acc=1 - val_er / 100,
                         val_er=val_er).items():
            log[k].append(v)
    return log


def write_run(folder: Path, grid: dict, point: tuple, rng, smoke: bool, done=None) -> None:
    model_type, size, seed = point
    epochs = SMOKE_EPOCHS if smoke else grid["epochs"]
    folder.mkdir(parents=True)
    opt = {"lr": 0.1, "wd": 0.0001, "mom": 0.9, "bs": grid["bs"], "opt": "SGD", "seed": seed,
           "folder": folder.name, "model_type": model_type, "model_kw": model_kw(grid, size),
           "epochs": epochs, "dataset": "cifar_10"}
    if smoke:
        opt["train_subset"] = SMOKE_IMAGES
    minimal = model_type in ("CifarMinFP-LS", "CifarDenseMin")
    last = round(12 - size / 10 - 0.4 * minimal + rng.uniform(-0.3, 0.3), 2)
    log = log_json(rng, epochs, last, epochs if done is None else done)
    params = float(20000 * size + 5000 * (not minimal))
    for name, content in (("opt.json", opt), ("log.json", log),
                          ("model_specs.json", {"num_trainable": params, "num_params": params})):
        (folder / name).write_text(json.dumps(content), encoding="utf-8")
    (folder / "model.pt").write_bytes(b"not read by the evaluations")


def jpeg_predictions(rng, n: int) -> np.ndarray:
    """(n, 11): the label, then the predictions on versions 0..9, worse with compression."""
    labels = rng.integers(0, 10, n)
    columns = [labels]
    for version in range(10):
        wrong = rng.random(n) < 0.08 + 0.05 * version
        columns.append(np.where(wrong, (labels + 1 + rng.integers(0, 9, n)) % 10, labels))
    return np.stack(columns, axis=1).astype(np.int64)


def write_corruptions(path: Path, rng, names) -> None:
    labels = np.tile(rng.integers(0, 10, CORRUPTION_IMAGES), 5).astype(np.uint8)
    arrays = {"n": np.int64(CORRUPTION_IMAGES), "labels": labels}
    for i, name in enumerate(names):
        severity = np.repeat(np.arange(5), CORRUPTION_IMAGES)
        wrong = rng.random(labels.size) < 0.05 + 0.04 * severity + 0.01 * i
        arrays[name] = np.where(wrong, (labels + 3) % 10, labels).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def write_attack(path: Path, rng, attacks: str, eps_255) -> None:
    robust = rng.random(ATTACK_IMAGES) > 0.1
    rows = []
    for eps in (0.0, *map(float, eps_255)):
        robust = robust & (rng.random(ATTACK_IMAGES) > 0.1 + eps / 20)
        rows.append(dict(eps_255=eps, eps=eps / 255, n=ATTACK_IMAGES,
                         er=100.0 * (1.0 - float(robust.mean())),
                         robust="".join("1" if f else "0" for f in robust)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(
        format=1, settings=dict(norm="Linf", attacks=attacks, n_images=ATTACK_IMAGES, seed=0),
        package="pyautoattack 0.2.0", results=rows), indent=1), encoding="utf-8")


def write_cifar101(path: Path, rng) -> None:
    """Both test sets, the new one harder, with confidences that rise with correctness."""
    arrays = {}
    for i, (name, n) in enumerate(CIFAR101_IMAGES.items()):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        wrong = rng.random(n) < 0.15 - 0.05 * i
        arrays[f"{name}_labels"] = labels
        arrays[f"{name}_predicted"] = np.where(wrong, (labels + 1) % 10, labels).astype(np.uint8)
        arrays[f"{name}_confidence"] = np.where(wrong, rng.uniform(0.3, 1, n),
                                                rng.uniform(0.6, 1, n)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def write_inputs(base: Path, experiment: str, smoke: bool, seed: int) -> None:
    """Run folders and per-run files of one experiment's folder."""
    grid = GRIDS[experiment]
    rng = np.random.default_rng(seed)
    points = [(m, n, s) for m in grid["models"]
              for n in (grid["sizes"][:1] if smoke else grid["sizes"])
              for s in (grid["seeds"][:1] if smoke else grid["seeds"])]
    attacks, eps = ("apgd-ce", (1, 8)) if smoke else ("standard", (0.5, 1, 2))
    for i, point in enumerate(points):
        name = run_name(grid, *point)
        if not smoke and i == 1:
            continue                              # a run that was never started
        done = grid["epochs"] // 2 if not smoke and i == 2 else None   # one unfinished
        write_run(base / "exp_data" / name, grid, point, rng, smoke, done)
        if experiment == "exp_10_1":
            continue
        for folder in ("jpeg_model_predictions", "jpeg_model_predictions_rgb"):
            (base / folder).mkdir(exist_ok=True)
            np.save(base / folder / f"{name}.npy", jpeg_predictions(rng, JPEG_IMAGES))
        names = BENCHMARK + (("saturate",) if i == 0 else ())
        write_corruptions(base / "corruption_predictions" / f"{name}.npz", rng, names)
        write_attack(base / "adversarial_predictions" / f"Linf_{attacks}" / f"{name}.json",
                     rng, attacks, eps)
        # A generator of its own: the other inputs stay as they were before this test.
        write_cifar101(base / "cifar101_predictions" / f"{name}.npz",
                       np.random.default_rng([seed, i]))


def run_exe(experiment: str, script: str, argv) -> None:
    path = REPO_ROOT / "experiments" / experiment / script
    saved = sys.argv
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as end:
        assert end.code in (0, None), f"{script} {' '.join(argv)} exited with {end.code}"
    finally:
        sys.argv = saved


def is_input(relative: Path) -> bool:
    return relative.parts[0] in ("exp_data", "jpeg_model_predictions", "corruption_predictions",
                                 "jpeg_model_predictions_rgb", "adversarial_predictions",
                                 "cifar101_predictions")


def digests(base: Path) -> dict:
    """SHA-256 of every file the evaluations wrote, the base folder's path replaced."""
    out = {}
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        relative = path.relative_to(base)
        if is_input(relative):
            continue
        data = path.read_bytes()
        if path.suffix in (".md", ".csv", ".txt"):
            data = data.replace(str(base).encode(), BASE.encode())
        out[relative.as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def evaluated(root: Path) -> dict:
    """{'<experiment>/<profile>/<file>': digest} of every evaluation on fresh inputs."""
    found = {}
    for smoke in (False, True):
        profile = "smoke" if smoke else "paper"
        for i, experiment in enumerate(GRIDS):
            base = root / experiment / profile
            write_inputs(base, experiment, smoke, seed=10 * i + smoke)
            for exp, script, argv in EVALUATIONS:
                if exp == experiment:
                    run_exe(exp, script, ("--profile", profile, "--base_folder", str(base),
                                          *argv))
            found.update({f"{experiment}/{profile}/{k}": v for k, v in digests(base).items()})
    return found


# What an evaluation must not import: it reads result files, it computes no predictions.
NOT_IMPORTED = ("torch", "torchvision", "pyautoattack", "scipy.stats")


def evaluated_elsewhere() -> tuple:
    """(digests, the NOT_IMPORTED modules that were imported) of `evaluated`, in a fresh
    interpreter: this one has imported torch for other tests."""
    import subprocess

    result = subprocess.run([sys.executable, __file__, "--digests"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    return found["digests"], found["imported"]


@pytest.mark.slow
def test_every_evaluation_output_is_unchanged_and_no_evaluation_imports_torch():
    found, imported = evaluated_elsewhere()
    expected = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert sorted(found) == sorted(expected), "another set of files was written"
    changed = [name for name in expected if found[name] != expected[name]]
    assert not changed, f"outputs changed: {changed}"
    # The manifest covers every kind of output of every evaluation.
    assert any(k.endswith("/report.md") for k in expected)
    assert {Path(k).suffix for k in expected} >= {".md", ".csv", ".txt", ".png", ".pdf"}
    # Every exe script's evaluation ran (EVALUATIONS) without them: seconds saved at
    # every evaluation, and it runs where only the result files are.
    assert imported == []


if __name__ == "__main__":
    if sys.argv[1:] not in (["--write"], ["--digests"]):
        sys.exit("usage: python tests/test_outputs_unchanged.py --write")
    import contextlib
    import os
    import tempfile

    sys.path.insert(0, str(REPO_ROOT))
    os.environ["MPLBACKEND"] = "Agg"
    # What the scripts print goes to stderr: stdout is for the JSON (--digests).
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        manifest = evaluated(Path(tmp))
    if sys.argv[1] == "--digests":     # for the test above
        print(json.dumps(dict(digests=manifest,
                              imported=[m for m in NOT_IMPORTED if m in sys.modules])))
        sys.exit(0)
    MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(manifest)} digests to {MANIFEST}")
