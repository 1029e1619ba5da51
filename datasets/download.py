"""Downloading a data set: one way for CIFAR-10 and CIFAR-10-C (archives) and CIFAR-10.1
(two .npy files).

torchvision downloads (with a progress bar) and checks the archive's md5; the archive is
extracted into a temporary folder beside its destination, from which the caller renames
the files into place, so an interrupted download or extraction never leaves a
half-filled data set under its real name. Any failure becomes one line saying what to
download by hand and where to put it, and removes what the attempt created (the data
folder, a partial archive, the data set's folder); what was there before is kept.
"""
import contextlib
import os
import shutil
import socket
import tempfile
from pathlib import Path

from errors import UserError

# torchvision's urlopen has no timeout: on a network that drops packets instead of
# refusing, it would wait for ever. The limit applies per read, not to the download.
DOWNLOAD_TIMEOUT_S = 60


@contextlib.contextmanager
def _in_one_line(what: str, by_hand: str, created, root):
    """Any failure inside (network, archive, the caller's checks) becomes the UserError
    "`what` and downloading it failed (reason); `by_hand`", after removing `created` and
    the data folder `root` (None: it was there before); reads time out."""
    previous_timeout = socket.getdefaulttimeout()
    try:
        if previous_timeout is None:
            socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        yield
    except BaseException as e:  # network and archive errors come in many types
        _remove(created, root)
        if not isinstance(e, Exception):   # Ctrl-C: cleaned up, and still an interrupt
            raise
        reason = str(e).splitlines()[0] if str(e) else "no details"
        raise UserError(f"{what} and downloading it failed ({type(e).__name__}: {reason}); "
                        f"{by_hand}") from None
    finally:
        socket.setdefaulttimeout(previous_timeout)


@contextlib.contextmanager
def extracted_archive(url: str, root, filename: str, md5: str, what: str, by_hand: str,
                      destination):
    """Download `url` to root/filename, extract it into a temporary folder under `root`
    and yield that folder, from which the caller fills `destination`. A failure, in the
    download or in the caller's moving of the files, is a UserError: "`what` ...
    downloading it failed (reason); `by_hand`", after removing whichever of `root`, the
    archive and `destination` did not exist before."""
    root = Path(root)
    created = [path for path in (Path(destination), root / filename) if not path.exists()]
    with _in_one_line(what, by_hand, created, None if root.exists() else root):
        from torchvision.datasets.utils import download_and_extract_archive

        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{filename}.extract.", dir=root) as tmp:
            download_and_extract_archive(url, str(root), extract_root=tmp, filename=filename,
                                         md5=md5)
            yield Path(tmp)


@contextlib.contextmanager
def downloaded_file(url: str, path, md5: str, what: str, by_hand: str):
    """Download `url` (md5-checked) to a temporary file beside `path` and yield it; the
    caller checks it and renames it into place. A failure is one line, as above, after
    removing the folder of `path` and the data folder above it if this attempt made them."""
    path = Path(path)
    created = [] if path.parent.exists() else [path.parent]
    root = None if path.parent.parent.exists() else path.parent.parent
    with _in_one_line(what, by_hand, created, root):
        from torchvision.datasets.utils import download_url

        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.download.",
                                         dir=path.parent) as tmp:
            download_url(url, tmp, filename=path.name, md5=md5)
            if not (Path(tmp) / path.name).is_file():   # torchvision may return quietly
                raise OSError("no file arrived")
            yield Path(tmp) / path.name


def _remove(created, root) -> None:
    """Remove what a failed download made: its files and folders, and the data folder
    `root` when it made it (unless something else was put in it meanwhile)."""
    for path in created:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if root is not None:
        with contextlib.suppress(OSError):
            root.rmdir()


def download_files(url: str, root, filename: str, md5: str, folder_name: str, what: str,
                   by_hand: str, required=()) -> Path:
    """Download and extract an archive that holds `folder_name`/ (CIFAR-10's and
    CIFAR-100's), renaming each extracted file into root/folder_name: an interrupted
    extraction never leaves a truncated file under its name. Returns that folder; a
    UserError when the archive did not provide the `required` files."""
    folder = Path(root) / folder_name
    with extracted_archive(url, root, filename, md5, what, by_hand,
                           destination=folder) as extracted:
        folder.mkdir(exist_ok=True)
        for path in (extracted / folder_name).iterdir():
            os.replace(path, folder / path.name)
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise UserError(f"the downloaded archive did not provide {missing} in {folder}; "
                        f"delete {Path(root) / filename} and try again")
    return folder
