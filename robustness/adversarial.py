"""Robust error of one trained model under AutoAttack (Croce & Hein 2020), per eps.

The attack runs on a model that takes images in [0, 1] and normalises them inside
(robustness/normalized_model.py), so that eps is measured in pixel units (1/255 = one
grey level). Every run is attacked on the same images, the first n of its data set's
test set (CIFAR-10, CIFAR-100).

One result file per run and attack setting, B/adversarial_predictions/<tag>/<run
name>.json (`AttackSettings.tag`: `<norm>_<attacks>`, plus `_n<N>_seed<S>` for other than
the default images and seed): the settings, the record of what made it (robustness.
provenance), and per eps (0 = no attack) which of the n images are still classified
correctly (a string of 0/1) and the robust error in %. An image broken
at some eps is counted as broken at every larger eps too (the same perturbation is
allowed there), so the curve never falls; and each eps only attacks the images that
survived the next smaller one, which saves most of the work.

Resuming. The file is rewritten (atomically) after every eps. Within an eps, our own
progress file records the images left after every finished attack, and AutoAttack's
`state_path` file records the images broken so far within the running attack (it is
rewritten after every batch). pyautoattack 0.2.0 cannot restore its own state file (it
stores the set of attacks as text, so `from_disk` never matches, and the restore branch
leaves `y_adv` unset), so we read that file ourselves, keep the images it found broken,
and start the attack afresh on the rest. Progress files carry a key (settings, eps,
weights): an attack with another key (a relaunch with another seed) starts afresh.
"""
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import atomic_files
from errors import UserError
from precision import error_text

OUTPUT_FOLDER = "adversarial_predictions"
NORMS = ("Linf", "L2")
ATTACK_CHOICES = ("standard", "apgd-ce")   # AutoAttack's standard version, or its first attack
# eps in units of 1/255. L-inf: networks without adversarial training are broken at the
# usual 8/255, so the curve starts far below. L2: the same idea around the usual 0.5.
DEFAULT_EPS_255 = {"Linf": (0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
                   "L2": (4.0, 8.0, 16.0, 32.0, 64.0, 128.0)}
DEFAULT_N_IMAGES = 1000
FORMAT = 1
# torch is imported by the functions that attack, not here: the evaluation reads the result
# files (read_results) without paying for it.


@dataclass(frozen=True)
class AttackSettings:
    norm: str = "Linf"
    attacks: str = "standard"
    n_images: int = DEFAULT_N_IMAGES
    seed: int = 0

    def __post_init__(self):
        if self.norm not in NORMS:
            raise UserError(f"unknown norm {self.norm!r}; use one of {' '.join(NORMS)}")
        if self.attacks not in ATTACK_CHOICES:
            raise UserError(f"unknown attacks {self.attacks!r}; use one of "
                            f"{' '.join(ATTACK_CHOICES)}")
        if self.n_images < 1:
            raise UserError("--n-images must be positive")

    @property
    def tag(self) -> str:
        """The folder of these settings' files: `<norm>_<attacks>` for the default images
        and seed, else with both (`Linf_standard_n32_seed1`), so that results of other
        settings live beside each other instead of replacing each other."""
        default = self.n_images == DEFAULT_N_IMAGES and self.seed == 0
        extra = "" if default else f"_n{self.n_images}_seed{self.seed}"
        return f"{self.norm}_{self.attacks}{extra}"


def output_file(base_folder, run_name: str, settings: AttackSettings) -> Path:
    return Path(base_folder) / OUTPUT_FOLDER / settings.tag / f"{run_name}.json"


def test_subset(n_images: int, data_folder=None, data_set=None):
    """The first n CIFAR-10 (or `data_set`'s, datasets.catalog) test images as float NCHW
    in [0, 1], and their labels."""
    import torch

    from datasets import catalog

    images, labels = (data_set or catalog.CIFAR_10).load("test", data_folder)
    images, labels = images[:n_images], labels[:n_images]
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255)
    return x.contiguous(), torch.from_numpy(labels)


def make_autoattack(model, settings: AttackSettings, eps: float, device):
    """AutoAttack with the standard version's parameters (attacks are chosen per call)."""
    from pyautoattack import AutoAttack

    return AutoAttack(model, norm=settings.norm, eps=eps, version="standard",
                      seed=settings.seed, device=device)


def attack_names(settings: AttackSettings) -> list:
    if settings.attacks == "apgd-ce":
        return ["apgd-ce"]
    return ["apgd-ce", "apgd-t", "fab-t", "square"]   # AutoAttack's standard version


# ------------------------------------------------------------------ flags <-> text

def flags_text(flags) -> str:
    return "".join("1" if f else "0" for f in np.asarray(flags, dtype=bool))


def text_flags(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")


def predictions(model, x, device, batch_size: int):
    """Predicted classes (a CPU tensor) of `model` on the float NCHW images `x`."""
    import torch

    with torch.inference_mode():
        return torch.cat([model(x[i:i + batch_size].to(device)).argmax(1).cpu()
                          for i in range(0, len(x), batch_size)])


# ------------------------------------------------------------------ one eps

def _read_package_state(path: Path):
    """The robust flags in AutoAttack's state file (written during an attack), or None
    when there is none or it was cut short while being written."""
    try:
        flags = json.loads(path.read_text(encoding="utf-8")).get("_robust_flags")
    except (OSError, ValueError, AttributeError):
        return None
    return None if flags is None else np.asarray(flags, dtype=bool)


def _read_progress(path: Path, n: int, attacks: list, key: dict):
    """(flags, attacks done) of a progress file made with `key`, or None. A file made
    with another key (seed, attacks, norm, eps, images, weights) is not taken up."""
    try:
        progress = json.loads(path.read_text(encoding="utf-8"))
        flags = text_flags(progress["robust"])
        done = list(progress["attacks_done"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if len(flags) != n or done != attacks[:len(done)]:
        return None
    # Files of before the key was recorded hold none: those keep resuming.
    if progress.get("key", key) != key:
        print(f"warning: {path} was made with other attack settings; starting this eps "
              "afresh", file=sys.stderr, flush=True)
        return None
    return flags, done


def progress_key(settings: AttackSettings, eps: float, weights=None) -> dict:
    """Everything that changes an attack at one eps: its progress files carry it."""
    return dict(asdict(settings), eps=f"{eps:.10g}", weights=weights)


def robust_at_eps(model, x, y, start_flags, eps: float, settings: AttackSettings, device,
                  state_folder: Path, batch_size: int = 250, log=print,
                  weights=None) -> np.ndarray:
    """Which images survive every attack at `eps`, of those True in `start_flags`.

    Resumable: progress goes to state_folder/progress_<eps>.json after every attack and
    AutoAttack's state file after every batch of the running attack. Both are taken up
    only by an attack with the same key (progress_key: settings, eps, `weights`)."""
    attacks = attack_names(settings)
    key, tag = progress_key(settings, eps, weights), f"{eps:.10g}"
    progress_file = state_folder / f"progress_{tag}.json"
    resumed = _read_progress(progress_file, len(y), attacks, key)
    flags, done = resumed if resumed else (np.asarray(start_flags, dtype=bool).copy(), [])
    if not resumed:
        # A state file of another attack's setting must not be taken up either.
        for stale in state_folder.glob(f"autoattack_{tag}_*.json"):
            stale.unlink(missing_ok=True)
    state_folder.mkdir(parents=True, exist_ok=True)

    def save():
        atomic_files.write_json(progress_file, dict(robust=flags_text(flags),
                                                    attacks_done=done, key=key))

    save()
    for attack in attacks[len(done):]:
        package_state = state_folder / f"autoattack_{tag}_{attack}.json"
        index = np.flatnonzero(flags)
        partial = _read_package_state(package_state)
        if partial is not None and len(partial) == len(index):
            flags[index[~partial]] = False   # broken before the interruption
            save()
            index = np.flatnonzero(flags)
        package_state.unlink(missing_ok=True)
        if len(index):
            adversary = make_autoattack(model, settings, eps, device)
            adversary.attacks_to_run = [attack]
            _, y_adv = adversary.run_standard_evaluation(
                x[index], y[index], batch_size=batch_size, state_path=package_state.resolve())
            flags[index] = (y_adv.cpu() == y[index]).numpy()
        done = done + [attack]
        save()
        package_state.unlink(missing_ok=True)
        log(f"  eps {eps * 255:g}/255 after {attack}: {int(flags.sum())} of {len(flags)} robust")
    return flags


# ------------------------------------------------------------------ one run

def _read_results(path: Path, settings: AttackSettings, record=None) -> dict:
    """{eps_255: robust flags} of a valid result file made with the same settings (and,
    when `record` is given, the same weights and images), or {}."""
    from errors import warn
    from robustness.provenance import reusable

    saved = reusable(path, read_results, UserError, record, keys=("weights", "data"))
    if saved is None:
        return {}
    if saved["settings"] != settings or saved["format"] != FORMAT:
        warn(f"{path} was made with other settings; computing it again")
        return {}
    return saved["flags"]


def result_rows(flags_by_eps: dict, settings: AttackSettings) -> list:
    """Per eps (ascending), n and the robust error in %, an image broken at a smaller eps
    counting as broken."""
    rows, robust = [], None
    for eps_255 in sorted(flags_by_eps):
        robust = flags_by_eps[eps_255] if robust is None else robust & flags_by_eps[eps_255]
        rows.append(dict(eps_255=eps_255, eps=eps_255 / 255, n=len(robust),
                         er=100.0 * (1.0 - float(robust.mean())),
                         robust=flags_text(flags_by_eps[eps_255])))
    return rows


def write_results(path: Path, flags_by_eps: dict, settings: AttackSettings,
                  record=None) -> None:
    import pyautoattack

    saved = dict(format=FORMAT, settings=asdict(settings),
                 package=f"pyautoattack {pyautoattack.__version__}",
                 results=result_rows(flags_by_eps, settings))
    if record is not None:
        saved["record"] = record
    atomic_files.write_json(path, saved, indent=1)


def evaluate_run(model, x, y, eps_255_list, settings: AttackSettings, output,
                 device, batch_size: int = 250, log=print, weights=None,
                 data_source=None) -> list:
    """Robust error of `model` on (x, y) at eps 0 and every eps of `eps_255_list` (in
    units of 1/255) into `output`, keeping the eps already there (made by the same
    `weights`, a fingerprint, when given: it goes into the file's record with the
    fingerprint of the images and `data_source`, their data set in words). Returns its
    rows."""
    from robustness.provenance import array_fingerprint

    output = Path(output)
    if len(y) != settings.n_images:
        raise ValueError(f"{len(y)} images given, the settings say {settings.n_images}")
    record = dict(weights=weights, data=array_fingerprint(x.numpy(), y.numpy()),
                  data_source=data_source, **asdict(settings)) if weights else None
    flags_by_eps = _read_results(output, settings, record)
    state_folder = output.with_suffix(".state")
    if 0.0 not in flags_by_eps:
        flags_by_eps[0.0] = (predictions(model, x, device, batch_size) == y).numpy()
        write_results(output, flags_by_eps, settings, record)
    log(f"clean error {error_text(100 * (1 - flags_by_eps[0.0].mean()), len(y))} % on "
        f"{len(y)} images")
    for eps_255 in sorted(float(e) for e in eps_255_list):
        if eps_255 in flags_by_eps or eps_255 <= 0:
            continue
        # Start from the survivors of the largest smaller eps already done.
        start = flags_by_eps[max(e for e in flags_by_eps if e < eps_255)]
        flags_by_eps[eps_255] = robust_at_eps(model, x, y, start, eps_255 / 255, settings,
                                              device, state_folder, batch_size, log, weights)
        write_results(output, flags_by_eps, settings, record)
        (state_folder / f"progress_{eps_255 / 255:.10g}.json").unlink(missing_ok=True)
    if state_folder.is_dir() and not any(state_folder.iterdir()):
        state_folder.rmdir()
    rows = result_rows(flags_by_eps, settings)
    for row in rows:
        log(f"eps {row['eps_255']:g}/255: robust error {error_text(row['er'], row['n'])} %")
    return rows


def read_results(path) -> dict:
    """The settings, record (None in files of before records), rows (eps_255, eps, n,
    er) and robust flags per eps of a result file, checked: n is the settings' number of
    images, the flags are a string of 0/1 of that length, er is in [0, 100] and agrees
    with the flags. A UserError naming the file if it is unusable."""
    path = Path(path)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        settings = AttackSettings(**saved["settings"])
        rows = [dict(eps_255=float(r["eps_255"]), eps=float(r["eps"]), n=int(r["n"]),
                     er=float(r["er"])) for r in saved["results"]]
        texts = [str(r["robust"]) for r in saved["results"]]
        record, file_format = saved.get("record"), saved.get("format")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{path} is not an adversarial result file ({type(e).__name__}); "
                        "delete it and compute it again") from None
    if not rows or any(not math.isfinite(r["er"]) for r in rows):
        raise UserError(f"{path} holds no results; delete it and compute it again")
    problem = _invalid_rows(rows, texts, settings)
    if problem:
        raise UserError(f"{path} is not valid ({problem}); delete it and compute it again")
    flags = {r["eps_255"]: text_flags(t) for r, t in zip(rows, texts)}
    return dict(settings=settings, rows=rows, record=record, format=file_format, flags=flags)


def _invalid_rows(rows: list, texts: list, settings: AttackSettings) -> str:
    """What is wrong with a result file's rows, '' when nothing: each er must be the
    robust error its flags give (an image broken at a smaller eps counting as broken)."""
    robust = None
    for row, text in sorted(zip(rows, texts), key=lambda pair: pair[0]["eps_255"]):
        if len(text) != settings.n_images or set(text) - {"0", "1"}:
            return f"eps {row['eps_255']:g}: the robust flags are not {settings.n_images} 0/1"
        if row["n"] != settings.n_images or not 0.0 <= row["er"] <= 100.0:
            return f"eps {row['eps_255']:g}: n {row['n']}, er {row['er']}"
        flags = text_flags(text)
        robust = flags if robust is None else robust & flags
        if abs(row["er"] - 100.0 * (1.0 - float(robust.mean()))) > 1e-6:
            return f"eps {row['eps_255']:g}: er {row['er']} does not match its flags"
    return ""
