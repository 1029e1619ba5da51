"""Writing what the evaluations produce: markdown tables, figures (PNG and PDF), report.md.

Each evaluation owns one section file in the base folder B — results.md
(experiments.evaluation), jpeg_results.md and jpeg_results_rgb.md (experiments.jpeg_eval,
one per JPEG protocol) — and after
writing it calls `write_report`, which rebuilds B/report.md from whichever section files
exist. So the two never overwrite each other's part, and either may run first or alone.
Image links in the sections are relative to B, where report.md lives too.
"""
import io
import math
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import atomic_files

IMAGES = "images"                                   # B/images: plots and LaTeX tables
# The section files, in the order report.md shows them.
SECTION_FILES = ("results.md", "jpeg_results.md", "jpeg_results_rgb.md")
REPORT_FILE = "report.md"

# One colour per model across every plot of the project (matplotlib's tab10 order):
# Min-Nets in blue, their baselines in orange.
MODEL_COLOURS = {
    "CifarMinFP-LS": "tab:blue", "CifarDenseMin": "tab:blue",
    "CifarPyrResNet": "tab:orange", "CifarDenseNet": "tab:orange",
    "CifarResNet": "tab:green", "CifarMinFP-LS-RNBasic": "tab:purple",
}


def number(value, digits: int) -> str:
    """A fixed-point number, or an en dash for a missing value (NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def mean_std(mean, std, digits: int = 3) -> str:
    """'8.048 ± 0.216'; just the mean when there is no spread to show (one run)."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return number(mean, digits)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table of a frame whose cells are already formatted as text."""
    def row(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    lines = [row(df.columns), row(["---"] * len(df.columns))]
    lines += [row(values) for values in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def new_figure(ncols: int = 1, width: float = 5.0, height: float = 3.8):
    """A figure drawn by the Agg canvas (no pyplot: no global state, no display needed)."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def save_figure(fig: Figure, stem: Path) -> list:
    """Write `stem`.png and `stem`.pdf atomically; returns the two paths."""
    paths = []
    for fmt in ("png", "pdf"):
        buffer = io.BytesIO()
        # No creation date in the PDF, so an unchanged plot gives an unchanged file.
        metadata = {"CreationDate": None} if fmt == "pdf" else {}
        fig.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
        path = stem.with_suffix(f".{fmt}")
        atomic_files.write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def image_link(base_folder: Path, png: Path, caption: str) -> str:
    return f"![{caption}]({Path(png).relative_to(base_folder).as_posix()})\n"


def write_section(base_folder: Path, section_file: str, text: str, experiment_name: str) -> Path:
    """Write one evaluation's section file, then rebuild report.md from all sections."""
    assert section_file in SECTION_FILES, section_file
    atomic_files.write_text(Path(base_folder) / section_file, text)
    return write_report(base_folder, experiment_name)


def write_report(base_folder: Path, experiment_name: str) -> Path:
    base_folder = Path(base_folder)
    sections = [base_folder / name for name in SECTION_FILES if (base_folder / name).is_file()]
    parts = [f"# {experiment_name}: report\n\n"
             f"Assembled from {', '.join(p.name for p in sections)} in this folder; each is "
             "rewritten by its evaluation script, and this file with it.\n"]
    parts += ["\n" + p.read_text().strip() + "\n" for p in sections]
    path = base_folder / REPORT_FILE
    atomic_files.write_text(path, "".join(parts))
    return path
