"""experiments/launching/cpu_guard.py: the paper profile on a machine without a GPU stops
before anything starts, with an estimate of its time and the two ways on."""
import pytest

from experiments.launching import cpu_guard, local_pool
from experiments.launching.jobs import RESUME, SKIP, START, Job
from helpers import run_in_process as exe
from helpers import write_run

ONE_RUN = ["--models", "CifarPyrResNet", "--sizes", "3", "--seeds", "9"]
TRAIN_10 = "experiments/exp_10/exe_train_exp_10.py"


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as one without a GPU, also where the tests run on one."""
    monkeypatch.setattr(local_pool, "visible_gpus", lambda: [])


def test_the_paper_profile_without_a_gpu_stops_with_an_estimate_and_the_ways_on(tmp_path, no_gpu):
    result = exe(TRAIN_10, "--base_folder", tmp_path, *ONE_RUN, check_rc=2)
    line, = result.stderr.strip().splitlines()
    assert line.startswith("error: the paper profile on a machine without a GPU would take about ")
    assert "for 1 run (estimated from a timed training step" in line
    assert "--profile smoke" in line and "add --cpu to train" in line
    assert list(tmp_path.iterdir()) == []   # nothing started, nothing written


def test_the_dry_run_gives_the_estimate_and_cpu_or_smoke_pass_the_guard(tmp_path, no_gpu):
    result = exe(TRAIN_10, "--base_folder", tmp_path, *ONE_RUN, "--dry-run", check_rc=0)
    assert "1 run: would start 1" in result.stdout
    assert "on this machine's CPU for 1 run" in result.stdout
    assert "without a GPU the paper profile needs --cpu" in result.stdout
    for way_on in (["--cpu"], ["--profile", "smoke"]):
        result = exe(TRAIN_10, "--base_folder", tmp_path, *ONE_RUN, "--dry-run", *way_on,
                     check_rc=0)
        assert "CPU for" not in result.stdout, way_on


def test_a_finished_grid_is_not_guarded(tmp_path, no_gpu):
    write_run(tmp_path / "exp_data" / "CifarPyrResNet_s9_N3", 200, 200)
    result = exe(TRAIN_10, "--base_folder", tmp_path, *ONE_RUN, check_rc=0)
    assert "1 run: 0 done, 0 resumed, 1 skipped, 0 failed" in result.stdout


def test_the_estimate_counts_the_epochs_left_images_and_parallel_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_guard, "seconds_per_image", lambda model_type, model_kw: 0.01)
    write_run(tmp_path / "half", 200, 100, model=False)
    argv = ("--model_type", "CifarPyrResNet", "--model_kw", "N: 3;", "--epochs", "200")

    def job(action, folder):
        return Job("run", tmp_path / "run_training.py", argv, tmp_path / "log", action, "",
                   tmp_path / folder)

    epoch = (50_000 + 10_000 / 3) * 0.01
    new, half, done = job(START, "new"), job(RESUME, "half"), job(SKIP, "done")
    assert cpu_guard.estimate_seconds([new]) == pytest.approx(200 * epoch)
    assert cpu_guard.estimate_seconds([new, half, done]) == pytest.approx(300 * epoch)
    assert cpu_guard.estimate_seconds([new, half], parallel=3) == pytest.approx(100 * epoch)
    smaller = ["--epochs", "8", "--train_subset", "5000", "--test_subset", "1000"]
    assert cpu_guard.estimate_seconds([new], smaller) == pytest.approx(8 * 5333.3333 * 0.01)


def test_a_timed_step_is_a_real_cost_per_image():
    seconds = cpu_guard.seconds_per_image("CifarMinFP-LS", "q: 2;k: 3;N: 3;")
    assert 0 < seconds < 60   # finite, and per image (not per step of a batch)


@pytest.mark.parametrize("seconds, words", [(30, "30 seconds"), (90, "2 minutes"),
                                            (70, "1 minute"), (3 * 3600, "3 hours"),
                                            (40 * 86400, "40 days")])
def test_durations_in_the_units_people_plan_with(seconds, words):
    assert cpu_guard.duration(seconds) == words
