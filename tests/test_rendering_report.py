"""experiments/rendering/report.py: report.md with every evaluation's section, the counts in
words, and one consistent set of files after a failed write.
"""

import os
import subprocess
import sys

import pandas as pd
import pytest

import atomic_files
from datasets import cifar10c
from experiments import robustness_suite as suite
from experiments.evaluating import corruptions as corruption_eval
from experiments.evaluating import test_error as ev
from experiments.grid import EXP_10
from experiments.rendering import report
from paper_runs import PAPER_EXP_10, write_authors_run, write_paper_runs
from robustness import corruptions
from robustness_runs import GRID, REPO_ROOT, finished_run, in_namespace, labels_of


def test_the_summary_counts_in_the_singular_and_the_plural():
    assert report.counted(1, "run") == "1 run"
    assert report.counted(2, "run") == "2 runs"
    assert report.counted(1, "prediction") == "1 prediction"
    assert report.counted(0, "prediction") == "0 predictions"


def test_report_keeps_the_other_section(tmp_path):
    write_paper_runs(tmp_path, EXP_10, {9: PAPER_EXP_10[9]})
    (tmp_path / "jpeg_results.md").write_text("## Robustness to JPEG compression\n\nJPEG PART\n")
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# exp_10: report")
    # The authors' runs recorded no data: not headed "on CIFAR-10", and said so.
    assert report.index("## Test error\n") < report.index("JPEG PART")
    assert "Trained and tested on: not recorded (opt.json from before data records" in report
    assert "![test error against parameters](images/error_vs_params.png)" in report
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files
    # The tests without a section are named last, each with its command; JPEG's ran.
    not_run = report[report.index("## Tests not run"):]
    assert report.index("JPEG PART") < report.index("## Tests not run")
    for test in (suite.CORRUPTIONS, suite.ADVERSARIAL):
        line = f"- {test.title}: `{test.prediction_command(EXP_10, 'paper', tmp_path)}`"
        assert line in not_run.splitlines()
    assert "JPEG" not in not_run


def test_a_report_with_every_test_names_none_as_not_run(tmp_path):
    write_paper_runs(tmp_path, EXP_10, {9: PAPER_EXP_10[9]})
    for test in suite.TESTS:
        (tmp_path / test.sections[0]).write_text(f"## {test.name}\n", encoding="utf-8")
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    assert "Tests not run" not in (tmp_path / "report.md").read_text()


def test_a_failed_write_leaves_no_mix_of_old_and_new(tmp_path, monkeypatch):
    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    (tmp_path / "jpeg_results.md").write_text("## Robustness to JPEG compression\n\nJPEG PART\n",
                                              encoding="utf-8")
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    stale = tmp_path / "images" / ".error_vs_params.pdf.x1y2.tmp"   # a killed earlier write
    stale.write_bytes(b"half a pdf")
    write_authors_run(tmp_path, EXP_10, "CifarPyrResNet", 5, 9, 7.0)  # an 11th run

    real_write, written = atomic_files.write_bytes, []

    def full_disk_after_two(path, data):   # the third write fails, the later ones work
        if len(written) == 2:
            written.append(None)
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        real_write(path, data)

    monkeypatch.setattr(atomic_files, "write_bytes", full_disk_after_two)
    with pytest.raises(OSError):
        ev.evaluate_experiment(EXP_10, tmp_path)
    monkeypatch.undo()

    # Nothing of this evaluation is left, old or new; report.md shows the other section only.
    for name in ("results.csv", "grouped_results.csv", "results.md",
                 "images/error_vs_params.png", "images/error_vs_params.pdf"):
        assert not (tmp_path / name).exists(), name
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "JPEG PART" in report and "10 of the grid's" not in report
    assert not list(tmp_path.rglob("*.tmp"))

    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    assert len(pd.read_csv(tmp_path / "results.csv")) == 11
    assert "11 of the grid's 40 runs" in (tmp_path / "report.md").read_text(encoding="utf-8")


# ------------------------------------------ what a robustness file records (issue 23)

def test_a_live_writers_temporary_file_is_never_removed(tmp_path):
    host = atomic_files._host()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    live = tmp_path / f".{corruption_eval.CSV_FILE}.{host}-{os.getpid()}.abc.tmp"
    stale = tmp_path / f".{corruption_eval.CSV_FILE}.{host}-{dead}.abc.tmp"
    for path in (live, stale):
        path.write_bytes(b"half")
    outputs = report.Outputs(section="corruption_results.md", owned=corruption_eval.OWNED,
                             text="section")
    outputs.add_text(corruption_eval.CSV_FILE, "a,b\n")
    assert report.publish(outputs, tmp_path, "exp_10", suite.REPORT_SECTIONS) == 0
    assert live.exists() and not stale.exists()
    assert (tmp_path / corruption_eval.CSV_FILE).read_text() == "a,b\n"


@pytest.mark.slow
def test_two_corruption_evaluations_of_one_folder_at_once(tmp_path):
    for model_type, size, seed in GRID.points():
        name = GRID.run_name(model_type, size, seed)
        finished_run(tmp_path, name)
        corruptions.write_predictions(corruptions.output_file(tmp_path, name), 4, labels_of(4),
                                      {c: labels_of(4) for c in cifar10c.BENCHMARK_CORRUPTIONS})
    command = [sys.executable, "experiments/exp_10/exe_exp10_corruption_tests.py",
               "--base_folder", str(tmp_path)]
    env = dict(os.environ, MPLBACKEND="Agg")
    both = [subprocess.Popen(command, cwd=REPO_ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for process in both:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
    for name in (corruption_eval.CSV_FILE, corruption_eval.SECTION_FILE, "report.md",
                 "images/corruption_severity_N3.png", "images/corruption_difference.pdf"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.slow
def test_a_full_disk_during_an_evaluation_says_what_is_gone(tmp_path):
    base = tmp_path / "small"
    base.mkdir()
    script_text = (
        "import sys; sys.path.insert(0, '.'); from experiments.rendering import report; "
        "from errors import run_main; "
        "o = report.Outputs(section='corruption_results.md', owned=('corruption_results.csv',),"
        " text='s'); o.add_text('corruption_results.csv', 'x' * 400000); "
        f"sys.exit(run_main(lambda argv: report.publish(o, __import__('pathlib').Path('{base}'),"
        " 'exp_10', ('corruption_results.md',))))")
    (tmp_path / "publish.py").write_text(script_text)
    (base / "corruption_results.md").write_text("old section")
    done = in_namespace(f"echo old > {base}/corruption_results.md && "
                        f"{sys.executable} {tmp_path / 'publish.py'}",
                        f"mount -t tmpfs -o size=64k none {base}")
    assert done.returncode == 2, done.stdout + done.stderr
    line, = done.stderr.strip().splitlines()
    assert "no space left" in line and "previous version" not in line
    assert "previous files (corruption_results.md" in line and "gone" in line


def test_a_figures_pdf_has_the_layout_of_its_png():
    """figure_bytes solves the constrained layout once, for the PNG, and the PDF keeps it:
    the axes stand where a PNG saved on its own puts them, and both files have the
    figure's size."""
    import io

    from PIL import Image

    def drawn():
        fig, axes = report.new_figure(ncols=2, note="a smoke note")
        for ax in axes:
            ax.plot([1, 2, 3], [10, 30, 20], label="a long legend entry")
            ax.set_xlabel("JPEG quality")
            ax.legend()
        return fig

    alone = drawn()
    png_only = io.BytesIO()
    alone.savefig(png_only, format="png", dpi=150)
    fig = drawn()
    files = report.figure_bytes(fig)
    assert files["png"] == png_only.getvalue()
    # After the PDF too, the axes are where the PNG's layout put them (solved again for
    # the PDF's renderer, they move by a few thousandths).
    assert [ax.get_position().bounds for ax in fig.axes] == \
        [ax.get_position().bounds for ax in alone.axes]
    width, height = fig.get_size_inches()
    assert Image.open(io.BytesIO(files["png"])).size == (round(width * 150), round(height * 150))
    # The PDF's page is the figure, in points.
    box = [float(v) for v in
           files["pdf"].split(b"/MediaBox [")[1].split(b"]")[0].split()]
    assert box == pytest.approx([0, 0, width * 72, height * 72])
