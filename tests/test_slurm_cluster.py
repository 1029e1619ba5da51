"""The Slurm launcher against a real Slurm cluster: sbatch, squeue, `scontrol requeue`,
the time-limit signal and scancel, through the real `--launcher slurm` of the exe_
scripts (no submitit local executor, no stand-in).

Start a one-node cluster first (as root): `tools/slurm_cluster.sh start`. Without one
these tests skip, or fail where REQUIRE_SLURM=1 (CI, .ci/run).

To stop a run at a known point whatever the machine's speed, the runs of some tests
are *gated*: a sitecustomize.py on their PYTHONPATH makes run_training.py wait, right
after it saved the checkpoint of its first epoch, until a release file exists (it writes
<gate>/<run>.paused first). Only the training waits; Slurm, submitit and the launcher are
the real ones. A resumed run saves no first-epoch checkpoint, so it never waits.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import helpers
import run_folder as rf
from experiments.launching import slurm_queue

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_10 = "experiments/exp_10/exe_train_exp_10.py"
RUNS = ("CifarMinFP-LS_s9_N3", "CifarPyrResNet_s9_N3")   # exp_10's smoke grid
ONE = ["--models", "CifarPyrResNet"]
ONE_RUN = "CifarPyrResNet_s9_N3"
# Two epochs (one to resume after), a few images, one thread: the same weights on every
# launcher and after any interruption.
TRAIN = ["--", "--train_subset", "64", "--test_subset", "50", "--epochs", "2",
         "--fixed_steps", "--num_threads", "1"]
# Jobs of one CPU each (the test cluster has two slots per core), followed closely.
SLURM = ["--launcher", "slurm", "--gpus-per-job", "0", "--cpus-per-task", "1", "--mem", "2",
         "--time", "10", "--poll-s", "0.5"]

GATE = '''
import os, sys, time
from pathlib import Path
gate = os.environ.get("SLURM_TEST_GATE")
if gate:
    sys.path.insert(0, {repo!r})
    import run_folder
    _save = run_folder.save_checkpoint

    def save_checkpoint(folder, checkpoint):
        _save(folder, checkpoint)
        if checkpoint.get("epoch") != 1:
            return
        name = Path(folder).name
        (Path(gate) / (name + ".paused")).write_text(str(os.getpid()))
        while not ((Path(gate) / "release").exists()
                   or (Path(gate) / (name + ".release")).exists()):
            time.sleep(0.1)

    run_folder.save_checkpoint = save_checkpoint
'''


def _controller_answers() -> bool:
    if not shutil.which("sbatch"):
        return False
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# One line for the whole file, rather than one per test.
if not _controller_answers():
    _MESSAGE = ("no Slurm cluster answers here; start one with `tools/slurm_cluster.sh start` "
                "(as root)")
    if os.environ.get("REQUIRE_SLURM") == "1":
        pytest.fail(_MESSAGE + " (REQUIRE_SLURM=1)", pytrace=False)
    pytest.skip(_MESSAGE, allow_module_level=True)


@pytest.fixture(scope="module")
def cluster():
    """The live cluster checked above (for the tests that use no other fixture)."""
    return subprocess.run(["sinfo", "--version"], capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def env(cluster, cifar_folder, tmp_path_factory) -> dict:
    """The launchers' environment: own data (with a CIFAR-10-C stand-in of two
    corruptions), and the gate's sitecustomize on the PYTHONPATH (idle without
    SLURM_TEST_GATE)."""
    from datasets.cifar10 import load_cifar10
    from datasets.cifar10c import write_cifar10c

    data = tmp_path_factory.mktemp("slurm_data")
    shutil.copytree(cifar_folder, data, dirs_exist_ok=True)
    images, labels = load_cifar10("test", data)
    rng = np.random.default_rng(0)
    write_cifar10c(data, {
        "gaussian_noise": np.concatenate([np.clip(images + rng.normal(0, 20 * s, images.shape),
                                                  0, 255) for s in range(1, 6)]),
        "brightness": np.concatenate([np.clip(images + 10 * s, 0, 255) for s in range(1, 6)])},
        labels)
    site = tmp_path_factory.mktemp("gate_site")
    (site / "sitecustomize.py").write_text(GATE.format(repo=str(REPO_ROOT)))
    environment = dict(os.environ, DATA_FOLDER=str(data), MPLBACKEND="Agg",
                       PYTHONPATH=str(site))
    environment.pop("SLURM_TEST_GATE", None)
    return environment


def submitted_jobs(folder) -> list:
    """The ids of the jobs launched under `folder` (their records are next to the logs)."""
    ids = []
    for record in Path(folder).rglob("*.slurm.json"):
        try:
            ids.append(json.loads(record.read_text())["job_id"])
        except (OSError, ValueError, KeyError):
            pass
    return ids


@pytest.fixture(autouse=True)
def cancel_leftovers(tmp_path):
    """After each test, cancel the jobs it submitted: a failed test must not leave a gated
    job holding a slot of the node. Only these ids, so that the tests can run on a login
    node of a real cluster."""
    yield
    ids = submitted_jobs(tmp_path)
    if ids:
        cancel_all(*ids)


def gated(env, tmp_path) -> tuple:
    gate = tmp_path / "gate"
    gate.mkdir(parents=True)
    return dict(env, SLURM_TEST_GATE=str(gate)), gate


def launch(script, base, *options, env, rc=0):
    command = [sys.executable, script, "--profile", "smoke", "--base_folder", str(base),
               *map(str, options)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == rc, f"{command}\n{result.stdout}\n{result.stderr}"
    assert "sacct" not in result.stdout + result.stderr   # no accounting, no warnings
    return result


class Background:
    """A launcher running while the test acts on its jobs; its output in a file."""

    def __init__(self, script, base, *options, env):
        self.output = Path(base).parent / f"{Path(base).name}.launcher.out"
        self.output.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, script, "--profile", "smoke", "--base_folder", str(base),
                   *map(str, options)]
        with open(self.output, "w") as out:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, text=True)

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def finish(self, rc=0) -> str:
        self.process.wait(timeout=900)
        text = self.text()
        assert self.process.returncode == rc, text
        assert "sacct" not in text
        return text

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_for(predicate, what, seconds=300):
    """helpers.wait_for with Slurm's pace: jobs take seconds to change state."""
    helpers.wait_for(predicate, what, seconds, poll_s=0.2)


def job_id(base, run) -> str:
    return json.loads((base / "logs" / f"{run}.slurm.json").read_text())["job_id"]


def state(job) -> slurm_queue.SlurmState:
    return (slurm_queue.squeue_states([job]) or {}).get(job)


def cancel_all(*job_ids):
    subprocess.run(["scancel", *job_ids], capture_output=True)


def weights(folder) -> dict:
    import torch

    return torch.load(Path(folder) / rf.MODEL_FILE, map_location="cpu", weights_only=True)


def same_weights(a, b) -> bool:
    import torch

    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def resumes(log: Path) -> list:
    return [line for line in log.read_text().splitlines() if "resuming at epoch" in line]


@pytest.fixture(scope="module")
def local_runs(env, tmp_path_factory) -> Path:
    """exp_10's smoke grid trained by the local launcher: the reference weights."""
    base = tmp_path_factory.mktemp("local")
    launch(TRAIN_10, base, "--cpu", *TRAIN, env=env)
    return base


@pytest.fixture(scope="module")
def slurm_runs(env, tmp_path_factory) -> tuple:
    """The same grid trained through Slurm; (base folder, launcher output)."""
    base = tmp_path_factory.mktemp("on_slurm")
    result = launch(TRAIN_10, base, *SLURM, *TRAIN, env=env)
    return base, result.stdout + result.stderr


# ---------------------------------------------------------------- 1. the smoke grid

def test_the_smoke_grid_trains_through_slurm_with_the_local_launchers_weights(
        slurm_runs, local_runs):
    base, output = slurm_runs
    assert "2 runs: 2 done, 0 resumed, 0 skipped, 0 failed" in output
    for run in RUNS:
        job = job_id(base, run)
        assert f"submitted {run} as job {job}" in output
        assert f"job {job} {run}: running" in output
        # A Slurm job, named after its run, ran the training.
        script = (base / "logs" / "submitit" / job / f"{job}_submission.sh").read_text()
        assert f"#SBATCH --job-name={run}" in script.splitlines()
        assert state(job) is None or state(job).name == run
        assert rf.run_state(base / "exp_data" / run) == rf.FINISHED
        assert same_weights(base / "exp_data" / run, local_runs / "exp_data" / run), run


@pytest.fixture(scope="module")
def interrupted(env, tmp_path_factory) -> dict:
    """ONE_RUN launched through Slurm twice at once, in two base folders; once each job
    has finished its first epoch, one is requeued (`scontrol requeue`) and the other
    cancelled (`scancel`). {"requeue"/"cancel": (base, job id, the launcher's output)}."""
    root = tmp_path_factory.mktemp("interrupted")
    actions = {"requeue": (["scontrol", "requeue"], 0), "cancel": (["scancel"], 1)}
    launchers, results = {}, {}
    try:
        for action in actions:
            gate_env, gate = gated(env, root / action)
            launchers[action] = gate, Background(TRAIN_10, root / action / "B", *SLURM, *ONE,
                                                 *TRAIN, env=gate_env)
        for action, (gate, _) in launchers.items():
            wait_for(lambda: (gate / f"{ONE_RUN}.paused").exists(), "the first epoch")
            job = job_id(root / action / "B", ONE_RUN)
            subprocess.run([*actions[action][0], job], check=True)
            results[action] = root / action / "B", job
        for action, (_, launcher) in launchers.items():
            results[action] += (launcher.finish(rc=actions[action][1]),)
    finally:
        for _, launcher in launchers.values():
            launcher.kill()
        cancel_all(*[job for _, job, *_ in results.values()])
    return results


# ---------------------------------------------------------------- 2. preemption

def test_a_requeued_job_resumes_from_its_checkpoint_with_the_uninterrupted_weights(
        interrupted, local_runs):
    base, job, output = interrupted["requeue"]
    assert "1 run: 1 done, 0 resumed, 0 skipped, 0 failed" in output
    assert f"job {job} {ONE_RUN}: requeued (1), pending" in output
    log = base / "logs" / f"{ONE_RUN}.log"
    assert resumes(log) and "resuming at epoch 1" in resumes(log)[-1]
    folder = base / "exp_data" / ONE_RUN
    assert len(json.loads((folder / rf.OPT_FILE).read_text())["resumed_at"]) == 1
    assert same_weights(folder, local_runs / "exp_data" / ONE_RUN)


# ---------------------------------------------------------------- 3. time limits

@pytest.fixture(scope="module", autouse=True)
def out_of_time(env, tmp_path_factory):
    """Two launches of ONE_RUN with --time 1, started before the module's first test: the
    jobs mostly wait for Slurm's time limit (a minute, checked every 30 s), and the other
    tests run meanwhile (the test cluster has two job slots per core). "ok" may
    be requeued; "bad" has --max-timeouts 0. {name: (base, gate, launcher)}."""
    root = tmp_path_factory.mktemp("out_of_time")
    short = [*SLURM, "--time", "1"]   # the last --time counts
    launches = {}
    try:
        for name, extra in (("ok", []), ("bad", ["--max-timeouts", "0"])):
            gate_env, gate = gated(env, root / name)
            launches[name] = root / name / "B", gate, Background(
                TRAIN_10, root / name / "B", *short, *extra, *ONE, *TRAIN, env=gate_env)
        yield launches
    finally:
        for _, _, launcher in launches.values():
            launcher.kill()
        ids = submitted_jobs(root)
        if ids:
            cancel_all(*ids)


def test_a_job_out_of_time_is_requeued_and_finishes_and_too_many_timeouts_fail(
        out_of_time, local_runs):
    """--time 1 (the warning comes a quarter of it before the end, not two minutes,
    which would be before the job started): a run that cannot finish in its first job
    checkpoints on the warning, is requeued and finishes; with --max-timeouts 0 the
    first time limit is a failure the summary names."""
    (ok_base, ok_gate, ok), (bad_base, bad_gate, bad) = out_of_time["ok"], out_of_time["bad"]
    ok_output, bad_output = ok.finish(), bad.finish(rc=1)
    # The run reached its first epoch's end in some job (the gate held it there).
    assert (ok_gate / f"{ONE_RUN}.paused").exists()
    assert "1 run: 1 done, 0 resumed, 0 skipped, 0 failed" in ok_output
    job = job_id(ok_base, ONE_RUN)
    script = (ok_base / "logs" / "submitit" / job / f"{job}_submission.sh").read_text()
    assert "#SBATCH --signal=USR2@15" in script.splitlines()
    assert "#SBATCH --time=1" in script.splitlines()
    # submitit's handler took the warning for the time limit, and the job came back.
    err = (ok_base / "logs" / "submitit" / job / f"{job}_0_log.err").read_text()
    assert "this job is timed-out" in err
    assert f"job {job} {ONE_RUN}: requeued (1), pending" in ok_output
    # sbatch may send the warning up to 60 s early (`man sbatch`, --signal): a job of one
    # minute can be warned as soon as it starts, before its first epoch ends, and the
    # next one starts again at epoch 0.
    # Whichever job got past the first epoch, the one after it resumed from there.
    log = ok_base / "logs" / f"{ONE_RUN}.log"
    assert any("resuming at epoch 1" in line for line in resumes(log))
    assert same_weights(ok_base / "exp_data" / ONE_RUN, local_runs / "exp_data" / ONE_RUN)

    bad_job = job_id(bad_base, ONE_RUN)
    assert "1 run: 0 done, 0 resumed, 0 skipped, 1 failed" in bad_output
    assert (f"failed: {ONE_RUN}: job {bad_job} reached its time limit more than "
            "--max-timeouts 0 times; launch again (it resumes), with a longer --time (log: "
            f"{bad_base / 'logs' / (ONE_RUN + '.log')})") in bad_output
    # Resumable from its first epoch if its one job got there before the warning (which
    # may come at once, as above). Otherwise the job was stopped anywhere before: the run
    # is unfinished or not begun, and a new launch takes it from wherever it got.
    bad_state = rf.run_state(bad_base / "exp_data" / ONE_RUN)
    if (bad_gate / f"{ONE_RUN}.paused").exists():
        assert bad_state == rf.UNFINISHED
    else:
        assert bad_state != rf.FINISHED


def test_a_time_limit_slurm_cannot_have_is_one_line(env, tmp_path):
    result = launch(TRAIN_10, tmp_path, *SLURM, "--time", "0", *TRAIN, env=env, rc=2)
    assert result.stderr.strip() == "error: --time 0: Slurm's smallest time limit is 1 (minute)"
    assert not (tmp_path / "exp_data").exists()


# ---------------------------------------------------------------- 4. scancel

def test_a_cancelled_job_is_named_in_the_summary_and_resumes_when_launched_again(
        env, interrupted, local_runs):
    base, job, output = interrupted["cancel"]
    log = base / "logs" / f"{ONE_RUN}.log"
    assert "1 run: 0 done, 0 resumed, 0 skipped, 0 failed, 1 cancelled" in output
    lines = [l for l in output.splitlines() if l.startswith("  cancelled: ")]
    assert lines == [f"  cancelled: {ONE_RUN}: job {job} cancelled; launch again to resume it "
                     f"(log: {log})"]

    output = launch(TRAIN_10, base, *SLURM, *ONE, *TRAIN, env=env).stdout
    assert "1 run: 0 done, 1 resumed, 0 skipped, 0 failed" in output
    assert "resuming at epoch 1" in resumes(log)[-1]
    assert same_weights(base / "exp_data" / ONE_RUN, local_runs / "exp_data" / ONE_RUN)


# ---------------------------------------------------------------- 5. held elsewhere

HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import run_folder as rf
with rf.locked(sys.argv[2]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_run_another_slurm_job_holds_is_running_elsewhere_and_untouched(env, tmp_path):
    base = tmp_path / "B"
    folder = base / "exp_data" / ONE_RUN
    folder.mkdir(parents=True)
    holder_script = tmp_path / "holder.py"
    holder_script.write_text(HOLDER)
    holder = subprocess.run(
        ["sbatch", "--parsable", "--job-name=holder", "--mem=200M", "--cpus-per-task=1",
         f"--output={tmp_path / 'holder.out'}",
         f"--wrap={sys.executable} {holder_script} {REPO_ROOT} {folder}"],
        check=True, capture_output=True, text=True).stdout.strip()
    try:
        wait_for(lambda: "locked" in (tmp_path / "holder.out").read_text()
                 if (tmp_path / "holder.out").exists() else False, "the holder job's lock")
        pid = rf.lock_holder(folder)
        before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
        output = launch(TRAIN_10, base, *SLURM, *ONE, *TRAIN, env=env).stdout
        after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    finally:
        cancel_all(holder)
    assert "1 run: 0 done, 0 resumed, 0 skipped, 0 failed, 1 running elsewhere" in output
    assert f"running elsewhere: {ONE_RUN}: running elsewhere (pid {pid})" in output
    assert before == after == {rf.LOCK_FILE: before[rf.LOCK_FILE]}


def test_a_run_that_fails_in_its_job_is_named_with_its_error_line(env, tmp_path):
    base = tmp_path / "B"
    blocked = base / "exp_data" / ONE_RUN
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run folder should be")
    output = launch(TRAIN_10, base, *SLURM, *ONE, *TRAIN, env=env, rc=1).stdout
    job = job_id(base, ONE_RUN)
    assert "1 run: 0 done, 0 resumed, 0 skipped, 1 failed" in output
    line, = [l for l in output.splitlines() if l.startswith("  failed: ")]
    # The run's own one-line error, from its log.
    assert line.startswith(f"  failed: {ONE_RUN}: job {job} failed: error: cannot write to "
                           f"the run folder {blocked}")
    assert line.endswith(f"(log: {base / 'logs' / (ONE_RUN + '.log')})")


# ---------------------------------------------------------------- 6. robustness tests

def test_the_corruption_and_autoattack_tests_of_exp_10_through_slurm(env, slurm_runs):
    import pandas as pd

    base, _ = slurm_runs
    output = launch("experiments/exp_10/exe_exp10_corruption_tests.py", base,
                    "--run-predictions", "--corruptions", "gaussian_noise", *SLURM,
                    env=env).stdout
    assert "2 predictions: 2 done, 0 resumed, 0 skipped, 0 failed" in output
    table = pd.read_csv(base / "corruption_results.csv")
    assert sorted(table["name"].unique()) == sorted(RUNS)
    assert set(table["corruption"]) == {"gaussian_noise"}   # one is enough here
    for run in RUNS:
        assert f"submitted {run} as job" in output

    output = launch("experiments/exp_10/exe_exp10_adversarial_tests.py", base,
                    "--run-predictions", "--n-images", "4", "--eps", "8", *SLURM,
                    env=env).stdout
    assert "2 predictions: 2 done, 0 resumed, 0 skipped, 0 failed" in output
    table = pd.read_csv(base / "adversarial_results.csv")
    assert sorted(table["name"].unique()) == sorted(RUNS)
    assert sorted(table["eps"].unique()) == [0, 8] and set(table["n"]) == {4}


# ---------------------------------------------------------------- 7. --no-wait

def test_no_wait_then_again_follows_the_queued_jobs_instead_of_submitting_twice(
        env, tmp_path, local_runs):
    gate_env, gate = gated(env, tmp_path)
    base = tmp_path / "B"
    output = launch(TRAIN_10, base, *SLURM, "--no-wait", *TRAIN, env=gate_env).stdout
    assert "2 runs: 0 done, 0 resumed, 0 skipped, 0 failed, 2 submitted to Slurm" in output
    jobs = {run: job_id(base, run) for run in RUNS}
    # Both jobs running, held after their first epoch.
    wait_for(lambda: all((gate / f"{run}.paused").exists() for run in RUNS),
             "both runs' first epoch")
    output = launch(TRAIN_10, base, *SLURM, "--no-wait", *TRAIN, env=gate_env).stdout
    for run, job in jobs.items():
        assert f"{run}: job {job} is still running; not submitting it again" in output
        assert job_id(base, run) == job
    assert "submitted" not in output.replace("submitted to Slurm", "")
    assert "2 runs: 0 done, 0 resumed, 0 skipped, 0 failed, 2 submitted to Slurm" in output
    live = subprocess.run(["squeue", "-h", "--me", "-o", "%i %j"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    assert sorted(line.split()[0] for line in live if line.split()[1] in RUNS) == \
        sorted(jobs.values())

    # Waiting this time: it follows the same jobs to their end.
    follower = Background(TRAIN_10, base, *SLURM, *TRAIN, env=gate_env)
    try:
        wait_for(lambda: follower.text().count("not submitting it again") == 2,
                 "the launcher to find both jobs")
        (gate / "release").touch()
        output = follower.finish()
    finally:
        follower.kill()
    assert "2 runs: 2 done, 0 resumed, 0 skipped, 0 failed" in output
    assert "submitted " not in output
    for run in RUNS:
        assert f"done    {run}" in output
        assert len(resumes(base / "logs" / f"{run}.log")) == 0   # never interrupted
        assert same_weights(base / "exp_data" / run, local_runs / "exp_data" / run)
    output = launch(TRAIN_10, base, *SLURM, *TRAIN, env=env).stdout
    assert "2 runs: 0 done, 0 resumed, 2 skipped, 0 failed" in output


# ---------------------------------------------------------------- 8. states, no sacct

def test_squeue_tells_the_states_apart_without_accounting(cluster, tmp_path):
    """The launcher's reading of a job's state, on this cluster without accounting:
    pending or running, requeued, completed, failed, cancelled."""
    assert subprocess.run(["sacct"], capture_output=True).returncode != 0   # no accounting

    def submit(command):
        return subprocess.run(["sbatch", "--parsable", "--mem=50M", "--cpus-per-task=1",
                               "--output=/dev/null", f"--wrap={command}"],
                              check=True, capture_output=True, text=True).stdout.strip()

    sleeper, ok, bad = submit("sleep 600"), submit("true"), submit("exit 3")
    try:
        wait_for(lambda: state(sleeper).state == "RUNNING", "a running job")
        subprocess.run(["scontrol", "requeue", sleeper], check=True)
        wait_for(lambda: state(sleeper).state == "PENDING", "the requeued job pending")
        assert state(sleeper).restarts == 1
        assert state(sleeper).label() == "requeued (1), pending"
        wait_for(lambda: state(ok).state == "COMPLETED", "a completed job")
        wait_for(lambda: state(bad).state == "FAILED", "a failed job")
        subprocess.run(["scancel", sleeper], check=True)
        wait_for(lambda: state(sleeper).state == "CANCELLED", "a cancelled job")
        assert slurm_queue.squeue_states(["999999999"]) == {}    # a job Slurm does not know
    finally:
        cancel_all(sleeper)
