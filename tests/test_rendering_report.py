"""experiments/rendering/report.py: report.md with every evaluation's section, the counts in
words, and one consistent set of files after a failed write.
"""

import pandas as pd
import pytest

import atomic_files
from experiments.evaluating import test_error as ev
from experiments.grid import EXP_10
from experiments.rendering import report
from paper_runs import PAPER_EXP_10, write_authors_run, write_paper_runs


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
    assert report.index("## Test error on CIFAR-10") < report.index("JPEG PART")
    assert "![test error against parameters](images/error_vs_params.png)" in report
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files


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
