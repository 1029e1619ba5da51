"""run_training.py: learning, the log schema, resume after SIGKILL, refusals, NaN, bad input.

Runs use the synthetic data of the `cifar_folder` fixture (official CIFAR-10 format) and
the smallest networks. The finished run most tests read, refuse to touch or copy is the
session's `trained_resnet` (conftest.py); the entry point is called in this process
(`run_in_process`) unless the process boundary is the subject: the SIGKILL and resume,
the lock held by another process, a full disk, the thread count from OMP_NUM_THREADS.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import run_folder as rf
from errors import UserError, run_main
from helpers import REPO_ROOT
from helpers import RESNET_RUN as QUICK
from helpers import THREADS, offline, run_in_process, run_script, snapshot, train_in_process

RUN_TRAINING = "run_training.py"

# The thread count of the reference run, set explicitly: the CPU's sums, and so the
# weights, depend on it.
THREADS_ENV = {"OMP_NUM_THREADS": str(THREADS)}


def train(folder, *extra, env, check=True, in_subprocess=False):
    """run_training.py with the quick run's options (in this process unless `in_subprocess`)."""
    run = run_script if in_subprocess else run_in_process
    return run(RUN_TRAINING, *QUICK, "--folder", folder, *extra, env=env,
               check_rc=0 if check else None)


@pytest.fixture
def finished_run(trained_resnet):
    return trained_resnet.folder, trained_resnet


def test_short_run_learns_and_writes_the_authors_log_schema(finished_run):
    folder, result = finished_run
    log = json.loads((folder / rf.LOG_FILE).read_text())
    epochs = 3
    # docs/reference.md §4: epoch, sec and lr get one entry per phase (train, then validation).
    assert log["epoch"] == [0, 0, 1, 1, 2, 2]
    assert len(log["sec"]) == len(log["lr"]) == 2 * epochs
    assert log["lr"][1::2] == [-1.0] * epochs
    assert log["lr"][0::2] == pytest.approx([0.05, 0.05, 0.005])  # x0.1 from epoch 2
    for key in ("loss", "num_samples", "acc", "er", "val_loss", "val_num_samples", "val_acc",
                "val_er"):
        assert len(log[key]) == epochs, key
    assert log["num_samples"] == [400] * epochs and log["val_num_samples"] == [200] * epochs
    assert all(0 <= a <= 1 for a in log["acc"] + log["val_acc"])
    assert log["val_er"][-1] == pytest.approx(100 * (1 - log["val_acc"][-1]))
    # Ten classes: chance is 90 % error; the synthetic classes are easy to tell apart.
    assert log["val_er"][-1] < 40, log["val_er"]
    assert "epoch   2" in result.stdout and "finished" in result.stdout
    # 400 training and 200 test images: errors to one decimal (precision.error_digits).
    assert re.search(r"train er +\d+\.\d%  test er +\d+\.\d%  ", result.stdout), result.stdout
    assert re.search(r"finished: final test error \d+\.\d% ", result.stdout), result.stdout

    opt = json.loads((folder / rf.OPT_FILE).read_text())
    assert opt["model_type"] == "CifarResNet" and opt["fixed_steps"] == [2]
    assert opt["torch_version"] == torch.__version__ and opt["start_time"]
    assert opt["resumed_at"] == []
    assert opt["git_commit"] is None or re.fullmatch("[0-9a-f]{40}", opt["git_commit"])
    assert opt["channels_last"] is True  # the default
    # cuDNN autotuning is on by default, but a CPU run has no cuDNN and records so.
    assert opt["cudnn_benchmark"] is False
    assert opt["num_threads"] == THREADS  # as asked (from OMP_NUM_THREADS: the SIGKILL test)
    # stderr is not a terminal here, as under nohup: the bar is drawn when an epoch starts and
    # then at most every 60 s, not also at each of the 2 updates of its loss per epoch
    # (7 steps, --print_freq 5).
    for epoch in range(epochs):
        assert result.stderr.count(f"epoch {epoch:3d}") <= 2, result.stderr
    specs = json.loads((folder / rf.SPECS_FILE).read_text())
    state = torch.load(folder / rf.MODEL_FILE, weights_only=True)
    assert specs["num_params"] == float(sum(v.numel() for k, v in state.items()
                                            if not k.endswith(("running_mean", "running_var",
                                                               "num_batches_tracked"))))
    assert rf.run_state(folder) == rf.FINISHED


def test_model_pt_loads_with_load_trained_model_and_reproduces_the_test_error(finished_run,
                                                                             cifar_folder):
    from datasets.cifar10 import load_cifar10
    from datasets.loader import EvalBatches
    from models import load_trained_model

    folder, _ = finished_run
    model = load_trained_model(folder)
    assert not model.training
    x, y = load_cifar10("test", cifar_folder)
    x, y = x[:200], y[:200]   # the run's --test_subset
    correct = 0
    with torch.inference_mode():
        for xb, yb in EvalBatches(x, y, 100, "cpu"):
            correct += (model(xb).argmax(1) == yb).sum().item()
    log = json.loads((folder / rf.LOG_FILE).read_text())
    assert 100 * (1 - correct / len(y)) == pytest.approx(log["val_er"][-1], abs=1e-9)


def kill_after_first_checkpoint(folder: Path, env: dict) -> int:
    """Start the quick run into `folder`, SIGKILL it once its first checkpoint is written;
    returns the number of epochs its checkpoint holds. The run is frozen (SIGSTOP) the
    moment the checkpoint is seen, so the kill lands wherever it is then, whatever the
    machine's speed; every epoch count is a valid place to resume from."""
    cmd = [sys.executable, RUN_TRAINING, *QUICK, "--folder", str(folder)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not (folder / rf.CHECKPOINT_FILE).exists():
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before its first checkpoint was seen"
        proc.send_signal(signal.SIGSTOP)
        epoch = torch.load(folder / rf.CHECKPOINT_FILE, weights_only=True)["epoch"]
    finally:
        proc.kill()
        proc.wait()
    return epoch


@pytest.mark.slow
def test_resume_after_sigkill_gives_identical_weights(finished_run, tmp_path, data_env):
    """Killed at whatever moment after its first checkpoint, and resumed under another
    thread count than it started with: the weights equal the uninterrupted run's."""
    reference, _ = finished_run
    folder = tmp_path / "killed"
    epochs = kill_after_first_checkpoint(folder, dict(data_env, **THREADS_ENV))
    assert 1 <= epochs <= 3
    assert rf.run_state(folder) == rf.UNFINISHED
    assert not (folder / rf.MODEL_FILE).exists()
    # No temporary file was left under a final name: every file present parses.
    json.loads((folder / rf.LOG_FILE).read_text())
    first_start = json.loads((folder / rf.OPT_FILE).read_text())["start_time"]
    # What a kill during an atomic write leaves behind; the resume removes it (only it).
    leftover = folder / f".{rf.CHECKPOINT_FILE}.k1ll3d.tmp"
    leftover.write_bytes(b"half a checkpoint")
    (folder / "notes.txt").write_text("the user's")

    resumed_env = dict(data_env, OMP_NUM_THREADS=str(THREADS + 1))  # it keeps opt.json's
    result = train(folder, "--resume", env=resumed_env, in_subprocess=True)
    assert f"resuming at epoch {epochs}" in result.stdout
    assert f"{THREADS} CPU thread" in result.stdout
    assert not leftover.exists() and (folder / "notes.txt").read_text() == "the user's"
    opt = json.loads((folder / rf.OPT_FILE).read_text())
    assert opt["num_threads"] == THREADS  # OMP_NUM_THREADS of the killed run's start
    assert opt["start_time"] == first_start and len(opt["resumed_at"]) == 1
    assert opt["resumed_at"][0] >= first_start  # ISO 8601 in UTC: sorts as time does
    expected = torch.load(reference / rf.MODEL_FILE, weights_only=True)
    resumed = torch.load(folder / rf.MODEL_FILE, weights_only=True)
    assert expected.keys() == resumed.keys()
    for key in expected:
        assert torch.equal(expected[key], resumed[key]), key
    assert (json.loads((folder / rf.LOG_FILE).read_text())["val_er"]
            == json.loads((reference / rf.LOG_FILE).read_text())["val_er"])


def test_finished_run_is_not_touched_without_do_overwrite(finished_run, data_env):
    folder, _ = finished_run
    before = snapshot(folder)
    result = train(folder, env=data_env, check=False)
    assert result.returncode == 2
    assert "already holds a finished run" in result.stderr and "--do_overwrite" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # --resume on a finished run does nothing and succeeds.
    result = train(folder, "--resume", env=data_env)
    assert "nothing to do" in result.stdout
    assert snapshot(folder) == before


def test_resume_into_a_different_run_is_refused(finished_run, data_env):
    folder, _ = finished_run
    before = snapshot(folder)
    result = train(folder, "--resume", "--lr", "0.2", env=data_env, check=False)
    assert result.returncode == 2
    assert "different run" in result.stderr and "lr" in result.stderr
    assert snapshot(folder) == before


def unfinished_copy(reference: Path, folder: Path, device: str) -> Path:
    """A copy of a finished run, made unfinished (no model.pt), whose opt.json says it was
    started on `device`."""
    shutil.copytree(reference, folder)
    (folder / rf.MODEL_FILE).unlink()
    opt = json.loads((folder / rf.OPT_FILE).read_text())
    (folder / rf.OPT_FILE).write_text(json.dumps(dict(opt, device=device)))
    return folder


def test_resume_on_another_kind_of_device_is_refused(finished_run, tmp_path, capsys):
    """A run started on the GPU is not resumed on the CPU (and, checked without CUDA on
    plan_run itself, not the other way round); another GPU is fine. On a machine
    without CUDA, --device cuda is refused before that (resolve_device)."""
    from run_training import main
    from training.options import parse_options
    from training.run_plan import RESUME, plan_run

    reference, _ = finished_run
    folder = unfinished_copy(reference, tmp_path / "gpu_run", "cuda:0")
    before = snapshot(folder)
    code = run_main(main, [*QUICK, "--folder", str(folder), "--resume"])  # --device cpu
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "was started on cuda" in err and "--device cuda" in err
    assert snapshot(folder) == before

    opt = parse_options([*QUICK, "--folder", str(folder), "--resume"])
    plan = plan_run(dict(opt, device="cuda:1"))  # another GPU: resumed
    assert plan.action == RESUME and rf.read_checkpoint(folder)["epoch"] == 3

    folder = unfinished_copy(reference, tmp_path / "cpu_run", "cpu")
    opt = parse_options([*QUICK, "--folder", str(folder), "--resume"])
    with pytest.raises(UserError, match="was started on cpu.*--device cpu"):
        plan_run(dict(opt, device="cuda"))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(finished_run, tmp_path,
                                                                  data_env):
    reference, _ = finished_run
    folder = tmp_path / "diverging"
    shutil.copytree(reference, folder)
    # Rewind the copy to a run that stopped after epoch 1, with weights gone bad (as after
    # a diverging step): its next epoch must stop on the loss and keep this checkpoint.
    checkpoint = torch.load(folder / rf.CHECKPOINT_FILE, weights_only=True)
    checkpoint["epoch"] = 2
    checkpoint["log"] = {k: v[:4] if k in ("epoch", "sec", "lr") else v[:2]
                         for k, v in checkpoint["log"].items()}
    checkpoint["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                           for k, v in checkpoint["model"].items()}
    torch.save(checkpoint, folder / rf.CHECKPOINT_FILE)
    (folder / rf.MODEL_FILE).unlink()
    (folder / rf.LOG_FILE).write_text(json.dumps(checkpoint["log"]))
    assert rf.run_state(folder) == rf.UNFINISHED
    good_checkpoint = (folder / rf.CHECKPOINT_FILE).read_bytes()

    result = train(folder, "--resume", env=data_env, check=False)
    assert result.returncode == 3, result.stderr
    assert "loss became" in result.stderr and "checkpoint is kept" in result.stderr
    assert (folder / rf.CHECKPOINT_FILE).read_bytes() == good_checkpoint
    assert not (folder / rf.MODEL_FILE).exists()


@pytest.mark.parametrize("extra, message", [
    (["--model_type", "CifarNoSuchNet"], "CifarMinFP-LS"),
    (["--model_kw", "q: 2;k: 3;N: 0;"], "N"),
    (["--dataset", "imagenet"], "unknown dataset"),
    (["--opt", "Adam"], "unknown optimizer"),
    (["--epochs", "0"], "--epochs"),
    (["--bs", "-4"], "--bs"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.1"], "--lr"),
    (["--fixed_steps", "4"], "--fixed_steps"),
    (["--fixed_steps", "0"], "--fixed_steps"),
    (["--train_subset", "0"], "--train_subset"),
    (["--opt_kw", "nesterov: True;", "--mom", "0"], "--mom > 0 and dampening 0"),
    (["--opt_kw", "nesterov: True;dampening: 0.5;"], "--mom > 0 and dampening 0"),
    (["--opt_kw", "dampening: abc;"], "dampening must be a number"),
    (["--opt_kw", "nesterov: yes;"], "nesterov must be True or False"),
    (["--opt_kw", "lookahead: 5;"], "allowed: nesterov, dampening"),
    (["--in_dim", "1"], "--in_dim 3"),
    (["--out_dim", "5"], "--out_dim 10"),
    (["--amp", "fp16"], "--amp fp16 needs a CUDA device"),
    # argparse's own errors, in the same one-line form:
    (["--epochs", "1.5"], "invalid int value: '1.5'; see python run_training.py --help"),
    (["--amp", "xyz"], "invalid choice: 'xyz'"),
])
def test_bad_options_give_one_line_and_exit_2(extra, message, tmp_path, capsys, data_env):
    from run_training import main

    folder = tmp_path / "run"
    code = run_main(main, [*QUICK, "--folder", str(folder), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert message in err
    assert not folder.exists()


def test_missing_required_option_is_one_line(capsys):
    from run_training import main

    code = run_main(main, QUICK)  # no --folder
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "--folder" in err and "--help" in err


def test_opt_kw_reaches_sgd():
    from training.trainer import build_optimizer

    opt = {"opt_kw": "nesterov: True;dampening: 0;", "lr": 0.1, "mom": 0.9, "wd": 1e-4,
           "fixed_steps": [2]}
    optimizer, _ = build_optimizer(opt, torch.nn.Linear(2, 2))
    group = optimizer.param_groups[0]
    assert group["nesterov"] is True and group["dampening"] == 0.0 and group["momentum"] == 0.9


def test_missing_data_offline_is_one_clear_line(tmp_path, data_env):
    data_env["DATA_FOLDER"] = str(tmp_path / "empty")
    started = time.time()
    result = train(tmp_path / "run", env=offline(data_env), check=False)
    assert result.returncode == 2
    assert "cifar-10-batches-py" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Connection refused" in result.stderr  # failed at the proxy: fast, no network
    assert time.time() - started < 120
    assert not (tmp_path / "run").exists()


def test_corrupt_batch_file_is_named(tmp_path, cifar_folder, data_env):
    data = tmp_path / "data"
    shutil.copytree(cifar_folder, data)
    batch = data / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])
    data_env["DATA_FOLDER"] = str(data)
    result = train(tmp_path / "run", env=offline(data_env), check=False)
    assert result.returncode == 2 and "data_batch_3" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_unwritable_output_folder(tmp_path, capsys, data_env, cifar_folder, monkeypatch):
    import config
    from run_training import main

    # In this process config read DATA_FOLDER at import: point it at the test data (the
    # data is loaded before the folder is created).
    monkeypatch.setattr(config, "DATA_FOLDER", cifar_folder)

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")  # a path below a file cannot be created, even by root
    code = run_main(main, [*QUICK, "--folder", str(blocker / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write to the run folder" in err
    assert blocker.read_text() == "not a folder"


def test_debug_shows_the_traceback(tmp_path, data_env):
    from run_training import main

    with pytest.raises(Exception, match="--epochs"):
        run_main(main, [*QUICK, "--folder", str(tmp_path / "r"), "--epochs", "0", "--debug"])


@pytest.mark.parametrize("switches", [["--amp", "bf16"],
                                      ["--no_channels_last", "--no_cudnn_benchmark"]])
def test_speed_switches_run_on_cpu(switches, tmp_path, data_env):
    folder = tmp_path / "run"
    train(folder, "--epochs", "1", "--fixed_steps", "--train_subset", "256",
          "--test_subset", "128", *switches, env=data_env)
    log = json.loads((folder / rf.LOG_FILE).read_text())
    assert len(log["val_er"]) == 1 and log["num_samples"] == [256]
    opt = json.loads((folder / rf.OPT_FILE).read_text())
    assert opt["amp"] == ("bf16" if "--amp" in switches else "off")
    assert opt["channels_last"] is ("--no_channels_last" not in switches)
    assert opt["cudnn_benchmark"] is False  # a CPU run, whatever the switch


@pytest.mark.slow
def test_compile_switch_runs_on_cpu(tmp_path, data_env):
    import torch._inductor.config as inductor

    folder = tmp_path / "run"
    # Scalar C++ kernels: gcc builds them in two thirds of the time of vectorised ones
    # (measured: 16 s of compiling instead of 22 s, most of this test); the switch is under
    # test here, not the kernels' speed. And one compiling process, not a pool of workers
    # that each import torch first: 30 CPU-seconds instead of 36 for this test alone
    # (7 December), in a suite that keeps both cores busy.
    with inductor.patch({"cpp.vec_isa_ok": False, "compile_threads": 1}):
        train(folder, "--epochs", "1", "--fixed_steps", "--train_subset", "128",
              "--test_subset", "64", "--compile", env=data_env)
    state = torch.load(folder / rf.MODEL_FILE, weights_only=True)
    assert not any(k.startswith("_orig_mod.") for k in state)  # the authors' key layout


@pytest.mark.slow
def test_densenet_gradient_checkpointing_changes_no_number(trained_densenet, tmp_path,
                                                           cifar_folder):
    """The authors' DenseNet runs say `efficient: True`; --no_grad_checkpointing trades the
    recomputation for memory and must give the very same weights."""
    train_in_process(tmp_path / "plain", [*trained_densenet.options, "--no_grad_checkpointing"],
                     cifar_folder)
    a = torch.load(trained_densenet.folder / rf.MODEL_FILE, weights_only=True)
    b = torch.load(tmp_path / "plain" / rf.MODEL_FILE, weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # Running statistics were updated once per step, not twice (the authors' side effect).
    steps = -(-192 // 64)
    assert int(a["features.denseblock1.start_block.norm1.num_batches_tracked"]) == steps


@pytest.mark.slow
def test_a_second_process_on_a_busy_run_folder_is_refused_before_writing(tmp_path, data_env):
    """One process per run folder, for a fresh run, --resume and --do_overwrite alike (the
    fresh run as a second process, the others in this one: the lock is the kernel's)."""
    folder = tmp_path / "busy"
    holder = subprocess.Popen([sys.executable, RUN_TRAINING, *QUICK, "--folder", str(folder)],
                              env=data_env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        while holder.poll() is None and rf.lock_holder(folder) != holder.pid:
            time.sleep(0.01)
        assert holder.poll() is None, "the first run ended before it was seen holding the lock"
        holder.send_signal(signal.SIGSTOP)  # it keeps the lock, and changes nothing meanwhile
        before = snapshot(folder)
        for extra in ([], ["--resume"], ["--do_overwrite"]):
            result = train(folder, *extra, env=data_env, check=False, in_subprocess=not extra)
            assert result.returncode == 2, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert str(folder) in result.stderr and f"pid {holder.pid}" in result.stderr
            assert snapshot(folder) == before
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the killed holder's lock: the folder can be resumed now.
    assert rf.refuse_if_busy(folder) is None


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, data_env):
    """The run folder on a tmpfs with room for one checkpoint, not two (about 0.6 MB each):
    the second checkpoint's write fails, named in one line, and the first one stays."""
    from helpers import mount_tmpfs_and_run

    mount = tmp_path / "small"
    command = (f"DATA_FOLDER={data_env['DATA_FOLDER']} OMP_NUM_THREADS={THREADS} {sys.executable} "
               f"{RUN_TRAINING} {' '.join(map(repr, QUICK))} --folder {mount}/run")
    result = mount_tmpfs_and_run(mount, "1000k", command, tmp_path / "after")
    assert result.returncode == 2, result.stdout + result.stderr
    last_line = result.stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert last_line.startswith("error: no space left") and "checkpoint.pt" in last_line
    assert "Traceback" not in result.stderr
    after = tmp_path / "after" / "run"
    assert torch.load(after / rf.CHECKPOINT_FILE, weights_only=True)["epoch"] == 1
    assert not list(after.glob(".*.tmp"))


def test_a_lost_or_truncated_opt_json_is_rebuilt_from_the_checkpoint(finished_run, tmp_path,
                                                                     data_env):
    _, run = finished_run
    folder = run.copy(tmp_path / "truncated")
    (folder / rf.MODEL_FILE).unlink()  # killed after its last checkpoint
    original = json.loads((folder / rf.OPT_FILE).read_text())
    (folder / rf.OPT_FILE).write_text(json.dumps(original)[:40])
    assert rf.read_opt(folder)["model_kw"] == original["model_kw"]
    assert rf.run_state(folder) == rf.UNFINISHED

    result = train(folder, "--resume", env=data_env)
    assert "resuming at epoch 3" in result.stdout
    rebuilt = json.loads((folder / rf.OPT_FILE).read_text())
    assert rebuilt["start_time"] == original["start_time"]
    assert {k: v for k, v in rebuilt.items() if k not in ("folder", "resumed_at", "resume")} == \
        {k: v for k, v in original.items() if k not in ("folder", "resumed_at", "resume")}
    # Deleted altogether, it comes back from the checkpoint as well.
    (folder / rf.OPT_FILE).unlink()
    assert rf.run_state(folder) == rf.FINISHED


def test_a_run_with_no_finished_epoch_is_restarted_and_says_so(tmp_path, data_env):
    folder = tmp_path / "run"
    tiny = ["--epochs", "1", "--fixed_steps", "--train_subset", "128", "--test_subset", "64"]
    train(folder, *tiny, env=data_env)
    # As if killed during its first epoch: opt.json and an empty log, no checkpoint.
    for name in (rf.CHECKPOINT_FILE, rf.MODEL_FILE):
        (folder / name).unlink()
    (folder / rf.LOG_FILE).write_text(json.dumps(rf.new_log()))
    assert rf.run_state(folder) == rf.STARTED
    result = train(folder, *tiny, "--resume", env=data_env)
    assert "restarting at epoch 0" in result.stdout and "resuming" not in result.stdout
    assert rf.run_state(folder) == rf.FINISHED


# ------------------------------------------ what a robustness file records (issue 23)

@pytest.mark.slow
def test_a_run_diverging_before_its_first_checkpoint_says_how_to_start_again(data_env,
                                                                                tmp_path):
    folder = tmp_path / "run"
    options = ["--model_type", "CifarResNet", "--model_kw", "q: 2;k: 3;N: 1;", "--epochs", "1",
               "--fixed_steps", "1", "--bs", "50", "--train_subset", "100", "--test_subset",
               "50", "--device", "cpu", "--folder", folder]

    diverged = run_in_process(RUN_TRAINING, *options, "--lr", "1e6", env=data_env)
    assert diverged.returncode == 3, diverged.stderr
    line = diverged.stderr.strip().splitlines()[-1]
    assert "no checkpoint" in line and "checkpoint is kept" not in line
    assert "--do_overwrite" in line and "lower --lr (now 1e+06)" in line
    # Its advice works at the first try.
    run_in_process(RUN_TRAINING, *options, "--lr", "0.01", "--do_overwrite", env=data_env,
                   check_rc=0)


# ---------------------------------------- what data a run was trained on (issue 21)

def test_opt_json_records_the_data_folder_and_its_checksums(finished_run, cifar_folder):
    import hashlib

    folder, _ = finished_run
    data = json.loads((folder / rf.OPT_FILE).read_text())["data"]
    batches = cifar_folder / "cifar-10-batches-py"
    assert data["folder"] == str(batches) and data["dataset"] == "cifar_10"
    assert data["official"] is False and len(data["differs"]) == 7
    assert data["text"] == ("a CIFAR-format data set that is not the official CIFAR-10 "
                            "(data_batch_1 and 6 more differ)")
    assert data["md5"]["test_batch"] == hashlib.md5((batches / "test_batch").read_bytes()).hexdigest()


def test_a_run_is_resumed_on_its_data_only_and_old_runs_without_a_record_resume(
        finished_run, tmp_path, own_data):
    reference, _ = finished_run
    folder = unfinished_copy(reference, tmp_path / "run", "cpu")
    batches = Path(own_data["DATA_FOLDER"]) / "cifar-10-batches-py"
    (batches / "batches.meta").write_bytes((batches / "batches.meta").read_bytes() + b" ")
    before = snapshot(folder)
    result = train(folder, "--resume", env=own_data, check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--resume refused" in result.stderr and "was trained on a CIFAR-format" in result.stderr
    assert "set DATA_FOLDER back" in result.stderr
    assert snapshot(folder) == before
    # A run recorded before data records (the authors', ours from before) resumes, and
    # gets its record.
    opt = json.loads((folder / rf.OPT_FILE).read_text())
    del opt["data"]
    (folder / rf.OPT_FILE).write_text(json.dumps(opt))
    result = train(folder, "--resume", env=own_data)
    assert "resuming at epoch" in result.stdout
    assert json.loads((folder / rf.OPT_FILE).read_text())["data"]["folder"] == str(batches)
