"""What a command needs of the data folder, in a line per data set, for `--dry-run`:
whether it is there (and what it is: datasets.identity), or what a run would download
or build first."""
from pathlib import Path

import config
from datasets import cifar10, cifar10c, identity

CIFAR10_ARCHIVE_BYTES = 170_498_071     # cifar-10-python.tar.gz


def cifar10_line(data_folder=None) -> str:
    folder = cifar10.batches_folder(data_folder)
    if all((folder / name).is_file() for name in cifar10.TRAIN_BATCHES + cifar10.TEST_BATCHES):
        return f"data: {folder}: {identity.describe(folder)['text']}"
    return (f"data: CIFAR-10 is not in {folder}; a run would first download "
            f"{cifar10.ARCHIVE_URL} ({CIFAR10_ARCHIVE_BYTES:,} bytes, md5-checked)")


def data_set_line(dataset: str = "cifar_10", data_folder=None) -> str:
    """cifar10_line, or the same of CIFAR-100 (exp_12)."""
    from datasets import cifar100

    if dataset == "cifar_10":
        return cifar10_line(data_folder)
    folder = cifar100.folder_of(data_folder)
    if all((folder / name).is_file() for name in cifar100.FILES):
        return f"data: {folder}: {identity.describe(folder, dataset)['text']}"
    return (f"data: CIFAR-100 is not in {folder}; a run would first download "
            f"{cifar100.ARCHIVE_URL} (md5-checked)")


def cifar10c_line(smoke: bool, data_folder=None, dataset: str = "cifar_10") -> str:
    """The corruption test's data: CIFAR-10-C, or (smoke profile, offline) its stand-in;
    CIFAR-100-C for `dataset` cifar_100 (which has no stand-in)."""
    from datasets import corruption_stand_in as stand_in

    real = cifar10c.corruption_folder(data_folder, dataset)
    if (real / cifar10c.LABELS_FILE).is_file():
        names = cifar10c.present_corruptions(real)
        return (f"data: {real}: {identity.describe_corruptions(real)['text']}, "
                f"{len(names)} corruption files")
    if not smoke or dataset != "cifar_10":
        found = cifar10c.corruption_set(dataset)
        return (f"data: {real.name} is not in {real}; a run would first download "
                f"{found.url} ({found.size}, md5-checked)")
    folder = stand_in.stand_in_folder(data_folder)
    state = ("there" if (folder / identity.STAND_IN_MARKER).is_file()
             else "not yet built: a run builds it from the test set, no download")
    return (f"data: CIFAR-10-C is not in {real}; the smoke profile uses {folder}: "
            f"{stand_in.DESCRIPTION} ({state})")


def jpeg_line(protocol: str, data_folder=None, dataset: str = "cifar_10") -> str:
    from datasets import jpeg

    paths = jpeg.stack_paths(data_folder, protocol, dataset)
    if all(Path(path).is_file() for path in paths):
        return f"data: the JPEG test set ({protocol} protocol) is in {Path(paths[0]).parent}"
    return (f"data: the JPEG test set ({protocol} protocol) is not in "
            f"{Path(data_folder or config.DATA_FOLDER)}; a run would first create it from "
            "the test set (no download)")


def cifar101_line(data_folder=None) -> str:
    """The CIFAR-10.1 test's data: its two files, checked against their published md5."""
    from datasets import cifar101

    folder = cifar101.cifar101_folder(data_folder)
    files = (cifar101.DATA_FILE, cifar101.LABELS_FILE)
    if all((folder / name).is_file() for name in files):
        return f"data: {folder}: {identity.describe_cifar101(folder)}"
    return (f"data: CIFAR-10.1 is not in {folder}; a run would first download its two files "
            f"from {cifar101.BASE_URL} ({sum(cifar101.BYTES.values()):,} bytes)")
