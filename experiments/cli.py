"""The command lines of the exe_ scripts: each script is one declaration,

    sys.exit(run_main(cli.train(EXP_10)))

and `cli.train(experiment)`, `cli.evaluate(...)` and
`cli.robustness_tests(experiment, suite.<TEST>)` (a declaration of
experiments/robustness_suite.py) return its `main(argv) -> int`.
"""
import argparse
from pathlib import Path

import run_folder as rf
from datasets import needs
from errors import ArgumentParser, UserError, counted
from experiments import grid
from experiments.launching import cpu_guard, jobs, runs
from experiments import robustness_suite as suite
from experiments.launching.launch import launch
from experiments.launching.slurm import SLURM_MAX_TIMEOUTS

LAUNCHERS = ("local", "slurm")


def build_parser(experiment: grid.Experiment, description: str) -> argparse.ArgumentParser:
    p = ArgumentParser(
        description=description,
        usage="%(prog)s [options] [-- options passed on to each run's script]",
        epilog="Arguments after `--` are passed to every launched script: for training, "
               "e.g. `-- --amp bf16 --compile` (they become part of each run's opt.json: "
               "resume a run with the same ones); for predictions, e.g. `-- --bs 500`.")
    a = p.add_argument
    smoke = grid.SMOKE
    a("--profile", choices=grid.PROFILES, default="paper",
      help=f"paper (the default): the paper's grid under experiments/<exp>/; smoke: one seed, "
           f"the smallest size, {smoke['epochs']} epochs on {smoke['train_subset']} images, "
           "under experiments/<exp>/smoke/")
    a("--base_folder", type=Path, default=None,
      help=f"write under this folder instead of the profile's ({experiment.base_folder()})")
    a("--seeds", type=int, nargs="+", help=f"only these seeds of {list(experiment.seeds)}")
    a("--models", nargs="+", help=f"only these models of {list(experiment.models)}")
    a("--sizes", type=int, nargs="+", help=f"only these sizes of {list(experiment.sizes)}")
    a("--dry-run", action="store_true",
      help="list the runs and what would happen to each (start, resume, skip); run nothing")
    a("--launcher", choices=LAUNCHERS, default="local", help="default: local")
    a("--debug", action="store_true", help="show full tracebacks")

    local = p.add_argument_group("local launcher")
    local.add_argument("--gpus", type=int, nargs="+", default=None,
                       help="ids of the GPUs to use (default: every visible GPU; the CPU when "
                            "there is none)")
    local.add_argument("--cpu", action="store_true",
                       help="run on the CPU even if there are GPUs; on a machine without one, "
                            "needed to train the paper profile (which otherwise stops with "
                            "an estimate of the time it would take)")
    local.add_argument("--jobs-per-gpu", type=int, default=1,
                       help="runs sharing one GPU (or the CPU) at a time (default 1)")

    add_slurm_options(p)
    return p


def add_slurm_options(p) -> None:
    slurm = p.add_argument_group("Slurm launcher (submitit; one job per run)")
    slurm.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's)")
    slurm.add_argument("--time", type=int, default=24 * 60,
                       help="time limit of each job in minutes; a run that needs longer is "
                            "requeued and resumes (default 1440); the job is warned "
                            "min(2 min, a quarter of it) before the end")
    slurm.add_argument("--max-timeouts", type=int, default=SLURM_MAX_TIMEOUTS,
                       help="times a run may reach the time limit and be requeued before it "
                            f"counts as failed (default {SLURM_MAX_TIMEOUTS}; preemptions do "
                            "not count)")
    slurm.add_argument("--poll-s", type=float, default=30,
                       help="seconds between two looks at the jobs' states (squeue) while "
                            "following them (default 30)")
    slurm.add_argument("--gpus-per-job", type=int, default=1, help="0 runs on the CPU (default 1)")
    slurm.add_argument("--cpus-per-task", type=int, default=4)
    slurm.add_argument("--mem", type=float, default=16, help="memory per job in GB (default 16)")
    slurm.add_argument("--no-wait", action="store_true",
                       help="submit and return, instead of following the jobs to a summary")
    slurm.add_argument("--submitit-cluster", choices=("slurm", "local"), default="slurm",
                       help="local: run the jobs on this machine through submitit's local "
                            "executor, to try the Slurm path without a cluster")


def parse_args(parser: argparse.ArgumentParser, argv):
    """Options, and the arguments after `--` that go to every launched script."""
    argv = list(argv)
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    return parser.parse_args(argv), extra


def base_folder_of(experiment: grid.Experiment, args) -> Path:
    folder = args.base_folder or experiment.base_folder(args.profile)
    return Path(folder).expanduser().resolve()


def select(experiment: grid.Experiment, args, base_folder: Path) -> list:
    return runs.select_runs(experiment, args.profile, seeds=args.seeds, models=args.models,
                            sizes=args.sizes, base_folder=base_folder)


def train(experiment: grid.Experiment):
    """main(argv) of exe_train_<exp>.py: train (start, resume or skip) every run."""
    def main(argv) -> int:
        parser = build_parser(experiment, f"Train the runs of {experiment.name} "
                                          "(docs/reference.md §3), each a subprocess of "
                                          "run_training.py.")
        args, extra = parse_args(parser, argv)
        base_folder = base_folder_of(experiment, args)
        runs = select(experiment, args, base_folder)
        print(f"{experiment.name} ({args.profile}): {counted(len(runs), 'run')} in "
              f"{base_folder / rf.EXP_DATA}", flush=True)
        from datasets import catalog

        if args.dry_run:
            print(needs.data_set_line(experiment.dataset))
        planned = jobs.training_jobs(runs, base_folder / rf.LOGS)
        guarded = paper_on_cpu(args)
        if guarded and not args.dry_run:
            cpu_guard.refuse_paper_on_cpu(planned, extra, args.jobs_per_gpu)
        # Download once, here (a cluster's login node has the network its jobs may lack),
        # rather than in every parallel run.
        code = launch(planned, args, extra, "run",
                      prepare=catalog.data_set(experiment.dataset).ensure)
        if guarded and any(j.action != jobs.SKIP for j in planned):
            print(f"{cpu_guard.estimate_line(planned, extra, args.jobs_per_gpu)}; without a "
                  "GPU the paper profile needs --cpu (or try --profile smoke)")
        return code
    return main


def paper_on_cpu(args) -> bool:
    """Whether this launch would train the paper profile on a CPU without being asked to
    (no GPU visible, no --cpu): experiments.launching.cpu_guard then stops it."""
    from experiments.launching.local_pool import local_slots, visible_gpus

    if args.launcher != "local":
        return False
    local_slots(args.gpus, args.cpu, args.jobs_per_gpu)   # the options' own errors first
    return args.profile == "paper" and not args.cpu and not visible_gpus()


def robustness_tests(experiment: grid.Experiment, test: suite.RobustnessTest):
    """main(argv) of exe_<exp>_<test>_tests.py: with --run-predictions, compute the test's
    predictions of every finished run that has none (a job per run); then evaluate the
    predictions that exist, even when a job failed (the others' tables count)."""
    def main(argv) -> int:
        parser = build_parser(experiment, f"{test.title} of {experiment.name}: evaluate the "
                                          f"{test.files} in {test.output_folder}/, computing "
                                          "them first with --run-predictions.")
        parser.add_argument("--run-predictions", action="store_true",
                            help="compute the predictions of every finished run that has none "
                                 f"(each a subprocess of {test.script})")
        test.add_options(parser)
        # Not an option: the data set of the experiment's runs, for the test's hooks.
        parser.set_defaults(dataset=experiment.dataset)
        args, extra = parse_args(parser, argv)
        if not args.run_predictions:
            refuse_unused(parser, args, extra, test.evaluated_options)
        base_folder = base_folder_of(experiment, args)
        code = 0
        if args.run_predictions and args.dry_run:
            for line in [needs.data_set_line(experiment.dataset), *test.data_needs(args)]:
                print(line)
        if args.run_predictions:
            code = run_predictions(experiment, test.kind(args), args, extra, base_folder,
                                   prepare=lambda: test.prepare(args))
            if args.launcher == "slurm" and args.no_wait and not args.dry_run:
                print("the predictions are computed in Slurm jobs; once they are done, run "
                      "this again without --run-predictions to evaluate them")
                return code
        if args.dry_run:
            return code
        evaluated = test.evaluate(experiment.evaluated_grid(args.profile, base_folder),
                                  base_folder, args)
        return code or evaluated
    return main


# What an exe robustness script uses without --run-predictions: the evaluation reads
# every run's files of the profile's folder as they are.
EVALUATION_OPTIONS = ("help", "profile", "base_folder", "debug", "run_predictions")


def refuse_unused(parser: argparse.ArgumentParser, args, extra, evaluated=()) -> None:
    """Refuse the options given that only act on --run-predictions (selecting runs,
    launching, the test's settings): ignoring them would evaluate something else than
    was asked for without a word. `evaluated`: the test's options its evaluation uses."""
    kept = set(EVALUATION_OPTIONS) | set(evaluated)
    given = [action.option_strings[0] for action in parser._actions
             if action.dest not in kept and getattr(args, action.dest, None) != action.default]
    given += ["-- " + " ".join(extra)] if extra else []
    if given:
        raise UserError(f"{', '.join(given)} only act on the predictions (the evaluation reads "
                        "every run's files as they are): add --run-predictions, or leave "
                        f"{'it' if len(given) == 1 else 'them'} out")


def evaluate(experiment: grid.Experiment, evaluate_grid, description: str):
    """main(argv) of exe_eval_<exp>.py: `evaluate_grid(grid, base folder, profile=...)`
    over the runs of the profile's base folder (--profile, --base_folder)."""
    def main(argv) -> int:
        parser = ArgumentParser(description=description)
        parser.add_argument("--profile", choices=grid.PROFILES, default="paper",
                            help="which base folder to evaluate (default: paper)")
        parser.add_argument("--base_folder", type=Path, default=None,
                            help="evaluate this folder instead of the profile's "
                                 f"(default: {experiment.base_folder('paper')})")
        parser.add_argument("--debug", action="store_true", help="show full tracebacks")
        args = parser.parse_args(argv)
        base_folder = args.base_folder or experiment.base_folder(args.profile)
        return evaluate_grid(experiment.evaluated_grid(args.profile, base_folder),
                             base_folder, profile=args.profile)
    return main


def run_predictions(experiment, kind, args, extra, base_folder: Path, prepare=None) -> int:
    """--run-predictions of any prediction kind: a job per finished run of the
    selection; with nothing trained, one line saying where no model.pt was found."""
    runs = select(experiment, args, base_folder)
    planned = jobs.prediction_jobs(kind, runs, base_folder, base_folder / rf.LOGS)
    if jobs.untrained(planned) and not args.dry_run:
        raise UserError(
            f"no trained model.pt in the {counted(len(runs), 'run folder')} under "
            f"{base_folder / rf.EXP_DATA} (e.g. {runs[0].folder / rf.MODEL_FILE}); train "
            f"them first: {grid.command(experiment, 'train', args.profile, base_folder)}")
    if not args.dry_run:
        # Said before anything starts: which existing files are replaced, and why.
        for job in planned:
            if job.note.startswith("recompute"):
                print(f"  {job.name}: {job.note}", flush=True)
    return launch(planned, args, extra, "prediction", prepare=prepare)
