"""Helpers shared by the test modules (not a test module itself; fixtures are in conftest.py).

- `run_script`: an entry point (exe script, run_*.py) as a user runs it, in a subprocess
  from the repository root without PYTHONPATH: for the tests whose subject is the process
  boundary (exit status, signals, locks, locale, the scripts finding the repository).
- `run_in_process`: the same entry point's `main(argv)` in this process, with the same
  result object (returncode, stdout, stderr): for the tests whose subject is what the
  script does, without the second or two of starting Python and importing torch.
- `write_run`: a run folder as the trainer leaves it (opt.json, log.json, model.pt), for
  the launchers, planners and evaluations that only read those files.
- `mount_tmpfs_and_run`: a small tmpfs for the full-disk tests (a real ENOSPC).
"""
import contextlib
import io
import json
import os
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


# The trained runs of the session: the smallest network of each family, a few epochs on
# a few hundred images of `cifar_folder`, on the CPU.
RESNET_RUN = ["--model_type", "CifarResNet", "--model_kw", "q: 2;k: 3;N: 1;", "--bs", "64",
              "--lr", "0.05", "--epochs", "3", "--fixed_steps", "2", "--seed", "3",
              "--device", "cpu", "--print_freq", "5", "--train_subset", "400",
              "--test_subset", "200"]
DENSENET_RUN = ["--model_type", "CifarDenseNet", "--model_kw",
                "stride: 1;growth_rate: 12;n_blocks: 10;efficient: True;compression: 0.5;"
                "k: 3;q: 2;", "--bs", "64", "--lr", "0.05", "--epochs", "1", "--fixed_steps",
                "--train_subset", "192", "--test_subset", "64", "--seed", "3",
                "--device", "cpu"]
# The thread count of the trained runs, set explicitly: the CPU's sums, and so the
# weights, depend on it.
THREADS = 1


def train_in_process(folder: Path, options, data_folder: Path):
    """run_training.main(options + --folder) in this process on `data_folder`, with THREADS
    threads; (stdout, stderr). A non-zero exit fails the test."""
    import config
    from errors import run_main
    from run_training import main

    out, err = io.StringIO(), io.StringIO()
    saved, threads = config.DATA_FOLDER, torch.get_num_threads()
    config.DATA_FOLDER = data_folder
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_main(main, [*options, "--num_threads", str(THREADS),
                                   "--folder", str(folder)])
    finally:
        config.DATA_FOLDER = saved
        torch.set_num_threads(threads)
    assert code == 0, f"exit {code}\n{out.getvalue()}\n{err.getvalue()}"
    return out.getvalue(), err.getvalue()


def run_script(script, *args, env=None, check_rc=None, timeout=600, text=True):
    """Run `script` (a path relative to the repository root, or absolute) with `args` in
    a subprocess, from the repository root and without PYTHONPATH: the scripts find the
    repository by themselves. `check_rc`: the exit status it must have."""
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, str(script), *map(str, args)], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=text, timeout=timeout)
    if check_rc is not None and result.returncode != check_rc:
        raise AssertionError(f"{script} {' '.join(map(str, args))}: exit {result.returncode}, "
                             f"expected {check_rc}\n{result.stdout}\n{result.stderr}")
    return result


@contextlib.contextmanager
def environment(env):
    """os.environ (and config's paths, read at import) as in `env` for a while."""
    import config

    import urllib.request

    saved = dict(os.environ)
    # urllib builds its opener, proxies included, at the first download and keeps it: a
    # new one for this environment, and another after it.
    urllib.request.install_opener(None)
    saved_config = {name: getattr(config, name) for name in
                    ("DATA_FOLDER", "DOWNLOADED_MODELS", "DOWNLOADED_PREDICTIONS")}
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
            for name in saved_config:
                if name in env:
                    setattr(config, name, Path(env[name]).expanduser().resolve())
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        for name, value in saved_config.items():
            setattr(config, name, value)
        urllib.request.install_opener(None)


def run_in_process(script, *args, env=None, check_rc=None):
    """Run `script`'s `if __name__ == "__main__":` block in this process, as
    `python script args` would, under `env` (DATA_FOLDER and the other paths included),
    from the repository root. Returns a CompletedProcess with what it printed."""
    import torch

    path = Path(script) if Path(script).is_absolute() else REPO_ROOT / script
    argv = [str(path), *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd, threads = sys.argv, os.getcwd(), torch.get_num_threads()
    code = 0
    try:
        with environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            sys.argv = argv
            os.chdir(REPO_ROOT)
            try:
                runpy.run_path(str(path), run_name="__main__")
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (exit_.code is not None)
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        torch.set_num_threads(threads)   # the trainer sets the run's thread count
    result = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    if check_rc is not None and result.returncode != check_rc:
        raise AssertionError(f"{script} {' '.join(map(str, args))}: exit {result.returncode}, "
                             f"expected {check_rc}\n{result.stdout}\n{result.stderr}")
    return result


def write_run(folder, epochs=1, done=None, model=True, val_er=5.0, **opt):
    """A run folder as the trainer leaves it: opt.json asking for `epochs` (plus `opt`),
    a log.json with `done` (default: all; needed when `epochs` is None) epochs of test
    error `val_er`, and model.pt
    (a stand-in's bytes) unless `model` is false. Returns the folder."""
    import run_folder as rf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done = epochs if done is None else done
    opt = opt if epochs is None else {"epochs": epochs, **opt}   # None: opt.json has none
    (folder / rf.OPT_FILE).write_text(json.dumps(opt), encoding="utf-8")
    (folder / rf.LOG_FILE).write_text(json.dumps({"val_er": [val_er] * done}), encoding="utf-8")
    if model:
        (folder / rf.MODEL_FILE).write_bytes(b"weights")
    return folder


def snapshot(folder) -> dict:
    """Bytes and modification times of every file under `folder`, to prove nothing changed."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(Path(folder).rglob("*"))
            if p.is_file()}


def offline(env: dict) -> dict:
    """`env` with every download failing at once: torchvision downloads with urllib, which
    sends them to this proxy, where nothing listens (port 9, refused), whatever network
    the machine has."""
    env = dict(env)
    for key in ("no_proxy", "NO_PROXY"):
        env.pop(key, None)
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[key] = "http://127.0.0.1:9"
    return env


def mount_tmpfs_and_run(mountpoint: Path, size: str, script: str, copy_to: Path):
    """Run `script` (sh) with a `size` tmpfs at `mountpoint`, in a mount namespace of
    its own; what is under the mount is copied to `copy_to` before the namespace ends.
    Skips where this machine allows no such mount (unprivileged, no unshare)."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here to mount a small tmpfs")
    mountpoint.mkdir()
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=16k none "
                            f"{mountpoint}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("mounting a tmpfs is not allowed here")
    body = (f"mount -t tmpfs -o size={size} none {mountpoint} && cd {REPO_ROOT} && "
            f"{{ {script} ; }} ; status=$? ; cp -a {mountpoint}/. {copy_to}/ ; exit $status")
    copy_to.mkdir()
    return subprocess.run(["unshare", "-rm", "sh", "-c", body], capture_output=True,
                          text=True, timeout=600)


# ------------------------------------------------------ stand-ins for the launchers' runs

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


def stand_in_run(base: Path, name: str, *options):
    """A grid run of the stand-in, under base/exp_data/name."""
    import run_folder as rf
    from experiments.launching import runs as grid_runs

    folder = base / rf.EXP_DATA / name
    return grid_runs.Run("exp_test", "StandIn", 1, 0, name, folder,
                         ("--folder", str(folder), *map(str, options), "--resume"))


def calls(run) -> list:
    """What the stand-in recorded of each of its starts for `run` (tests/helpers.py STAND_IN)."""
    path = run.folder / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

CPU = [("cpu", "")]


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


def child_job(tmp_path, name="r", text="hello", sleep=0, exit_code=0):
    """The training job of a CHILD run that prints `text` (| between lines)."""
    import run_folder as rf
    from experiments.launching import jobs as plan
    from experiments.launching import runs as grid_runs

    script = tmp_path / "child.py"
    script.write_text(CHILD)
    folder = tmp_path / rf.EXP_DATA / name
    run = grid_runs.Run("e", "StandIn", 1, 0, name, folder,
                        ("--folder", str(folder), "--print", text, "--sleep", str(sleep),
                         "--exit", str(exit_code)))
    return plan.training_jobs([run], tmp_path / rf.LOGS, script=script)[0]


def wait_for(predicate, what, seconds=60, poll_s=0.05):
    """Wait until `predicate()` holds (a state, never a time: tests do not depend on the
    machine's speed); an AssertionError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {seconds} s")
        time.sleep(poll_s)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


# ------------------------------------------------------- CIFAR-10-C in the official layout

C_N = 60                                        # images per severity (folder_c)

# Severities 1..5 of a made-up corruption: blending each image towards a random colour.
BLEND = (0.05, 0.3, 0.5, 0.7, 0.95)


def blended(images, alpha, seed):
    colours = np.random.default_rng(seed).uniform(0, 255, (len(images), 1, 1, 3))
    return ((1 - alpha) * images + alpha * colours).astype(np.uint8)


def corrupted(test_x, seed=0):
    return np.concatenate([blended(test_x, alpha, seed) for alpha in BLEND])


class NearestClassMean(torch.nn.Module):
    """A fixed classifier: the class whose mean normalised training image is nearest."""

    def __init__(self, train_x, train_y):
        from datasets.loader import Normalize

        super().__init__()
        x = Normalize("cpu")(torch.from_numpy(train_x), channels_last=False).flatten(1)
        means = torch.stack([x[torch.from_numpy(train_y) == c].mean(0) for c in range(10)])
        self.linear = torch.nn.Linear(means.shape[1], 10)
        with torch.no_grad():
            self.linear.weight.copy_(means)
            self.linear.bias.copy_(-0.5 * (means ** 2).sum(1))

    def forward(self, x):
        return self.linear(x.flatten(1))


def assert_a_drawn_png(path, minimum_colours=50):
    """A PNG image with something drawn on it: many colours, not a blank canvas."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= 200, (image.format, image.size)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) >= minimum_colours, f"{path} is nearly blank: {len(colours)} colours"
