"""CPU time of the processes the launchers start, with and without run_main's `preload`
(torch imported with the garbage collector paused, then frozen), in the same run.

    python benchmarks/bench_startup.py               # 5 of each, alternating
    python benchmarks/bench_startup.py --repeats 10

Two kinds of process, each started as the scripts start (a fresh interpreter calling
errors.run_main): one that imports torch and ends (what a per-run prediction script
costs before it predicts), and a short real training by run_training.main (2 epochs of
a ResNet N=1 on 256 generated images, one thread). Prints the mean user + system
CPU-seconds of each variant and their ratio. Asserts nothing.
"""
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

from errors import ArgumentParser, run_main  # noqa: E402

PROCESS = """
import sys
sys.path.insert(0, {root!r})
from errors import run_main
{body}
sys.exit(run_main(main, {argv!r}, preload={preload!r}))
"""
IMPORT_ONLY = "def main(argv):\n    import torch\n    return 0"
TRAINING = "from run_training import main"


def cpu_seconds(code: str, env: dict) -> float:
    """User + system CPU-seconds of one `python -c code`; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"the benchmark's process failed:\n{done.stderr}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv) -> int:
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="processes of each variant")
    args = p.parse_args(argv)
    from datasets.cifar10 import synthetic_cifar10, write_cifar10_batches

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_cifar10_batches(data, *synthetic_cifar10(n_train=256, n_test=100, seed=0))
        env = dict(os.environ, DATA_FOLDER=str(data), OMP_NUM_THREADS="1")
        training = ["--model_type", "CifarResNet", "--model_kw", "q: 2;k: 3;N: 1;",
                    "--epochs", "2", "--bs", "64", "--device", "cpu", "--num_threads", "1"]
        print(f"{'process':<34s} {'plain':>8s} {'preload':>8s} {'ratio':>6s}  (CPU-s, mean "
              f"of {args.repeats})")
        for label, body, options in (("import torch, end", IMPORT_ONLY, []),
                                     ("train 2 epochs on 256 images", TRAINING, training)):
            times = {(): [], ("torch",): []}
            for i in range(args.repeats):
                for preload in times:        # alternating: a drift of the machine hits both
                    folder = ["--folder", str(Path(tmp) / f"run_{len(preload)}_{i}")]
                    code = PROCESS.format(root=str(REPO_ROOT), body=body,
                                          argv=options + folder * bool(options),
                                          preload=list(preload))
                    times[preload].append(cpu_seconds(code, env))
            plain, frozen = (sum(t) / len(t) for t in times.values())
            print(f"{label:<34s} {plain:8.2f} {frozen:8.2f} {plain / frozen:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
