"""What a launch of run_training.py does with its run folder: start, restart, resume, or
nothing (finished); and the options it records. Reads the folder, writes nothing, so a
refusal leaves every file as it was."""
from dataclasses import dataclass
from pathlib import Path

import torch

import run_folder as rf
from errors import UserError
from training.devices import device_type
from training.options import configuration

START, RESTART, RESUME, FINISHED = "start", "restart", "resume", "finished"


@dataclass(frozen=True)
class Plan:
    action: str             # START, RESTART (resume asked, nothing to resume), RESUME, FINISHED
    old_opt: dict = None    # the folder's options when continuing its run
    overwrite: bool = False  # START over an earlier run (--do_overwrite)


def _check_same_run(opt: dict, old_opt: dict, folder: Path) -> None:
    old_type = device_type(old_opt.get("device") or opt["device"])
    if old_type != device_type(opt["device"]):
        # Another GPU is fine (a requeued job may land on one); another kind of device is
        # not: a resumed run ends with the uninterrupted run's weights only on the same kind.
        raise UserError(f"--resume refused: {folder} was started on {old_type}, not "
                        f"{device_type(opt['device'])}; resume it with --device {old_type}, "
                        "or start over with --do_overwrite")
    old_data, new_data = old_opt.get("data"), opt.get("data")
    if isinstance(old_data, dict) and new_data and old_data.get("md5") != new_data["md5"]:
        raise UserError(f"--resume refused: {folder} was trained on {old_data.get('text')} "
                        f"({old_data.get('folder')}), but the data folder now holds "
                        f"{new_data['text']} ({new_data['folder']}); set DATA_FOLDER back, "
                        "or start over with --do_overwrite")
    old, new = configuration(old_opt), configuration(opt)
    diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if diff:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:4])
        raise UserError(f"--resume refused: {folder}/opt.json is a different run ({details}); "
                        "use the same options, or another --folder")


def plan_run(opt: dict) -> Plan:
    """The Plan for `opt` (see training.options) and its folder; a UserError for a launch
    that would destroy or mix runs."""
    folder = Path(opt["folder"])
    state = rf.run_state(folder)
    if state == rf.ABSENT:
        return Plan(START)
    if opt["do_overwrite"]:
        return Plan(START, overwrite=True)
    if not opt["resume"]:
        what = "a finished run" if state == rf.FINISHED else "a started run"
        raise UserError(f"{folder} already holds {what}; pass --resume to continue it or "
                        "--do_overwrite to start over")
    old_opt = rf.read_opt(folder)
    _check_same_run(opt, old_opt, folder)
    if state == rf.FINISHED:
        return Plan(FINISHED, old_opt)
    if not (folder / rf.CHECKPOINT_FILE).is_file():
        return Plan(RESTART, old_opt)  # killed before its first epoch ended
    return Plan(RESUME, old_opt)


def recorded_options(opt: dict, plan: Plan) -> dict:
    """The options the run records in opt.json (a new dict; `opt` is left as it is).

    A continued run keeps the time it was first started and lists each relaunch after it.
    A resumed run trains with the thread count it started with: the CPU's sums, and so the
    weights, depend on it (see docs/reference.md §3)."""
    recorded = dict(opt)
    if recorded["num_threads"] is None:
        recorded["num_threads"] = torch.get_num_threads()
    if plan.old_opt is not None:
        recorded["resumed_at"] = [*plan.old_opt.get("resumed_at", []), opt["start_time"]]
        recorded["start_time"] = plan.old_opt.get("start_time", opt["start_time"])
    if plan.action == RESUME and plan.old_opt.get("num_threads"):
        recorded["num_threads"] = int(plan.old_opt["num_threads"])
    return recorded
