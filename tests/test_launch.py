"""The launcher (experiments/launch.py), the grid selection and the exe_train_ scripts.

The first tests launch a small stand-in for run_training.py (`stand_in.py`, written below:
it "trains" a run folder epoch by epoch, with the same files and --resume rule), so the
launcher's own behaviour - skip, resume, start, failures, slots, locks, logs, Slurm
requeueing through submitit's local executor - is checked with real subprocesses in a
second each. The tests marked slow launch the real run_training.py on tiny subsets.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from errors import UserError
from experiments import grid
from experiments.launching import runs as grid_runs
from experiments.launching import launch
from experiments.launching import local_pool
from experiments.launching import slurm
from experiments.launching import jobs as summary
from experiments.launching import jobs as plan
import run_folder as rf

REPO_ROOT = Path(__file__).resolve().parents[1]

STAND_IN = r'''
"""Stand-in for run_training.py: one "epoch" per --sleep seconds, run folder files as the
real one writes them (opt.json, log.json per epoch, model.pt at the end), --resume
continues after the last logged epoch. Each call is recorded in calls.jsonl."""
import argparse, json, os, sys, time
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--folder", required=True)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--fail", type=int, default=0, help="exit with this status after printing")
p.add_argument("--wait_for", default=None, help="a file to wait for (at most 3 s) first")
p.add_argument("--touch", default=None, help="a file to create first")
p.add_argument("--resume", action="store_true")
p.add_argument("--device", default="cpu")
args = p.parse_args()
folder = Path(args.folder)
folder.mkdir(parents=True, exist_ok=True)
log_path = folder / "log.json"
log = json.loads(log_path.read_text()) if args.resume and log_path.exists() else {"val_er": []}
with open(folder / "calls.jsonl", "a") as calls:
    calls.write(json.dumps({"argv": sys.argv[1:], "start_epoch": len(log["val_er"]),
                            "pid": os.getpid(),
                            "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\n")
if args.touch:
    Path(args.touch).touch()
if args.wait_for:
    deadline = time.time() + 3
    while not Path(args.wait_for).exists():
        if time.time() > deadline:
            print("error: gave up waiting for", args.wait_for, flush=True)
            sys.exit(4)
        time.sleep(0.05)
if args.fail:
    print("error: this run was told to fail", flush=True)
    sys.exit(args.fail)
(folder / "opt.json").write_text(json.dumps({"epochs": args.epochs}))
for epoch in range(len(log["val_er"]), args.epochs):
    time.sleep(args.sleep)
    log["val_er"].append(10.0)
    log_path.write_text(json.dumps(log))
    print(f"epoch {epoch} done", flush=True)
(folder / "model.pt").write_bytes(b"weights")
print("finished", flush=True)
'''


@pytest.fixture
def stand_in(tmp_path) -> Path:
    path = tmp_path / "stand_in.py"
    path.write_text(STAND_IN)
    return path


def stand_in_run(base: Path, name: str, *options) -> grid_runs.Run:
    folder = base / rf.EXP_DATA / name
    return grid_runs.Run("exp_test", "StandIn", 1, 0, name, folder,
                    ("--folder", str(folder), *map(str, options), "--resume"))


def calls(run: grid_runs.Run) -> list:
    path = run.folder / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


CPU = [("cpu", "")]


# ------------------------------------------------------------ the local pool, stand-ins

def test_skip_resume_start_and_a_failure_that_does_not_stop_the_others(tmp_path, stand_in,
                                                                      capsys):
    base = tmp_path / "B"
    finished = stand_in_run(base, "finished", "--epochs", 2)
    unfinished = stand_in_run(base, "unfinished", "--epochs", 3)
    absent = stand_in_run(base, "absent", "--epochs", 2)
    failing = stand_in_run(base, "failing", "--fail", 3)
    runs = [finished, failing, unfinished, absent]
    # Prepare a finished run, and one that stopped after 1 of 3 epochs.
    subprocess.run([sys.executable, str(stand_in), *finished.argv], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, str(stand_in), *unfinished.argv[:-1], "--epochs", "1"],
                   check=True, capture_output=True)
    (unfinished.folder / "model.pt").unlink()
    (unfinished.folder / "opt.json").write_text(json.dumps({"epochs": 3}))

    jobs = plan.training_jobs(runs, base / rf.LOGS, script=stand_in)
    assert [j.action for j in jobs] == [plan.SKIP, plan.START, plan.RESUME, plan.START]
    assert jobs[2].note == "1 of 3 epochs done"

    outcomes = local_pool.run_local(jobs, CPU)
    assert [o.status for o in outcomes] == [plan.SKIPPED, plan.FAILED, plan.DONE,
                                           plan.DONE]
    assert len(calls(finished)) == 1                      # skipped: not launched again
    assert calls(unfinished)[-1]["start_epoch"] == 1      # resumed where it stopped
    for run in (unfinished, absent):
        assert rf.run_state(run.folder) == rf.FINISHED
    assert outcomes[1].message == "exit 3: error: this run was told to fail"

    # The log: a header line with the command, then the subprocess's output.
    log_text = (base / rf.LOGS / "absent.log").read_text()
    header = log_text.strip().splitlines()[0]
    assert header.startswith("==== ") and " start on " in header
    assert str(stand_in) in header and "--device cpu" in header
    assert log_text.strip().endswith("finished")

    capsys.readouterr()
    assert launch.summarize(outcomes) == 1
    out = capsys.readouterr().out
    assert "4 runs: 1 done, 1 resumed, 1 skipped, 1 failed" in out
    assert f"failing: exit 3: error: this run was told to fail (log: {base / 'logs' / 'failing.log'})" in out

    # Once the failure is fixed, a relaunch runs only it; logs are appended to.
    fixed = stand_in_run(base, "failing")
    jobs = plan.training_jobs([finished, fixed, unfinished, absent], base / rf.LOGS,
                                script=stand_in)
    assert [j.action for j in jobs] == [plan.SKIP, plan.START, plan.SKIP, plan.SKIP]
    outcomes = local_pool.run_local(jobs, CPU)
    assert launch.summarize(outcomes) == 0
    assert (base / rf.LOGS / "failing.log").read_text().count("\n==== ") == 2


def test_slots_bound_how_many_runs_share_a_device(tmp_path, stand_in):
    """Two runs that each wait for the other to start: both succeed with two slots on
    the device (--jobs-per-gpu 2); with one slot, the first waits in vain."""
    def pair(base):
        a = stand_in_run(base, "a", "--touch", base / "a.started", "--wait_for", base / "b.started")
        b = stand_in_run(base, "b", "--touch", base / "b.started", "--wait_for", base / "a.started")
        base.mkdir(parents=True)
        return plan.training_jobs([a, b], base / rf.LOGS, script=stand_in)

    two_slots = local_pool.local_slots(cpu=True, jobs_per_gpu=2)
    assert two_slots == [("cpu", ""), ("cpu", "")]
    outcomes = local_pool.run_local(pair(tmp_path / "two"), two_slots)
    assert [o.status for o in outcomes] == [plan.DONE, plan.DONE]

    outcomes = local_pool.run_local(pair(tmp_path / "one"), local_pool.local_slots(cpu=True))
    assert [o.status for o in outcomes] == [plan.FAILED, plan.DONE]
    assert "gave up waiting" in outcomes[0].message


def test_each_run_gets_its_own_gpu_through_cuda_visible_devices(tmp_path, stand_in):
    """GPU slots without a GPU: the stand-in only records what it was given."""
    runs = [stand_in_run(tmp_path, f"r{i}", "--sleep", 0.3) for i in range(4)]
    jobs = plan.training_jobs(runs, tmp_path / rf.LOGS, script=stand_in)
    outcomes = local_pool.run_local(jobs, [("cuda", "3"), ("cuda", "5")])
    assert all(o.status == plan.DONE for o in outcomes)
    seen = [calls(run)[0] for run in runs]
    assert all(c["argv"][-2:] == ["--device", "cuda"] for c in seen)
    assert {c["cuda"] for c in seen} == {"3", "5"}


def test_extra_arguments_reach_every_run(tmp_path, stand_in):
    run = stand_in_run(tmp_path, "r")
    jobs = plan.training_jobs([run], tmp_path / rf.LOGS, script=stand_in)
    assert local_pool.run_local(jobs, CPU, extra_args=["--epochs", "4"])[0].status == plan.DONE
    assert calls(run)[0]["argv"][-4:] == ["--device", "cpu", "--epochs", "4"]
    assert json.loads((run.folder / "log.json").read_text())["val_er"] == [10.0] * 4


def test_a_run_locked_by_another_launcher_is_not_started_twice(tmp_path, stand_in):
    run = stand_in_run(tmp_path, "busy")
    jobs = plan.training_jobs([run], tmp_path / rf.LOGS, script=stand_in)
    (tmp_path / rf.LOGS).mkdir()
    with rf.locked(run.folder):
        outcome, = local_pool.run_local(jobs, CPU)
    assert outcome.status == plan.BUSY
    assert outcome.message == f"running elsewhere (pid {os.getpid()})"
    assert calls(run) == []


DRIVER = """
import argparse, sys
sys.path.insert(0, sys.argv[1])
from errors import run_main
from experiments import grid
from experiments.launching import runs as grid_runs
from experiments.launching import launch
from experiments.launching import local_pool
from experiments.launching import slurm
from experiments.launching import jobs as summary
from experiments.launching import jobs as plan
run = grid_runs.Run("e", "StandIn", 1, 0, "slow", grid.Path(sys.argv[3]),
               ("--folder", sys.argv[3], "--epochs", "100", "--sleep", "1", "--resume"))
jobs = plan.training_jobs([run], grid.Path(sys.argv[4]), script=sys.argv[2])
args = argparse.Namespace(launcher="local", dry_run=False, gpus=None, cpu=True, jobs_per_gpu=1)
sys.exit(run_main(lambda argv: launch.launch(jobs, args)))
"""


def test_stopping_the_launcher_stops_its_runs(tmp_path, stand_in):
    """A `kill` (SIGTERM) of the local launcher ends its subprocesses too: no run is left
    training unseen, and the next launch resumes it."""
    import signal

    run_dir = tmp_path / "exp_data" / "slow"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(REPO_ROOT), str(stand_in),
                               str(run_dir), str(tmp_path / "logs")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run_dir / "log.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    child = json.loads((run_dir / "calls.jsonl").read_text().splitlines()[0])["pid"]
    driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=30)
    assert driver.returncode == 130 and "interrupted" in stderr
    deadline = time.time() + 10
    while Path(f"/proc/{child}").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists(), "the run outlived its launcher"
    assert rf.run_state(run_dir) == rf.UNFINISHED


def test_gpu_ids_given_to_children_follow_our_cuda_visible_devices():
    assert local_pool.child_device_ids(2) == ["0", "1"]
    assert local_pool.child_device_ids(2, "") == ["0", "1"]
    assert local_pool.child_device_ids(2, "4,6") == ["4", "6"]
    assert local_pool.child_device_ids(1, "GPU-3f2a, GPU-77b1") == ["GPU-3f2a"]
    assert local_pool.child_device_ids(0, "4,6") == []


def test_device_selection(monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the machine without GPU")
    assert local_pool.local_slots() == [("cpu", "")]
    assert local_pool.local_slots(jobs_per_gpu=3) == [("cpu", "")] * 3
    with pytest.raises(UserError, match="sees no GPU"):
        local_pool.local_slots([0])
    with pytest.raises(UserError, match="--jobs-per-gpu"):
        local_pool.local_slots(jobs_per_gpu=0)


# ------------------------------------------------------------------------- the grid

def test_the_paper_grids_and_their_recipes():
    exp_10 = grid_runs.select_runs(grid.EXP_10, base_folder=Path("/B"))
    assert len(exp_10) == 2 * 4 * 5
    assert len(grid_runs.select_runs(grid.EXP_10_1)) == 12
    assert len(grid_runs.select_runs(grid.EXP_11_1)) == 2 * 3 * 3
    first = exp_10[0]
    assert first.name == "CifarMinFP-LS_s9_N3"
    assert first.folder == Path("/B/exp_data/CifarMinFP-LS_s9_N3")
    argv = list(first.argv)
    assert argv[argv.index("--model_kw") + 1] == "q: 2;k: 3;N: 3;"
    assert argv[argv.index("--fixed_steps"):argv.index("--fixed_steps") + 3] == [
        "--fixed_steps", "100", "150"]
    assert "--opt_kw" not in argv and "--resume" in argv and "--train_subset" not in argv
    for option, value in (("--lr", "0.1"), ("--wd", "0.0001"), ("--mom", "0.9"),
                          ("--bs", "128"), ("--epochs", "200"), ("--seed", "9"),
                          ("--dataset", "cifar_10"), ("--folder", str(first.folder))):
        assert argv[argv.index(option) + 1] == value, option

    dense = grid_runs.select_runs(grid.EXP_11_1, models=["CifarDenseMin"], sizes=[100], seeds=[723])
    assert [r.name for r in dense] == ["CifarDenseMin_k12_L100_s723"]
    argv = list(dense[0].argv)
    assert argv[argv.index("--opt_kw") + 1] == "nesterov: True;"
    assert argv[argv.index("--bs") + 1] == "64" and argv[argv.index("--epochs") + 1] == "300"
    assert argv[argv.index("--model_kw") + 1] == (
        "stride: 1;growth_rate: 12;n_blocks: 100;efficient: True;compression: 0.5;k: 3;q: 2;")


def test_the_smoke_profile():
    runs = grid_runs.select_runs(grid.EXP_10, "smoke")
    assert [r.name for r in runs] == ["CifarMinFP-LS_s9_N3", "CifarPyrResNet_s9_N3"]
    assert runs[0].folder == grid.EXP_10.base_folder("smoke") / "exp_data" / runs[0].name
    argv = list(runs[0].argv)
    assert argv[argv.index("--epochs") + 1] == str(grid.SMOKE["epochs"])
    steps = argv[argv.index("--fixed_steps") + 1:argv.index("--resume")]
    assert steps == [str(s) for s in grid.SMOKE["fixed_steps"]]
    assert all(0 < s < grid.SMOKE["epochs"] for s in grid.SMOKE["fixed_steps"])
    assert argv[argv.index("--train_subset") + 1] == str(grid.SMOKE["train_subset"])
    assert argv[argv.index("--test_subset") + 1] == str(grid.SMOKE["test_subset"])
    # Asking for other seeds or sizes overrides the smoke defaults.
    assert len(grid_runs.select_runs(grid.EXP_10, "smoke", seeds=[9, 16], sizes=[5, 9])) == 8



def test_a_smoke_evaluation_covers_the_smoke_runs_trained_with_other_seeds_or_sizes(tmp_path):
    smoke = grid.EXP_10.for_profile("smoke")
    assert grid.EXP_10.evaluated_grid("smoke", tmp_path) == smoke   # no exp_data yet
    for name in ("CifarPyrResNet_s16_N5", "not_a_run_of_the_grid"):
        (tmp_path / "exp_data" / name).mkdir(parents=True)
    widened = grid.EXP_10.evaluated_grid("smoke", tmp_path)
    assert widened.seeds == (9, 16) and widened.sizes == (3, 5)   # in the paper's order
    assert widened.models == grid.EXP_10.models
    # The paper profile always evaluates the paper's whole grid.
    assert grid.EXP_10.evaluated_grid("paper", tmp_path) == grid.EXP_10

def test_unknown_selections_are_user_errors_naming_the_valid_values():
    with pytest.raises(UserError, match="unknown seed 1; this experiment has 9 507 723 16 744"):
        grid_runs.select_runs(grid.EXP_10, seeds=[1, 9])
    with pytest.raises(UserError, match="unknown model CifarResNet; .* CifarMinFP-LS CifarPyrResNet"):
        grid_runs.select_runs(grid.EXP_10, models=["CifarResNet"])
    with pytest.raises(UserError, match="unknown size 3; this experiment has 22 58 100"):
        grid_runs.select_runs(grid.EXP_11_1, sizes=[3])


# ------------------------------------------------------------------ the exe_ scripts

def exe(script: str, *args, env=None, check_rc=None, timeout=600):
    """Run an exe script as a user would: from the repository root, no PYTHONPATH."""
    env = dict(env if env is not None else os.environ)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, script, *map(str, args)], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if check_rc is not None and result.returncode != check_rc:
        raise AssertionError(f"exit {result.returncode}, expected {check_rc}\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def fake_finished_run(folder: Path, epochs: int, done: int, model=True):
    folder.mkdir(parents=True)
    (folder / rf.OPT_FILE).write_text(json.dumps({"epochs": epochs}))
    (folder / rf.LOG_FILE).write_text(json.dumps({"val_er": [5.0] * done}))
    if model:
        (folder / rf.MODEL_FILE).write_bytes(b"w")


def test_dry_run_lists_what_would_happen_and_changes_nothing(tmp_path):
    base = tmp_path / "B"
    fake_finished_run(base / "exp_data" / "CifarResNet_s257_N9", 200, 200)
    fake_finished_run(base / "exp_data" / "CifarResNet_s408_N9", 200, 12, model=False)
    before = sorted(base.rglob("*"))
    result = exe("experiments/exp_10_1/exe_train_exp_10_1.py", "--dry-run", "--base_folder",
                 base, "--", "--amp", "bf16", check_rc=0)
    lines = result.stdout.splitlines()
    assert any(l.split()[:2] == ["skip", "CifarResNet_s257_N9"] and "(finished)" in l for l in lines)
    assert any(l.split()[:2] == ["resume", "CifarResNet_s408_N9"] and "12 of 200" in l
               for l in lines)
    assert any(l.split()[:2] == ["start", "CifarResNet_s464_N9"] for l in lines)
    assert "12 runs: would start 10, resume 1, skip 1" in result.stdout
    example = next(l for l in lines if l.startswith("e.g. "))
    assert "run_training.py --model_type CifarResNet" in example
    assert example.endswith("--resume --device '<device>' --amp bf16")
    assert sorted(base.rglob("*")) == before


def test_dry_run_of_the_slurm_launcher_and_of_the_jpeg_predictions(tmp_path):
    result = exe("experiments/exp_11_1/exe_train_exp_11_1.py", "--dry-run", "--profile", "smoke",
                 "--base_folder", tmp_path, "--launcher", "slurm", "--partition", "gpu",
                 "--time", "600", check_rc=0)
    assert "2 runs: would start 2" in result.stdout
    assert "one Slurm job per run (1 GPU, 600 min, partition gpu)" in result.stdout

    fake_finished_run(tmp_path / "exp_data" / "CifarPyrResNet_s9_N3", 1, 1)
    result = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", "--dry-run", "--profile",
                 "smoke", "--base_folder", tmp_path, "--run-predictions", check_rc=0)
    assert "2 predictions: would start 1, resume 0, skip 1" in result.stdout
    assert "(no trained model.pt)" in result.stdout
    assert "run_jpeg_robustness_test.py --model_folder" in result.stdout
    assert "--subset 1000" in result.stdout
    assert not (tmp_path / "jpeg_model_predictions").exists()

    # The paper protocol's file exists; the rgb protocol has its own files, so it would start.
    paper_file = tmp_path / "jpeg_model_predictions" / "CifarPyrResNet_s9_N3.npy"
    paper_file.parent.mkdir()
    import numpy as np

    np.save(paper_file, np.zeros((5, 11), dtype=np.int64))
    options = ["--dry-run", "--profile", "smoke", "--base_folder", tmp_path, "--run-predictions"]
    result = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", *options, check_rc=0)
    assert "2 predictions: would start 0, resume 0, skip 2" in result.stdout
    result = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", *options, "--protocol", "rgb",
                 check_rc=0)
    assert "2 predictions: would start 1, resume 0, skip 1" in result.stdout
    assert "--protocol rgb" in result.stdout
    assert not (tmp_path / "jpeg_model_predictions_rgb").exists()


@pytest.mark.parametrize("args, message", [
    (["--seeds", "1", "2"], "error: unknown seed 1 2; this experiment has 9 507 723 16 744"),
    (["--models", "CifarDenseNet"], "error: unknown model CifarDenseNet; this experiment has "
                                    "CifarMinFP-LS CifarPyrResNet"),
    (["--sizes", "4"], "error: unknown size 4; this experiment has 3 5 7 9"),
    (["--jobs-per-gpu", "0", "--seeds", "9", "--sizes", "3"], "error: --jobs-per-gpu must be at least 1"),
])
def test_bad_selections_are_one_line_errors(tmp_path, args, message):
    result = exe("experiments/exp_10/exe_train_exp_10.py", "--base_folder", tmp_path, *args,
                 check_rc=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not (tmp_path / "exp_data").exists()


def test_slurm_launcher_without_slurm_says_so(tmp_path):
    # A PATH without Slurm's commands, also on a machine that has them (CI does).
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not (Path(p) / "sbatch").exists())
    result = exe("experiments/exp_10_1/exe_train_exp_10_1.py", "--base_folder", tmp_path,
                 "--launcher", "slurm", env=dict(os.environ, PATH=path), check_rc=2)
    assert "needs Slurm's sbatch" in result.stderr


# ------------------------------------------------- Slurm through submitit, stand-ins

FAKE_SBATCH = """#!/bin/sh
# Stand-in for Slurm's sbatch: keeps the submission file, answers like sbatch.
n=$(( $(cat "$FAKE_SLURM/count" 2>/dev/null || echo 4240) + 1 ))
echo $n > "$FAKE_SLURM/count"
cp "$1" "$FAKE_SLURM/job_$n.sh"
echo "Submitted batch job $n"
"""


def test_slurm_submission_files_carry_the_options(tmp_path, data_env):
    """Through submitit's real SlurmExecutor down to the sbatch call (a stand-in that
    keeps the files): one job per run, named after it, with the requested resources, the
    warning signal before the time limit, and requeueing."""
    bin_folder, fake = tmp_path / "bin", tmp_path / "slurm"
    bin_folder.mkdir()
    fake.mkdir()
    (bin_folder / "sbatch").write_text(FAKE_SBATCH)
    (bin_folder / "srun").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_folder.iterdir():
        tool.chmod(0o755)
    env = dict(os.environ, FAKE_SLURM=str(fake),
               PATH=f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    base = tmp_path / "B"
    fake_finished_run(base / "exp_data" / "CifarDenseNet_k12_L22_s9", 1, 1)
    result = exe("experiments/exp_11_1/exe_train_exp_11_1.py", "--profile", "smoke",
                 "--base_folder", base, "--launcher", "slurm", "--no-wait", "--partition", "gpu",
                 "--time", "600", "--cpus-per-task", "6", "--mem", "24", "--", "--amp", "bf16",
                 env=env, check_rc=0)
    assert "submitted CifarDenseMin_k12_L22_s9 as job 4241" in result.stdout
    assert ("2 runs: 0 done, 0 resumed, 1 skipped, 0 failed, 1 submitted to Slurm "
            "(not waited for)") in result.stdout
    script = (fake / "job_4241.sh").read_text()
    for line in ("#SBATCH --job-name=CifarDenseMin_k12_L22_s9", "#SBATCH --partition=gpu",
                 "#SBATCH --time=600", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=6",
                 "#SBATCH --mem=24GB", "#SBATCH --signal=USR2@120", "#SBATCH --ntasks-per-node=1"):
        assert line in script.splitlines(), line
    assert "submitit.core._submit" in script
    # What the job will run: the pickled SlurmRun, resumable, on the job's GPU.
    import pickle

    pickled = next((base / "logs" / "submitit").rglob("*_submitted.pkl"))
    delayed = pickle.loads(pickled.read_bytes())
    run = delayed.function
    assert isinstance(run, slurm.SlurmRun) and run.job.name == "CifarDenseMin_k12_L22_s9"
    command = run.job.command(run.device, run.extra_args)
    assert command[-4:] == ["--device", "cuda", "--amp", "bf16"] and "--resume" in command
    assert delayed._timeout_countdown == slurm.SLURM_MAX_TIMEOUTS

def slurm_options(**kw):
    defaults = dict(submitit_cluster="local", time=5, gpus_per_job=0, cpus_per_task=1, mem=1,
                    partition=None, no_wait=False)
    return argparse.Namespace(**{**defaults, **kw})


def test_slurm_launcher_one_job_per_run_and_failures_reported(tmp_path, stand_in, capsys):
    runs = [stand_in_run(tmp_path, "ok"), stand_in_run(tmp_path, "bad", "--fail", 5)]
    jobs = plan.training_jobs(runs, tmp_path / rf.LOGS, script=stand_in)
    outcomes = slurm.run_slurm(jobs, tmp_path / "logs" / "submitit", slurm_options())
    assert [o.status for o in outcomes] == [plan.DONE, plan.FAILED]
    assert "error: this run was told to fail" in outcomes[1].message
    assert rf.run_state(runs[0].folder) == rf.FINISHED
    assert calls(runs[0])[0]["argv"][-2:] == ["--device", "cpu"]
    assert "submitted ok as job" in capsys.readouterr().out
    # The run's output is in its log, as with the local launcher.
    assert (tmp_path / "logs" / "ok.log").read_text().strip().endswith("finished")


def test_a_slurm_runs_subprocess_outlives_the_signals_slurm_sends_to_the_job(tmp_path,
                                                                             stand_in):
    """Slurm signals every process of a job (USR2 before the time limit, SIGTERM on
    preemption); the run's subprocess must survive them until submitit's handler, in the
    job's main process, stops it and requeues the job."""
    import signal
    import threading

    run = stand_in_run(tmp_path, "signalled", "--epochs", 4, "--sleep", 0.3)
    job, = plan.training_jobs([run], tmp_path / rf.LOGS, script=stand_in)
    result = {}
    thread = threading.Thread(target=lambda: result.update(name=slurm.SlurmRun(job, "cpu")()))
    thread.start()
    deadline = time.time() + 30
    while not calls(run) and time.time() < deadline:
        time.sleep(0.05)
    child = calls(run)[0]["pid"]
    os.kill(child, signal.SIGUSR2)
    os.kill(child, signal.SIGTERM)
    thread.join(60)
    assert result == {"name": "signalled"}
    assert rf.run_state(run.folder) == rf.FINISHED and len(calls(run)) == 1


@pytest.mark.slow
def test_a_timed_out_slurm_job_is_requeued_and_resumes(tmp_path, stand_in, monkeypatch):
    """submitit's local executor sends the warning signal before the time limit like Slurm
    does: the job stops its subprocess, requeues itself, and the next subprocess resumes
    the run where the last one stopped, until it is finished."""
    import submitit

    run = stand_in_run(tmp_path, "long", "--epochs", 10, "--sleep", 0.4)
    job, = plan.training_jobs([run], tmp_path / rf.LOGS, script=stand_in)
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))   # as run_slurm does: the job imports launch
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit" / "%j", max_num_timeout=10)
    # A 6 s limit, warned 3 s before: the run (4 s of epochs) needs two or three jobs.
    executor.update_parameters(timeout_min=0.1, signal_delay_s=3, gpus_per_node=0)
    slurm_job = executor.submit(slurm.SlurmRun(job, "cpu"))
    assert slurm_job.result() == "long"

    starts = [c["start_epoch"] for c in calls(run)]
    assert len(starts) >= 2 and starts[0] == 0
    assert starts == sorted(starts) and starts[-1] > 0     # each resumed, none restarted
    assert rf.run_state(run.folder) == rf.FINISHED
    headers = [l for l in job.log.read_text().splitlines() if l.startswith("==== ")]
    assert [h.split()[2] for h in headers] == ["start"] + ["resume"] * (len(starts) - 1)


# ------------------------------------------------ end to end with run_training.py

# A few images and one epoch per run: the launcher is under test, not the training.
TINY = ["--", "--train_subset", "256", "--test_subset", "100", "--epochs", "1", "--fixed_steps"]


@pytest.fixture
def own_data(cifar_folder, tmp_path, monkeypatch) -> dict:
    """A copy of the fixture's data (the JPEG test creates files in its data folder) and
    the environment pointing at it."""
    data = tmp_path / "data"
    shutil.copytree(cifar_folder, data)
    monkeypatch.setenv("DATA_FOLDER", str(data))
    return dict(os.environ, DATA_FOLDER=str(data), MPLBACKEND="Agg")


@pytest.mark.slow
def test_training_grid_end_to_end_failure_skip_resume(tmp_path, own_data):
    """exp_10's smoke grid (2 runs) with the real run_training.py: one run cannot write its
    folder and fails, the other finishes; a relaunch skips the finished one and runs the
    fixed one; a run without model.pt is resumed."""
    base = tmp_path / "B"
    blocked = base / "exp_data" / "CifarPyrResNet_s9_N3"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run folder should be")
    script = "experiments/exp_10/exe_train_exp_10.py"

    result = exe(script, "--profile", "smoke", "--base_folder", base, *TINY, env=own_data,
                 check_rc=1)
    assert "2 runs: 1 done, 0 resumed, 0 skipped, 1 failed" in result.stdout
    log = base / "logs" / "CifarPyrResNet_s9_N3.log"
    assert f"failed: CifarPyrResNet_s9_N3: exit 2: error: " in result.stdout
    assert f"(log: {log})" in result.stdout
    assert "run_training.py --model_type CifarPyrResNet" in log.read_text()
    done = base / "exp_data" / "CifarMinFP-LS_s9_N3"
    assert rf.run_state(done) == rf.FINISHED
    opt = json.loads((done / rf.OPT_FILE).read_text())
    assert (opt["epochs"], opt["fixed_steps"], opt["train_subset"], opt["seed"]) == (1, [], 256, 9)
    assert opt["model_kw"] == "q: 2;k: 3;N: 3;" and opt["device"] == "cpu"

    blocked.unlink()
    result = exe(script, "--profile", "smoke", "--base_folder", base, *TINY, env=own_data,
                 check_rc=0)
    assert "2 runs: 1 done, 0 resumed, 1 skipped, 0 failed" in result.stdout

    (done / rf.MODEL_FILE).unlink()   # as if killed after its last epoch's checkpoint
    result = exe(script, "--profile", "smoke", "--base_folder", base, *TINY, env=own_data,
                 check_rc=0)
    assert "2 runs: 0 done, 1 resumed, 1 skipped, 0 failed" in result.stdout
    assert "resuming at epoch 1" in (base / "logs" / "CifarMinFP-LS_s9_N3.log").read_text()
    assert rf.run_state(done) == rf.FINISHED


@pytest.mark.slow
def test_slurm_launcher_end_to_end_through_submitit_local(tmp_path, own_data):
    result = exe("experiments/exp_10/exe_train_exp_10.py", "--profile", "smoke",
                 "--models", "CifarPyrResNet", "--base_folder", tmp_path, "--launcher", "slurm",
                 "--submitit-cluster", "local", "--gpus-per-job", "0", "--time", "10", *TINY,
                 env=own_data, check_rc=0)
    assert "submitted CifarPyrResNet_s9_N3 as job" in result.stdout
    assert "1 run: 1 done, 0 resumed, 0 skipped, 0 failed" in result.stdout
    assert rf.run_state(tmp_path / "exp_data" / "CifarPyrResNet_s9_N3") == rf.FINISHED
    assert list((tmp_path / "logs" / "submitit").iterdir())   # submitit's own files


@pytest.mark.slow
def test_jpeg_tests_end_to_end(tmp_path, own_data):
    """Train one run of exp_10's smoke grid, then --run-predictions: predictions for the
    finished run (the other has no model.pt yet), the JPEG test set created once, the
    evaluation run; a second call skips the existing predictions file."""
    import numpy as np

    exe("experiments/exp_10/exe_train_exp_10.py", "--profile", "smoke", "--base_folder",
        tmp_path, "--models", "CifarPyrResNet", *TINY, env=own_data, check_rc=0)
    script = "experiments/exp_10/exe_exp10_jpeg_tests.py"
    # The smoke profile's --subset 1000, then ours: argparse keeps the last.
    options = ["--profile", "smoke", "--base_folder", tmp_path, "--run-predictions",
               "--", "--subset", "100"]
    result = exe(script, *options, env=own_data)
    assert "2 predictions: 1 done, 0 resumed, 1 skipped, 0 failed" in result.stdout, \
        result.stdout + result.stderr
    predictions = np.load(tmp_path / "jpeg_model_predictions" / "CifarPyrResNet_s9_N3.npy")
    assert predictions.shape == (100, 11) and predictions.dtype == np.int64
    assert not (tmp_path / "jpeg_model_predictions" / "CifarMinFP-LS_s9_N3.npy").exists()
    assert "creating the JPEG test set" in result.stdout
    assert (Path(own_data["DATA_FOLDER"]) / "test_cifar10_jpeg_noise_image_stacks.npy").is_file()
    # What follows the predictions is evaluate_jpeg's: its files and its exit status.
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.md").is_file()

    result = exe(script, *options, env=own_data, check_rc=0)
    assert "2 predictions: 0 done, 0 resumed, 2 skipped, 0 failed" in result.stdout
    assert "creating the JPEG test set" not in result.stdout

    # A run whose model.pt is damaged: its prediction job fails and is named, the evaluation
    # of the other still runs, and the exit status says something failed.
    broken = tmp_path / "exp_data" / "CifarMinFP-LS_s9_N3"
    fake_finished_run(broken, 1, 1)    # finished, as far as its log goes
    (broken / "model.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "report.md").unlink()
    result = exe(script, *options, env=own_data, check_rc=1)
    assert "2 predictions: 0 done, 0 resumed, 1 skipped, 1 failed" in result.stdout
    assert "failed: CifarMinFP-LS_s9_N3: exit 2: error: " in result.stdout
    assert (tmp_path / "report.md").is_file()
    assert not (tmp_path / "jpeg_model_predictions" / "CifarMinFP-LS_s9_N3.npy").exists()
