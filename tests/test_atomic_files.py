"""atomic_files: a full disk is named in one line and keeps the old file; a killed
writer's temporary file is removed by the next write of the same file."""
import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import atomic_files
from atomic_files import DiskFull
from helpers import mount_tmpfs_and_run

REPO_ROOT = Path(__file__).resolve().parents[1]


def temps(path: Path) -> list:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


class FullDiskFile(io.FileIO):
    """A real file whose writes fail as on a full disk (the OS's ENOSPC, injected)."""

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_write_into_a_full_disk_is_one_line_naming_the_file_and_keeps_the_old_one(
        tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    atomic_files.write_text(path, "old contents")
    monkeypatch.setattr(atomic_files, "open", lambda p, mode="r": FullDiskFile(p, "w"),
                        raising=False)
    with pytest.raises(DiskFull) as caught:
        atomic_files.write_text(path, "new contents")
    message = str(caught.value)
    assert str(path) in message and "no space left" in message and "\n" not in message
    assert path.read_text() == "old contents" and temps(path) == []
    assert caught.value.exit_code != 0


# A tmpfs of its own in a subprocess (a real ENOSPC from the kernel).
@pytest.mark.slow
def test_a_real_full_disk_is_named_for_every_writer(tmp_path):
    """On a 256 KiB tmpfs: bytes, an .npy stack and a torch checkpoint that do not fit
    each give DiskFull naming the file, and the old file stays."""
    code = r"""
import sys, numpy as np, torch
sys.path.insert(0, '.')
import atomic_files
from errors import UserError
target = sys.argv[1] + '/stack.npy'
atomic_files.write_bytes(target, b'old')
for write in (lambda: atomic_files.write_bytes(target, b'x' * 400_000),
              lambda: atomic_files.save_npy(target, np.zeros(100_000)),
              lambda: atomic_files.torch_save(target, torch.zeros(100_000))):
    try:
        write()
    except atomic_files.DiskFull as e:
        print('DiskFull:', e)
"""
    mount = tmp_path / "small"
    script = tmp_path / "writer.py"
    script.write_text(code, encoding="utf-8")
    result = mount_tmpfs_and_run(mount, "256k", f"{sys.executable} {script} {mount}",
                                 tmp_path / "after")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("DiskFull:")]
    assert len(lines) == 3, result.stdout + result.stderr
    assert all(f"{mount}/stack.npy" in line and "no space left" in line for line in lines)
    assert (tmp_path / "after" / "stack.npy").read_bytes() == b"old"
    assert [p.name for p in (tmp_path / "after").iterdir()] == ["stack.npy"]


WRITER = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
import atomic_files
with atomic_files.atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half of it")
    print("writing", flush=True)
    time.sleep(600)
"""


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    path = tmp_path / "test_cifar10_jpeg_noise_image_stacks.npy"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(REPO_ROOT)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        assert len(temps(path)) == 1  # mid-write: its temporary file exists
    finally:
        writer.kill()  # SIGKILL: no cleanup runs
        writer.wait()
        writer.stdout.close()
    assert len(temps(path)) == 1 and not path.exists()
    atomic_files.save_npy(path, np.arange(3))
    assert temps(path) == [] and np.load(path).tolist() == [0, 1, 2]


def test_only_temp_files_of_ended_writers_on_this_host_are_removed(tmp_path):
    path = tmp_path / "log.json"
    host = atomic_files._host()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".log.json.{host}-{dead}.abc123.tmp"
    alive = tmp_path / f".log.json.{host}-{os.getpid()}.def456.tmp"
    elsewhere = tmp_path / f".log.json.otherhost-{dead}.ghi789.tmp"
    other_file = tmp_path / f".opt.json.{host}-{dead}.jkl012.tmp"
    for temp in (stale, alive, elsewhere, other_file):
        temp.write_bytes(b"partial")
    atomic_files.write_json(path, {"val_er": []})
    assert not stale.exists()
    assert alive.exists() and elsewhere.exists() and other_file.exists()


# ------------------------------------------ what a robustness file records (issue 23)

def test_a_second_writer_waits_for_the_lock_and_says_for_whom(tmp_path):
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
