"""A small tmpfs for the full-disk tests: a real ENOSPC from the kernel."""
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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
