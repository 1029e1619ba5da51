"""The launcher with real processes: a run held elsewhere, children that die with their
launcher, the one-line error of a failed run, prediction plans (unusable and unfinished),
the hints under --profile smoke, and the summary's grammar."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from experiments import grid
from experiments.launching import runs as grid_runs
from experiments.launching import jobs as plan
from experiments.launching import launch
from experiments.rendering import report
from experiments.launching import local_pool
from experiments import robustness_suite as prediction_kinds
from experiments.launching import slurm
from experiments.launching import jobs as summary
from experiments.launching.run_process import failure_message
import run_folder as rf

REPO_ROOT = Path(__file__).resolve().parents[1]

# A stand-in run: records its pid, then prints what it is told to and sleeps.
CHILD = r'''
import json, sys, time
from pathlib import Path
folder = Path(sys.argv[sys.argv.index("--folder") + 1])
folder.mkdir(parents=True, exist_ok=True)
(folder / "pid").write_text(str(__import__("os").getpid()))
for line in sys.argv[sys.argv.index("--print") + 1].split("|"):
    print(line, file=sys.stderr if line.startswith("error:") else sys.stdout, flush=True)
time.sleep(float(sys.argv[sys.argv.index("--sleep") + 1]))
sys.exit(int(sys.argv[sys.argv.index("--exit") + 1]))
'''

CPU = [("cpu", "")]


def child_job(tmp_path, name="r", text="hello", sleep=0, exit_code=0):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    folder = tmp_path / rf.EXP_DATA / name
    run = grid_runs.Run("e", "StandIn", 1, 0, name, folder,
                   ("--folder", str(folder), "--print", text, "--sleep", str(sleep),
                    "--exit", str(exit_code)))
    return plan.training_jobs([run], tmp_path / rf.LOGS, script=script)[0]


def wait_for(predicate, what, seconds=60):
    deadline = time.time() + seconds
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_summary_shows_the_error_line_not_what_followed_it(tmp_path, capsys):
    job = child_job(tmp_path, text="epoch 1|error: no space left on device writing "
                                   "checkpoint.pt|some output flushed at exit", exit_code=2)
    outcome, = local_pool.run_local([job], CPU)
    assert outcome.status == plan.FAILED
    assert outcome.message == "exit 2: error: no space left on device writing checkpoint.pt"
    assert failure_message(job, -9).startswith("killed by SIGKILL: error: no space left")
    capsys.readouterr()
    assert launch.summarize([outcome]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "1 run: 0 done, 0 resumed, 0 skipped, 1 failed"
    assert "failed: r: exit 2: error: no space left on device" in out


def test_the_summary_counts_in_the_singular_and_the_plural():
    assert report.counted(1, "run") == "1 run"
    assert report.counted(2, "run") == "2 runs"
    assert report.counted(1, "prediction") == "1 prediction"
    assert report.counted(0, "prediction") == "0 predictions"


HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import run_folder as rf
with rf.locked(sys.argv[2]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_run_held_by_another_process_is_running_elsewhere_locally_and_on_slurm(tmp_path,
                                                                                capsys):
    job = child_job(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(REPO_ROOT),
                               str(job.run_folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        outcome, = local_pool.run_local([job], CPU)
        assert (outcome.status, outcome.message) == (plan.BUSY,
                                                     f"running elsewhere (pid {holder.pid})")
        options = dict(submitit_cluster="local", time=5, gpus_per_job=0, cpus_per_task=1,
                       mem=1, partition=None, no_wait=False)
        import argparse

        on_slurm, = slurm.run_slurm([job], tmp_path / "submitit", argparse.Namespace(**options))
        assert (on_slurm.status, on_slurm.message) == (plan.BUSY,
                                                       f"running elsewhere (pid {holder.pid})")
    finally:
        holder.kill()
        holder.wait()
    assert not (job.run_folder / "pid").exists()     # never started
    capsys.readouterr()
    assert launch.summarize([outcome]) == 0         # not a failure
    out = capsys.readouterr().out
    assert "1 run: 0 done, 0 resumed, 0 skipped, 0 failed, 1 running elsewhere" in out
    assert f"running elsewhere: r: running elsewhere (pid {holder.pid})" in out
    # Once the holder is gone, the run starts, and its child holds the run's lock.
    outcome, = local_pool.run_local([job], CPU)
    assert outcome.status == plan.DONE


DRIVER = """
import argparse, sys
sys.path.insert(0, sys.argv[1])
from errors import run_main
from experiments import grid
from experiments.launching import runs as grid_runs
from experiments.launching import launch
from experiments.launching import jobs as plan
folder = grid.Path(sys.argv[3])
run = grid_runs.Run("e", "StandIn", 1, 0, "slow", folder,
               ("--folder", str(folder), "--print", "started", "--sleep", "300", "--exit", "0"))
jobs = plan.training_jobs([run], grid.Path(sys.argv[4]), script=sys.argv[2])
args = argparse.Namespace(launcher="local", dry_run=False, gpus=None, cpu=True, jobs_per_gpu=1)
sys.exit(run_main(lambda argv: launch.launch(jobs, args)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_sigkilled_launcher_leaves_no_orphan_holding_the_run(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    folder = tmp_path / rf.EXP_DATA / "slow"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(REPO_ROOT), str(script),
                               str(folder), str(tmp_path / rf.LOGS)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (folder / "pid").exists() and (folder / "pid").read_text(), "the child")
    child = int((folder / "pid").read_text())
    assert alive(child)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    wait_for(lambda: not alive(child), "the orphan to die")
    # Nothing holds the run any more: it can be locked again at once.
    with rf.locked(folder):
        pass


def finished_run(folder: Path, model=True, epochs_done=1):
    folder.mkdir(parents=True)
    (folder / rf.OPT_FILE).write_text(json.dumps({"epochs": 1}))
    (folder / rf.LOG_FILE).write_text(json.dumps({"val_er": [5.0] * epochs_done}))
    if model:
        (folder / rf.MODEL_FILE).write_bytes(b"w")


def test_prediction_plan_recomputes_unusable_files_and_skips_unfinished_runs(tmp_path):
    runs = grid_runs.select_runs(grid.EXP_11_1, "smoke", base_folder=tmp_path,
                            seeds=[9, 507], models=["CifarDenseNet"])
    good, bad = runs
    unfinished = grid_runs.select_runs(grid.EXP_11_1, "smoke", base_folder=tmp_path, seeds=[723],
                                  models=["CifarDenseMin"])[0]
    for run in (good, bad):
        finished_run(run.folder)
    finished_run(unfinished.folder, epochs_done=0)     # model.pt, but its log is short
    kind = prediction_kinds.jpeg()
    kind.output(tmp_path, good.name).parent.mkdir(parents=True)
    np.save(kind.output(tmp_path, good.name), np.zeros((3, 11), np.int64))
    np.save(kind.output(tmp_path, bad.name), np.zeros((3, 4), np.int64))
    np.save(kind.output(tmp_path, unfinished.name), np.zeros((3, 11), np.int64))
    planned = plan.prediction_jobs(kind, [good, bad, unfinished], tmp_path,
                                   tmp_path / rf.LOGS)
    assert [j.action for j in planned] == [plan.SKIP, plan.START, plan.SKIP]
    assert planned[0].note == "predictions exist"
    assert planned[1].note.startswith(f"recompute: {bad.name}.npy has shape (3, 4)")
    assert planned[2].note == "training unfinished"
    assert planned[1].log.name == f"{bad.name}.jpeg_model_predictions.log"
    assert not plan.untrained(planned)


def exe(script, *args, env=None):
    env = dict(env or os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, script, *map(str, args)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_run_predictions_with_nothing_trained_names_where_it_looked_and_the_command(tmp_path):
    result = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", "--profile", "smoke",
                 "--base_folder", tmp_path, "--run-predictions")
    assert result.returncode == 2, result.stdout + result.stderr
    line, = result.stderr.strip().splitlines()
    assert "no trained model.pt" in line
    assert str(tmp_path / rf.EXP_DATA / "CifarMinFP-LS_s9_N3" / "model.pt") in line
    assert line.endswith("train them first: python experiments/exp_10/exe_train_exp_10.py "
                         f"--profile smoke --base_folder {tmp_path}")
    assert "--run-predictions" not in line
    assert not (tmp_path / "jpeg_model_predictions").exists()
