"""The data sets a run can be trained on, by the name opt.json's `dataset` gives them.

Everything that depends on the data set (its reader, classes, normalisation, its
common-corruption set) is looked up here from that name, so that a run folder alone says
which data its weights belong to, and a test on other data is refused
(`refuse_other_data`). It imports neither PyTorch nor numpy: the launchers read it.
"""
import importlib
from dataclasses import dataclass

from errors import UserError

# CIFAR-10's per-channel mean and standard deviation (docs/reference.md §2), the
# authors' normalisation.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
# The per-channel mean and standard deviation of the pixels of CIFAR-100's 50,000
# training images in [0, 1], over all pixels as CIFAR-10's above: the means are the
# published 129.30, 124.07, 112.43 of 255; the standard deviations are the values in
# common use for CIFAR-100. Neither was recomputed here (the tests have no CIFAR-100).
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


@dataclass(frozen=True)
class DataSet:
    name: str            # opt.json's `dataset`: "cifar_10"
    title: str           # as papers write it: "CIFAR-10"
    num_classes: int
    mean: tuple          # of the training pixels in [0, 1], per channel (RGB)
    std: tuple
    reader: str          # its module: load(split, data_folder, download_if_missing),
    #                      ensure(data_folder), test_labels(data_folder), folder_of(data_folder)
    torchvision_class: str   # torchvision.datasets' class, whose lists hold its files' md5
    train_size: int = 50_000
    test_size: int = 10_000

    def load(self, split: str, data_folder=None, download_if_missing: bool = True):
        """(images uint8 (n, 32, 32, 3), labels int64 (n,)) of 'train' or 'test'."""
        return importlib.import_module(self.reader).load(split, data_folder,
                                                         download_if_missing)

    def ensure(self, data_folder=None):
        """Download the data set unless it is there; its folder."""
        return importlib.import_module(self.reader).ensure(data_folder)

    def folder(self, data_folder=None):
        """Its official folder in the data folder (cifar-10-batches-py/, cifar-100-python/)."""
        return importlib.import_module(self.reader).folder_of(data_folder)

    def test_labels(self, data_folder=None):
        """The test set's labels; None when its file is missing (nothing is downloaded)."""
        return importlib.import_module(self.reader).test_labels(data_folder)


CIFAR_10 = DataSet("cifar_10", "CIFAR-10", 10, CIFAR10_MEAN, CIFAR10_STD, "datasets.cifar10",
                   "CIFAR10")
CIFAR_100 = DataSet("cifar_100", "CIFAR-100", 100, CIFAR100_MEAN, CIFAR100_STD,
                    "datasets.cifar100", "CIFAR100")
DATA_SETS = {d.name: d for d in (CIFAR_10, CIFAR_100)}
# The authors' runs are all CIFAR-10 (their opt.json says so); a folder without the key
# can only be one of theirs.
DEFAULT = CIFAR_10.name


def data_set(name: str) -> DataSet:
    if name not in DATA_SETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATA_SETS)}")
    return DATA_SETS[name]


def of_run(opt: dict) -> DataSet:
    """The data set a run was trained on, by its opt.json."""
    return data_set(opt.get("dataset") or DEFAULT)


def refuse_other_data(opt: dict, folder, expected: str, fix: str = "") -> DataSet:
    """The run's data set; a UserError when it is not `expected` (a CIFAR-100 model on
    CIFAR-10 data, or the reverse, measures nothing). `fix`: what to run instead."""
    trained, wanted = of_run(opt), data_set(expected)
    if trained != wanted:
        raise UserError(f"{folder} was trained on {trained.title} (its opt.json says "
                        f"{trained.name}), not on {wanted.title}: it is not evaluated on "
                        f"{wanted.title} data{'; ' + fix if fix else ''}")
    return trained
