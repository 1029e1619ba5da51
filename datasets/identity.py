"""Which data a folder holds, in words: the official CIFAR files, or something else.

A CIFAR-format folder loads whatever its batches hold (our tests write such folders), so a
result says which data made it. For CIFAR-10 and CIFAR-100 the md5 sums of the official
files are those torchvision.datasets.CIFAR10 / CIFAR100 check (their train_list,
test_list and meta, read from torchvision's source); a folder whose every file matches
is the official data set.

CIFAR-10-C publishes no per-file sums, only the archive's: a folder extracted from our
md5-verified download gets a marker (VERIFIED_MARKER, the files' sizes), a folder placed
by hand has none, and the offline stand-in (datasets.corruption_stand_in) has its own.

Every file is hashed once per version: the digests are cached by path, size, mtime and
inode, so describing the same folder twice reads it once.
"""
import ast
import contextlib
import functools
import hashlib
import importlib.util
import json
from pathlib import Path

import atomic_files

VERIFIED_MARKER = ".verified_download.json"   # in CIFAR-10-C/, after an md5-checked download
STAND_IN_MARKER = "stand_in.json"              # in the stand-in's folder, written last
BENCHMARK_SIZE = 15                            # CIFAR-10-C's benchmark corruptions
STAND_IN = "stand-in corruptions"              # how the stand-in's description starts

_DIGESTS = {}   # (algorithm, path, size, mtime, inode) -> hex digest


def file_digest(path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, cached for as long as its size, mtime and inode stay."""
    path = Path(path)
    stat = path.stat()
    key = (algorithm, str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _DIGESTS:
        digest = hashlib.new(algorithm)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


@functools.lru_cache(maxsize=None)
def _torchvision_class_constants(class_name: str) -> dict:
    """The constant class attributes (base_folder, train_list, test_list, meta) of a class
    of torchvision/datasets/cifar.py, read from its source: importing torchvision takes
    seconds, which every training run and --dry-run would pay."""
    spec = importlib.util.find_spec("torchvision")
    source = Path(spec.submodule_search_locations[0]) / "datasets" / "cifar.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.Assign) and len(item.targets) == 1 \
                        and isinstance(item.targets[0], ast.Name):
                    with contextlib.suppress(ValueError):
                        found[item.targets[0].id] = ast.literal_eval(item.value)
    if class_name == "CIFAR100" and "train_list" not in found:   # a subclass of CIFAR10
        found = dict(_torchvision_class_constants("CIFAR10"), **found)
    return found


def official_files(dataset: str = "cifar_10") -> dict:
    """{'name': 'CIFAR-10', 'folder': 'cifar-10-batches-py', 'md5': {file: md5}} of the
    official files, from torchvision's class of the data set."""
    from datasets.catalog import DATA_SETS

    if dataset not in DATA_SETS:
        raise ValueError(f"no official checksums known for {dataset!r}; known: "
                         f"{', '.join(DATA_SETS)}")
    name, class_name = DATA_SETS[dataset].title, DATA_SETS[dataset].torchvision_class
    source = _torchvision_class_constants(class_name)
    md5 = {file: sum_ for file, sum_ in source["train_list"] + source["test_list"]}
    md5[source["meta"]["filename"]] = source["meta"]["md5"]
    return dict(name=name, folder=source["base_folder"], md5=md5)


def describe(folder, dataset: str = "cifar_10", official=None) -> dict:
    """What the batches folder `folder` holds: {'dataset', 'folder', 'official' (bool),
    'differs' (the files that are missing or whose md5 is not the official one), 'text',
    'md5' (each file's, None when missing)}.
    `official`: the table of official_files (default: torchvision's)."""
    official = official or official_files(dataset)
    folder = Path(folder)
    found = {file: file_digest(folder / file, "md5") if (folder / file).is_file() else None
             for file in official["md5"]}
    differs = [file for file, md5 in official["md5"].items() if found[file] != md5]
    if not differs:
        text = f"{official['name']} (official files, checksums verified)"
    else:
        if len(differs) > 1:
            why = f"{differs[0]} and {len(differs) - 1} more differ"
        else:
            why = f"{differs[0]} {'is missing' if found[differs[0]] is None else 'differs'}"
        text = f"a CIFAR-format data set that is not the official {official['name']} ({why})"
    return dict(dataset=dataset, folder=str(folder), official=not differs, differs=differs,
                text=text, md5=found)


def is_official(record, dataset: str = "cifar_10") -> bool:
    """Whether a data record (describe's dict, as stored) is of the official data set."""
    return isinstance(record, dict) and record.get("official") is True \
        and record.get("dataset", dataset) == dataset


def describe_cifar101(folder, md5=None) -> str:
    """What a CIFAR-10.1 folder holds, in words: its two files against the md5 sums
    `md5` (default: those datasets.cifar101 pins; the data set's repository publishes
    none)."""
    from datasets import cifar101

    folder, md5 = Path(folder), md5 or cifar101.MD5
    differs = [name for name in (cifar101.DATA_FILE, cifar101.LABELS_FILE)
               if not (folder / name).is_file()
               or file_digest(folder / name, "md5") != md5[name]]
    return (f"not the published CIFAR-10.1 v6 ({differs[0]} differs)" if differs
            else "CIFAR-10.1 v6 (md5 as published)")


# ------------------------------------------------------------------------- CIFAR-10-C

def stand_in_text(k: int) -> str:
    """What every output computed on the stand-in says."""
    return f"{STAND_IN} ({k} of {BENCHMARK_SIZE}), not CIFAR-10-C"


def read_json(path):
    """A marker's dict, None when it is absent or unreadable (then it marks nothing)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _file_sizes(folder: Path) -> dict:
    return {p.name: p.stat().st_size for p in sorted(folder.glob("*.npy"))}


def mark_verified_download(folder, archive: str, md5: str) -> None:
    """Record, in `folder`, that its files came from the md5-verified `archive`."""
    folder = Path(folder)
    atomic_files.write_json(folder / VERIFIED_MARKER,
                            dict(archive=archive, md5=md5, files=_file_sizes(folder)), indent=1)


def describe_corruptions(folder) -> dict:
    """What a CIFAR-10-C folder holds: {'folder', 'verified' (bool), 'stand_in' (bool),
    'text'}: the md5-verified download (its files as the marker lists them), the offline
    stand-in, or a folder placed by hand (not verifiable)."""
    folder = Path(folder)
    record = dict(folder=str(folder), verified=False, stand_in=False)
    stand_in = read_json(folder / STAND_IN_MARKER)
    if stand_in is not None:
        k = len(stand_in.get("corruptions", ()))
        return dict(record, stand_in=True, text=stand_in_text(k))
    marker = read_json(folder / VERIFIED_MARKER)
    listed = marker.get("files") if marker else None
    # Named as its folder is for CIFAR-100-C (exp_12); CIFAR-10-C for any other name.
    title = "CIFAR-100-C" if folder.name == "CIFAR-100-C" else "CIFAR-10-C"
    if not isinstance(listed, dict):
        return dict(record, text=f"{title} placed by hand (not verified: {title} "
                                 "publishes no per-file checksums)")
    changed = sorted(name for name, size in _file_sizes(folder).items()
                     if listed.get(name) != size)
    if changed:
        return dict(record, text=f"{title} changed since its md5-verified download "
                                 f"({changed[0]} differs)")
    return dict(record, verified=True, text=f"{title} (md5-verified download)")
