"""Downloading a data set: one way for CIFAR-10 and CIFAR-10-C (archives) and CIFAR-10.1
(two .npy files).

torchvision downloads (with a progress bar) and checks the archive's md5; the archive is
extracted into a temporary folder beside its destination, from which the caller renames
the files into place, so an interrupted download or extraction never leaves a
half-filled data set under its real name. Any failure becomes one line saying what to
download by hand and where to put it.
"""
import contextlib
import socket
import tempfile
from pathlib import Path

from errors import UserError

# torchvision's urlopen has no timeout: on a network that drops packets instead of
# refusing, it would wait for ever. The limit applies per read, not to the download.
DOWNLOAD_TIMEOUT_S = 60


@contextlib.contextmanager
def _in_one_line(what: str, by_hand: str):
    """Any failure inside (network, archive, the caller's checks) becomes the UserError
    "`what` and downloading it failed (reason); `by_hand`"; reads time out."""
    previous_timeout = socket.getdefaulttimeout()
    try:
        if previous_timeout is None:
            socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        yield
    except Exception as e:  # network and archive errors come in many types
        reason = str(e).splitlines()[0] if str(e) else "no details"
        raise UserError(f"{what} and downloading it failed ({type(e).__name__}: {reason}); "
                        f"{by_hand}") from None
    finally:
        socket.setdefaulttimeout(previous_timeout)


@contextlib.contextmanager
def extracted_archive(url: str, root, filename: str, md5: str, what: str, by_hand: str):
    """Download `url` to root/filename, extract it into a temporary folder under `root`
    and yield that folder. A failure, in the download or in the caller's moving of the
    files, is a UserError: "`what` ... downloading it failed (reason); `by_hand`"."""
    root = Path(root)
    with _in_one_line(what, by_hand):
        from torchvision.datasets.utils import download_and_extract_archive

        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{filename}.extract.", dir=root) as tmp:
            download_and_extract_archive(url, str(root), extract_root=tmp, filename=filename,
                                         md5=md5)
            yield Path(tmp)


@contextlib.contextmanager
def downloaded_file(url: str, path, md5: str, what: str, by_hand: str):
    """Download `url` (md5-checked) to a temporary file beside `path` and yield it; the
    caller checks it and renames it into place. Failures are one line, as above."""
    path = Path(path)
    with _in_one_line(what, by_hand):
        from torchvision.datasets.utils import download_url

        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.download.",
                                         dir=path.parent) as tmp:
            download_url(url, tmp, filename=path.name, md5=md5)
            if not (Path(tmp) / path.name).is_file():   # torchvision may return quietly
                raise OSError("no file arrived")
            yield Path(tmp) / path.name
