"""experiments/launching/run_process.py: one run's subprocess, its failure line, and no orphan
when its launcher is killed.
"""
import signal
import subprocess
import sys

import pytest

from experiments.launching import jobs as plan
from experiments.launching import launch
from experiments.launching import local_pool
from experiments.launching.run_process import failure_message
from helpers import CHILD, CPU, REPO_ROOT, alive, child_job, wait_for
import run_folder as rf


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
