"""experiments/launching/local_pool.py: the local launcher, with real subprocesses.

The runs are a small stand-in for run_training.py (tests/helpers.py STAND_IN: it "trains" a
run folder epoch by epoch, with the same files and --resume rule), so the launcher's own
behaviour - skip, resume, start, failures, slots, locks, logs, stopping - is checked with
real subprocesses in a second each (test_smoke_launcher.py launches the real run_training.py).
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from errors import UserError
from experiments.launching import jobs as plan
from experiments.launching import launch
from experiments.launching import local_pool
from experiments.launching import slurm
from helpers import CPU, REPO_ROOT, calls, child_job, stand_in_run
import run_folder as rf


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


STAND_IN_DRIVER = """
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
    driver = subprocess.Popen([sys.executable, "-c", STAND_IN_DRIVER, str(REPO_ROOT), str(stand_in),
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


COUNT_GPUS = """
import sys
from experiments.launching import local_pool
markers = sys.argv[1:]
if markers:
    local_pool.GPU_DRIVER_MARKERS = tuple(markers)
print(local_pool.gpu_driver_present(), local_pool.visible_gpus(), "torch" in sys.modules)
"""


def test_without_a_gpu_driver_the_launcher_counts_no_gpu_without_importing_torch(tmp_path):
    """A fresh interpreter, as a launch: where the machine shows no GPU driver (this
    one, CI), the count is 0 and torch was never imported; where a driver shows (a marker
    made here), torch is asked, and its answer is the count."""
    import torch

    def count(*markers):
        result = subprocess.run([sys.executable, "-c", COUNT_GPUS, *map(str, markers)],
                                cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        return result.stdout.strip()

    asked = local_pool.child_device_ids(torch.cuda.device_count(),
                                        os.environ.get("CUDA_VISIBLE_DEVICES"))
    (tmp_path / "nvidia").mkdir()
    assert count(tmp_path / "nvidia") == f"True {asked} True"
    if local_pool.gpu_driver_present():   # a GPU machine: torch is asked there too
        assert count() == f"True {asked} True"
    else:
        assert asked == []                  # torch agrees: no GPU without a driver
        assert count() == "False [] False"
        assert count(tmp_path / "absent", tmp_path / "also_absent") == "False [] False"
