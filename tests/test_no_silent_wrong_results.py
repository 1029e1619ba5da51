"""Issue 23: no silent wrong result in the robustness tests. One test (or two) per failure
of the issue's list, numbered as there; each failed on the code before the fix.

The run folders here hold a tiny CifarResNet (N = 1, untrained, seeded): what is tested
is which weights, data and settings a file records and what the scripts, the planner
and the evaluations do with that, not how good the model is.
"""
import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import atomic_files
import config
import run_adversarial_test
import run_corruption_test
from datasets import cifar10c
from datasets.cifar10 import load_cifar10, synthetic_cifar10, write_cifar10_batches
from errors import UserError, run_main
from experiments import cli, grid
from experiments import robustness_suite as suite
from experiments.evaluating import adversarial as adversarial_eval
from experiments.evaluating import corruptions as corruption_eval
from experiments.launching import jobs
from experiments.launching import runs as grid_runs
from experiments.rendering import report
from robustness import adversarial, corruptions, provenance
from robustness import jpeg as jpeg_predictions
from robustness.adversarial import AttackSettings
from robustness.per_run_script import trained_model
from run_folder import EXP_DATA

REPO_ROOT = Path(__file__).resolve().parents[1]
N_TEST = 40                                  # test images, and CIFAR-10-C's n
TINY = {"model_type": "CifarResNet", "model_kw": "q: 2;k: 3;N: 1;", "epochs": 1}
GRID = replace(grid.EXP_10, sizes=(3,), seeds=(9,))      # two runs: Min-Net and ResNet
APGD = dict(norm="Linf", attacks="apgd-ce")


# ------------------------------------------------------------------------- helpers

@pytest.fixture
def data(tmp_path, monkeypatch):
    """A DATA_FOLDER with CIFAR-10 (40 test images) and a CIFAR-10-C of two corruptions
    made from those test images, whose labels.npy repeats the test labels."""
    folder = tmp_path / "data"
    train_x, train_y, test_x, test_y = synthetic_cifar10(n_train=100, n_test=N_TEST, seed=3)
    write_cifar10_batches(folder, train_x, train_y, test_x, test_y)
    rng = np.random.default_rng(0)
    noisy = [np.clip(test_x + rng.normal(0, 15 * s, test_x.shape), 0, 255) for s in range(1, 6)]
    bright = [np.clip(test_x.astype(int) + 20 * s, 0, 255) for s in range(1, 6)]
    cifar10c.write_cifar10c(folder, {"gaussian_noise": np.concatenate(noisy),
                                     "jpeg_compression": np.concatenate(bright)}, test_y)
    monkeypatch.setattr(config, "DATA_FOLDER", folder)
    monkeypatch.setenv("DATA_FOLDER", str(folder))
    return folder


def trained_run(folder: Path, seed: int = 0) -> Path:
    """A finished run folder whose model.pt holds a tiny network seeded with `seed`."""
    from models import build_model_from_opt

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "opt.json").write_text(json.dumps(TINY), encoding="utf-8")
    (folder / "log.json").write_text(json.dumps({"val_er": [50.0]}), encoding="utf-8")
    torch.manual_seed(seed)
    torch.save(build_model_from_opt(TINY).state_dict(), folder / "model.pt")
    return folder


def finished_run(base: Path, name: str) -> Path:
    """A finished run folder without real weights (for the evaluations)."""
    folder = base / EXP_DATA / name
    folder.mkdir(parents=True)
    (folder / "opt.json").write_text(json.dumps({"epochs": 1}), encoding="utf-8")
    (folder / "log.json").write_text(json.dumps({"val_er": [10.0]}), encoding="utf-8")
    (folder / "model.pt").write_bytes(b"weights")
    return folder


def smoke_runs(base: Path) -> list:
    return grid_runs.select_runs(grid.EXP_10, "smoke", base_folder=base)


def corrupt(run_folder: Path, base: Path, *options) -> int:
    """run_corruption_test.py in this process; its exit code."""
    return run_main(run_corruption_test.main, ["--model_folder", str(run_folder),
                                               "--base_folder", str(base), "--device", "cpu",
                                               "--bs", "100", *options])


def attack(run_folder: Path, base: Path, *options) -> int:
    """run_adversarial_test.py (APGD-CE) in this process; its exit code."""
    return run_main(run_adversarial_test.main, [
        "--model_folder", str(run_folder), "--base_folder", str(base), "--device", "cpu",
        "--attacks", "apgd-ce", *options])


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def script(name: str, *options, env=None) -> subprocess.Popen:
    """A per-run script as its own process (for what needs two at once)."""
    return subprocess.Popen([sys.executable, str(REPO_ROOT / name), *map(str, options)],
                            cwd=REPO_ROOT, env=env or dict(os.environ), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def labels_of(n: int) -> np.ndarray:
    return np.tile(np.arange(n, dtype=np.uint8) % 10, 5)


def attack_flags(n: int, broken_at: dict) -> dict:
    """{eps: robust flags} with the first broken_at[eps] images broken."""
    return {eps: np.arange(n) >= count for eps, count in broken_at.items()}


def in_namespace(body: str, mounts: str):
    """Run `body` (sh) in a mount namespace of its own after `mounts`; skips where this
    machine allows no such namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no mount namespace allowed here")
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"{mounts} && cd {REPO_ROOT} && "
                           f"{body}"], capture_output=True, text=True, timeout=600)


# ------------------------------------------------- 1. files record the weights

def test_1_a_retrained_run_gets_its_corruption_predictions_computed_again(data, tmp_path):
    base = tmp_path / "exp"
    run = smoke_runs(base)[0]
    trained_run(run.folder, seed=0)
    assert corrupt(run.folder, base) == 0
    output = corruptions.output_file(base, run.name)
    first = corruptions.read_predictions(output)["record"]
    assert first["weights"] == provenance.weights_fingerprint(run.folder)
    assert first["n"] == N_TEST and first["subset"] is None and first["data"].startswith("sha")
    kind = suite.corruption()
    assert jobs.prediction_jobs(kind, [run], base, base / "logs")[0].action == jobs.SKIP

    trained_run(run.folder, seed=1)       # retrained with --do_overwrite: other weights
    job, = jobs.prediction_jobs(kind, [run], base, base / "logs")
    assert job.action == jobs.START and "other weights" in job.note
    assert corrupt(run.folder, base) == 0
    again = corruptions.read_predictions(output)
    assert again["record"]["weights"] == provenance.weights_fingerprint(run.folder)
    assert again["record"]["weights"] != first["weights"]
    images = cifar10c.open_corruption(data / "CIFAR-10-C", "gaussian_noise", N_TEST)
    new = corruptions.predict_images(trained_model(run.folder, "cpu"), images, "cpu", 100)
    assert np.array_equal(again["predictions"]["gaussian_noise"], new)


@pytest.mark.slow
def test_1_the_launcher_says_what_it_recomputes_before_it_starts(data, tmp_path, capsys):
    base = tmp_path / "exp"
    run = smoke_runs(base)[0]
    trained_run(run.folder, seed=0)
    assert corrupt(run.folder, base) == 0
    trained_run(run.folder, seed=1)
    capsys.readouterr()
    exe = cli.robustness_tests(grid.EXP_10, suite.CORRUPTIONS)
    assert run_main(exe, ["--profile", "smoke", "--base_folder", str(base), "--run-predictions",
                          "--models", "CifarMinFP-LS", "--cpu"]) == 0
    out = capsys.readouterr().out
    said = out.index(f"{run.name}: recompute: {run.name}.npz was made with other weights")
    assert said < out.index("1 prediction on cpu")
    assert "1 prediction: 1 done" in out
    found = corruptions.read_predictions(corruptions.output_file(base, run.name))
    assert found["record"]["weights"] == provenance.weights_fingerprint(run.folder)


def test_1_files_without_a_record(tmp_path, data):
    """Corruption files of before records are computed again (the launcher cannot tell
    which weights made them); a JPEG file without a sidecar (the authors') is kept, ours
    with a sidecar naming other weights is computed again."""
    base = tmp_path / "exp"
    run = smoke_runs(base)[0]
    trained_run(run.folder)
    output = corruptions.output_file(base, run.name)
    corruptions.write_predictions(output, N_TEST, np.tile(load_cifar10("test")[1], 5),
                                  {c: np.zeros(5 * N_TEST, np.uint8)
                                   for c in ("gaussian_noise", "jpeg_compression")})
    job, = jobs.prediction_jobs(suite.corruption(), [run], base, base / "logs")
    assert job.action == jobs.START and "no record" in job.note

    kind = suite.jpeg()
    npy = kind.output(base, run.name)
    npy.parent.mkdir(parents=True)
    np.save(npy, np.zeros((5, 11), np.int64))
    assert jobs.prediction_jobs(kind, [run], base, base / "logs")[0].action == jobs.SKIP
    provenance.write_sidecar(npy, jpeg_predictions.record_of(run.folder, "paper", None))
    assert jobs.prediction_jobs(kind, [run], base, base / "logs")[0].action == jobs.SKIP
    trained_run(run.folder, seed=5)
    job, = jobs.prediction_jobs(kind, [run], base, base / "logs")
    assert job.action == jobs.START and "other weights" in job.note


# ------------------------------------- 2. an evaluation never mixes settings

def test_2_the_corruption_evaluation_leaves_out_runs_on_other_image_counts(tmp_path, capsys):
    minnet, resnet = (GRID.run_name(m, 3, 9) for m in GRID.models)
    for name, n in ((minnet, 3), (resnet, 10)):
        finished_run(tmp_path, name)
        corruptions.write_predictions(corruptions.output_file(tmp_path, name), n, labels_of(n),
                                      {"fog": labels_of(n)})
    assert corruption_eval.evaluate_corruptions(GRID, tmp_path) == 0
    csv = (tmp_path / corruption_eval.CSV_FILE).read_text(encoding="utf-8")
    assert minnet not in csv and resnet in csv
    section = (tmp_path / corruption_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "10 images per severity" in section
    assert f"other settings than most runs (their numbers are not comparable): {minnet} (n 3)" \
        in section
    assert minnet in capsys.readouterr().err


def test_2_the_adversarial_evaluation_leaves_out_runs_on_other_image_counts(tmp_path):
    minnet, resnet = (GRID.run_name(m, 3, 9) for m in GRID.models)
    for name, n in ((minnet, 4), (resnet, 32)):
        finished_run(tmp_path, name)
        settings = AttackSettings(n_images=n, **APGD)
        adversarial.write_results(adversarial.output_file(tmp_path, name, settings),
                                  attack_flags(n, {0.0: 1, 1.0: 2}), settings)
    assert adversarial_eval.evaluate_adversarial(GRID, tmp_path) == 0
    csv = (tmp_path / adversarial_eval.CSV_FILE).read_text(encoding="utf-8")
    assert minnet not in csv and resnet in csv
    section = (tmp_path / adversarial_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "attacked on the first 32 test images" in section
    assert f"{minnet} (n 4, attack_seed 0)" in section


# ------------------- 4. a smaller setting never replaces a larger one silently

def test_4_a_subset_never_replaces_full_corruption_predictions(data, tmp_path, capsys):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    assert corrupt(run, base) == 0
    output = corruptions.output_file(base, run.name)
    full = output.read_bytes()
    capsys.readouterr()
    assert corrupt(run, base, "--subset", "3") == 2
    line = one_error_line(capsys)
    assert str(output) in line and "--replace-larger" in line
    assert output.read_bytes() == full
    assert corrupt(run, base, "--subset", "3", "--replace-larger") == 0
    assert corruptions.read_predictions(output)["n"] == 3


def test_4_attacks_with_other_images_or_seed_live_beside_each_other(data, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    settings = [AttackSettings(n_images=4, **APGD), AttackSettings(n_images=3, **APGD),
                AttackSettings(n_images=3, seed=1, **APGD)]
    outputs = [adversarial.output_file(base, run.name, s) for s in settings]
    assert len(set(outputs)) == 3
    for s in settings:
        assert attack(run, base, "--eps", "1", "--n-images", str(s.n_images),
                      "--attack-seed", str(s.seed)) == 0
    for s, output in zip(settings, outputs):
        assert adversarial.read_results(output)["settings"] == s
    # The exe scripts' default settings keep the documented folder.
    assert adversarial.output_file(base, "r", AttackSettings()).parent.name == "Linf_standard"


# ------------------------------- 7. CIFAR-10-C's labels against the test set's

def test_7_labels_permuted_alike_in_every_block_are_refused(data, tmp_path, capsys):
    test_labels = load_cifar10("test")[1]
    permuted = np.random.default_rng(0).permutation(test_labels).astype(np.uint8)
    assert not np.array_equal(permuted, test_labels)
    atomic_files.save_npy(data / "CIFAR-10-C" / "labels.npy", np.tile(permuted, 5))
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    capsys.readouterr()
    assert corrupt(run, base) == 2
    assert "labels.npy does not repeat the CIFAR-10 test labels" in one_error_line(capsys)
    assert not corruptions.output_file(base, run.name).exists()


# --------------------------------------- 9. the batches are read without running code

class _Payload:
    """Pickled, it calls os.system when it is loaded."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_9_a_crafted_test_batch_runs_no_code(tmp_path):
    folder = tmp_path / "data"
    write_cifar10_batches(folder, *synthetic_cifar10(n_train=20, n_test=10, seed=0))
    marker = tmp_path / "code_ran"
    batch = folder / "cifar-10-batches-py" / "test_batch"
    images, labels = load_cifar10("test", folder)
    crafted = {"batch_label": "test", "labels": [int(v) for v in labels],
               "data": images.transpose(0, 3, 1, 2).reshape(len(labels), -1),
               "filenames": _Payload(f"touch {marker}")}
    batch.write_bytes(pickle.dumps(crafted, protocol=2))
    with pytest.raises(UserError) as error:
        load_cifar10("test", folder)
    assert not marker.exists()
    assert str(batch) in str(error.value) and "\n" not in str(error.value)
    # A batch holding something else than data (here a tuple) is refused too.
    batch.write_bytes(pickle.dumps(dict(crafted, filenames=("a",)), protocol=2))
    with pytest.raises(UserError, match="not a dict of arrays"):
        load_cifar10("test", folder)


# ----------------------------------- 10. a truncated prediction file is one line

def test_10_a_truncated_npz_is_recomputed_everywhere(data, tmp_path, capsys):
    base = tmp_path / "exp"
    runs = smoke_runs(base)
    for run in runs:
        trained_run(run.folder)
        assert corrupt(run.folder, base) == 0
    output = corruptions.output_file(base, runs[0].name)
    output.write_bytes(output.read_bytes()[:300])
    with pytest.raises(UserError, match="truncated"):
        corruptions.read_predictions(output)
    planned = jobs.prediction_jobs(suite.corruption(), runs, base, base / "logs")
    assert [j.action for j in planned] == [jobs.START, jobs.SKIP]
    assert "truncated" in planned[0].note
    capsys.readouterr()
    assert corruption_eval.evaluate_corruptions(GRID, base) == 0
    assert str(output) in capsys.readouterr().err
    csv = (base / corruption_eval.CSV_FILE).read_text(encoding="utf-8")
    assert runs[0].name not in csv and runs[1].name in csv
    assert corrupt(runs[0].folder, base) == 0
    assert "truncated" in capsys.readouterr().err
    assert set(corruptions.read_predictions(output)["predictions"]) == {"gaussian_noise",
                                                                         "jpeg_compression"}


# ---------------------------------------- 8. adversarial result files are checked

@pytest.mark.parametrize("edit, why", [
    (lambda row: row.update(er=-5.0), "er -5.0"),
    (lambda row: row.update(robust="2" * len(row["robust"])), "not 8 0/1"),
    (lambda row: row.update(n=7), "n 7"),
    (lambda row: row.update(er=row["er"] + 10), "does not match its flags"),
])
def test_8_a_hand_edited_adversarial_file_is_refused(tmp_path, capsys, edit, why):
    minnet, resnet = (GRID.run_name(m, 3, 9) for m in GRID.models)
    settings = AttackSettings(n_images=8, **APGD)
    for name in (minnet, resnet):
        finished_run(tmp_path, name)
        adversarial.write_results(adversarial.output_file(tmp_path, name, settings),
                                  attack_flags(8, {0.0: 1, 1.0: 3}), settings)
    path = adversarial.output_file(tmp_path, minnet, settings)
    saved = json.loads(path.read_text())
    edit(saved["results"][1])
    path.write_text(json.dumps(saved))
    with pytest.raises(UserError, match=why):
        adversarial.read_results(path)
    assert adversarial._read_results(path, settings) == {}      # the script computes it again
    assert "computing it again" in capsys.readouterr().err
    assert adversarial_eval.evaluate_adversarial(GRID, tmp_path) == 0
    csv = (tmp_path / adversarial_eval.CSV_FILE).read_text(encoding="utf-8")
    assert minnet not in csv and resnet in csv and "-5.0" not in csv


# ---------------------------------------------- 12. --eps: finite and positive

@pytest.mark.parametrize("eps", ["nan", "inf", "-1", "0"])
def test_12_eps_must_be_finite_and_positive(tmp_path, capsys, eps):
    run = tmp_path / EXP_DATA / "r"
    assert attack(run, tmp_path, "--eps", "1", eps) == 2
    line = one_error_line(capsys)
    assert "--eps" in line and "finite positive" in line
    exe = cli.robustness_tests(grid.EXP_10, suite.ADVERSARIAL)
    assert run_main(exe, ["--base_folder", str(tmp_path), "--run-predictions", "--dry-run",
                          "--eps", eps]) == 2
    assert "finite positive" in one_error_line(capsys)


# --------------------------------- 3. two tests of one run at once: both count

@pytest.mark.slow
def test_3_two_corruption_tests_of_one_run_at_once_both_count(data, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    both = [script("run_corruption_test.py", "--model_folder", run, "--base_folder", base,
                   "--device", "cpu", "--corruptions", name)
            for name in ("gaussian_noise", "jpeg_compression")]
    for process in both:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
    found = corruptions.read_predictions(corruptions.output_file(base, run.name))
    assert set(found["predictions"]) == {"gaussian_noise", "jpeg_compression"}


@pytest.mark.slow
def test_3_two_attacks_of_one_run_at_once_both_count(data, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    both = [script("run_adversarial_test.py", "--model_folder", run, "--base_folder", base,
                   "--device", "cpu", "--attacks", "apgd-ce", "--n-images", "8", "--eps", eps)
            for eps in ("1", "4")]
    for process in both:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
    settings = AttackSettings(n_images=8, **APGD)
    found = adversarial.read_results(adversarial.output_file(base, run.name, settings))
    assert {row["eps_255"] for row in found["rows"]} == {0.0, 1.0, 4.0}


def test_3_a_second_writer_waits_for_the_lock_and_says_for_whom(tmp_path):
    lock = tmp_path / "out.npz.lock"
    code = ("import sys, atomic_files; "
            "ctx = atomic_files.locked(sys.argv[1], 'out.npz', log=print)\n"
            "with ctx: print('inside', flush=True)")
    with atomic_files.locked(lock, "out.npz"):
        waiter = subprocess.Popen([sys.executable, "-c", code, str(lock)], cwd=REPO_ROOT,
                                  stdout=subprocess.PIPE, text=True)
        first = waiter.stdout.readline()
        assert first.strip() == f"waiting for pid {os.getpid()}, which is writing out.npz"
    assert waiter.stdout.readline().strip() == "inside"
    assert waiter.wait(timeout=60) == 0


# ------------------------------- 5. evaluations of one folder at once

def test_5_a_live_writers_temporary_file_is_never_removed(tmp_path):
    host = atomic_files._host()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    live = tmp_path / f".{corruption_eval.CSV_FILE}.{host}-{os.getpid()}.abc.tmp"
    stale = tmp_path / f".{corruption_eval.CSV_FILE}.{host}-{dead}.abc.tmp"
    for path in (live, stale):
        path.write_bytes(b"half")
    outputs = report.Outputs(section="corruption_results.md", owned=corruption_eval.OWNED,
                             text="section")
    outputs.add_text(corruption_eval.CSV_FILE, "a,b\n")
    assert report.publish(outputs, tmp_path, "exp_10", suite.REPORT_SECTIONS) == 0
    assert live.exists() and not stale.exists()
    assert (tmp_path / corruption_eval.CSV_FILE).read_text() == "a,b\n"


@pytest.mark.slow
def test_5_two_corruption_evaluations_of_one_folder_at_once(tmp_path):
    for model_type, size, seed in GRID.points():
        name = GRID.run_name(model_type, size, seed)
        finished_run(tmp_path, name)
        corruptions.write_predictions(corruptions.output_file(tmp_path, name), 4, labels_of(4),
                                      {c: labels_of(4) for c in cifar10c.BENCHMARK_CORRUPTIONS})
    command = [sys.executable, "experiments/exp_10/exe_exp10_corruption_tests.py",
               "--base_folder", str(tmp_path)]
    env = dict(os.environ, MPLBACKEND="Agg")
    both = [subprocess.Popen(command, cwd=REPO_ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for process in both:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
    for name in (corruption_eval.CSV_FILE, corruption_eval.SECTION_FILE, "report.md",
                 "images/corruption_severity_N3.png", "images/corruption_difference.pdf"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.rglob("*.tmp"))


# ----------------------------------- 6. AutoAttack's resume state is keyed

def test_6_a_progress_file_of_another_seed_is_not_taken_up(data, tmp_path):
    run = trained_run(tmp_path / "run")
    model = adversarial.NormalizedModel(trained_model(run, "cpu"))
    x, y = adversarial.test_subset(6)
    seed0, seed1 = AttackSettings(n_images=6, **APGD), AttackSettings(n_images=6, seed=1, **APGD)
    eps = 1 / 255
    state = tmp_path / "state"
    state.mkdir()
    progress = state / f"progress_{eps:.10g}.json"

    def seed0_finished_apgd_ce():
        progress.write_text(json.dumps(dict(robust="0" * 6, attacks_done=["apgd-ce"],
                                            key=adversarial.progress_key(seed0, eps))))

    seed0_finished_apgd_ce()
    logged = []
    adversarial.robust_at_eps(model, x, y, np.ones(6, bool), eps, seed1, "cpu", state, 6,
                              logged.append)
    assert any("after apgd-ce" in line for line in logged)      # attacked afresh
    assert json.loads(progress.read_text())["key"]["seed"] == 1
    # The same seed takes it up: nothing attacked, the saved flags come back.
    seed0_finished_apgd_ce()
    logged = []
    flags = adversarial.robust_at_eps(model, x, y, np.ones(6, bool), eps, seed0, "cpu", state,
                                      6, logged.append)
    assert logged == [] and not flags.any()
    # Nor do other weights take up a run's progress.
    assert adversarial.progress_key(seed0, eps, "sha256:a") != \
        adversarial.progress_key(seed0, eps, "sha256:b")


# ------------------------------------------ 11. a read-only experiment folder

@pytest.mark.slow
def test_11_a_read_only_folder_is_one_line_naming_it(data, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    for name in GRID.run_name("CifarMinFP-LS", 3, 9), GRID.run_name("CifarPyrResNet", 3, 9):
        finished_run(base, name)
        corruptions.write_predictions(corruptions.output_file(base, name), 4, labels_of(4),
                                      {"fog": labels_of(4)})
    python = sys.executable
    commands = [f"{python} run_corruption_test.py --model_folder {run} --device cpu",
                f"{python} run_adversarial_test.py --model_folder {run} --device cpu "
                "--attacks apgd-ce --n-images 4 --eps 1",
                f"{python} experiments/exp_10/exe_exp10_corruption_tests.py "
                f"--base_folder {base}"]
    body = " ; ".join(f"{{ {c} ; echo \"rc=$?\" ; }}" for c in commands)
    done = in_namespace(body, f"mount --bind {base} {base} && "
                              f"mount -o remount,ro,bind {base}")
    assert done.stdout.count("rc=2") == 3, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3 and "Traceback" not in done.stderr, done.stderr
    assert all("cannot write in" in line and str(base) in line for line in errors), errors


# ------------------------------------------- 13. the divergence message is true

@pytest.mark.slow
def test_13_a_run_diverging_before_its_first_checkpoint_says_how_to_start_again(cifar_folder,
                                                                                tmp_path):
    env = dict(os.environ, DATA_FOLDER=str(cifar_folder))
    folder = tmp_path / "run"
    options = ["run_training.py", "--model_type", "CifarResNet", "--model_kw",
               "q: 2;k: 3;N: 1;", "--epochs", "1", "--fixed_steps", "1", "--bs", "50",
               "--train_subset", "100", "--test_subset", "50", "--device", "cpu",
               "--folder", str(folder)]

    def train(*extra):
        return subprocess.run([sys.executable, *options, *extra], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    diverged = train("--lr", "1e6")
    assert diverged.returncode == 3, diverged.stderr
    line = diverged.stderr.strip().splitlines()[-1]
    assert "no checkpoint" in line and "checkpoint is kept" not in line
    assert "--do_overwrite" in line and "lower --lr (now 1e+06)" in line
    # Its advice works at the first try.
    again = train("--lr", "0.01", "--do_overwrite")
    assert again.returncode == 0, again.stderr


# ------------------------------ 14. options that do nothing are refused

@pytest.mark.parametrize("options, named", [
    (["--seeds", "99"], "--seeds"), (["--models", "Foo"], "--models"),
    (["--eps", "2"], "--eps"), (["--n-images", "5", "--cpu"], "--cpu, --n-images"),
    (["--", "--bs", "10"], "-- --bs 10"),
])
def test_14_options_that_only_act_on_predictions_need_run_predictions(tmp_path, capsys,
                                                                      options, named):
    exe = cli.robustness_tests(grid.EXP_10, suite.ADVERSARIAL)
    assert run_main(exe, ["--base_folder", str(tmp_path), *options]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {named} only act on the predictions")
    assert "--run-predictions" in line


def test_14_n_images_0_is_refused_not_replaced(tmp_path, capsys):
    exe = cli.robustness_tests(grid.EXP_10, suite.ADVERSARIAL)
    assert run_main(exe, ["--base_folder", str(tmp_path), "--run-predictions", "--dry-run",
                          "--n-images", "0"]) == 2
    assert "--n-images must be positive" in one_error_line(capsys)


# -------------------------------- 15. a full disk says exactly what was kept

@pytest.mark.slow
def test_15_a_full_disk_during_an_evaluation_says_what_is_gone(tmp_path):
    base = tmp_path / "small"
    base.mkdir()
    script_text = (
        "import sys; sys.path.insert(0, '.'); from experiments.rendering import report; "
        "from errors import run_main; "
        "o = report.Outputs(section='corruption_results.md', owned=('corruption_results.csv',),"
        " text='s'); o.add_text('corruption_results.csv', 'x' * 400000); "
        f"sys.exit(run_main(lambda argv: report.publish(o, __import__('pathlib').Path('{base}'),"
        " 'exp_10', ('corruption_results.md',))))")
    (tmp_path / "publish.py").write_text(script_text)
    (base / "corruption_results.md").write_text("old section")
    done = in_namespace(f"echo old > {base}/corruption_results.md && "
                        f"{sys.executable} {tmp_path / 'publish.py'}",
                        f"mount -t tmpfs -o size=64k none {base}")
    assert done.returncode == 2, done.stdout + done.stderr
    line, = done.stderr.strip().splitlines()
    assert "no space left" in line and "previous version" not in line
    assert "previous files (corruption_results.md" in line and "gone" in line
