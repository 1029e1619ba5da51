"""Rendering what the evaluations show, and writing it: text cells, markdown tables,
figures as bytes, the smoke note, each evaluation's files as one set, and report.md.

Each evaluation owns its section file in the base folder B (results.md for the test
errors; each robustness test declares its own in experiments/robustness_suite.py).
report.md is rebuilt from whichever section files exist, in the declared order, so the
evaluations never overwrite each other's part and any may run first or alone. Image
links in the sections are relative to B, where report.md lives too.
"""
import contextlib
import io
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

# matplotlib is imported where a figure is drawn: the per-run scripts import this module
# for its text cells and start a second sooner without it.
import atomic_files
from errors import counted  # noqa: F401  (report.counted: the evaluations' one way to count)

IMAGES = "images"                                   # B/images: plots and LaTeX tables
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
    return fixed(value, digits)


def fixed(value: float, digits: int, sign: bool = False) -> str:
    """`value` to `digits` decimals ('+' in front with `sign`); a value that rounds to
    zero is shown as 0, never as -0."""
    value = 0.0 if round(value, digits) == 0 else value
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def mean_std(mean, std, digits: int = 3) -> str:
    """'8.048 ± 0.216'; just the mean when there is no spread to show (one run)."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return number(mean, digits)
    return f"{fixed(mean, digits)} ± {fixed(std, digits)}"


def listed(names, shown: int = 6) -> str:
    """The first names, and how many more."""
    names = list(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def markdown_table(df) -> str:
    """A GitHub markdown table of a frame whose cells are already formatted as text."""
    def row(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    lines = [row(df.columns), row(["---"] * len(df.columns))]
    lines += [row(values) for values in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def smoke_note(scope: dict) -> str:
    """What a short run's outputs are, for their headings, captions and plot titles;
    '' for runs trained as in the paper (scope: run_table.training_scope)."""
    if not scope["short"]:
        return ""
    epochs = "/".join(map(str, scope["epochs"])) or "?"
    unit = "epoch" if scope["epochs"] == [1] else "epochs"
    images = "/".join(f"{n:,}" for n in scope["images"])
    return (f"smoke run of {epochs} {unit} on {images} images -- a check of the flow, "
            "not the paper's numbers")


def new_figure(ncols: int = 1, width: float = 5.0, height: float = 3.8, note: str = ""):
    """A figure drawn by the Agg canvas (no pyplot: no global state, no display needed),
    titled with the smoke note when there is one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    if note:
        fig.suptitle(note, fontsize=9, color="tab:red")
    return fig, list(axes)


def figure_bytes(fig) -> dict:
    """{'png': bytes, 'pdf': bytes} of a figure, rendered in memory. The PDF keeps the
    layout computed for the PNG: the constrained layout is solved once, not at each save
    (it was a third of an evaluation's plotting time), and both files are laid out alike.
    Afterwards the figure's layout engine lays out nothing (matplotlib's placeholder
    engine): a later save keeps the axes where they are."""
    out = {}
    for fmt in ("png", "pdf"):
        buffer = io.BytesIO()
        # No creation date in the PDF, so an unchanged plot gives an unchanged file.
        metadata = {"CreationDate": None} if fmt == "pdf" else {}
        fig.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
        out[fmt] = buffer.getvalue()
        fig.set_layout_engine("none")   # keep the axes where the PNG's layout put them
    return out


def image_link(png: str, caption: str) -> str:
    """A markdown image; `png` relative to the base folder."""
    return f"![{caption}]({Path(png).as_posix()})\n"


def show(text: str) -> None:
    """Print to the terminal whatever its encoding: a character it cannot show (± on an
    ASCII terminal) is replaced instead of ending the evaluation."""
    encoding = sys.stdout.encoding or "utf-8"
    print(text.encode(encoding, "replace").decode(encoding), flush=True)


def banner(note: str) -> str:
    """The smoke note in bold as a section's first paragraph ('' without one): once per
    section, above its tables (each plot's title and LaTeX table's comment carry it too,
    since they are read on their own)."""
    return f"**{note[:1].upper()}{note[1:]}.**\n\n" if note else ""


def not_run_text(base_folder: Path, tests) -> str:
    """The closing section naming each test (title, its section files, its command) that
    has no section file in B; '' when every test has one."""
    # A command names B as the file system spells it: under an ASCII locale a non-ASCII
    # path holds escaped bytes, which are its UTF-8 spelling again here.
    lines = [f"- {title}: `{os.fsencode(command).decode('utf-8', 'replace')}`"
             for title, sections, command in tests
             if not any((base_folder / name).is_file() for name in sections)]
    if not lines:
        return ""
    return ("\n## Tests not run\n\nNo result files of these tests in this folder; each "
            "command runs one (and writes its section here):\n\n" + "\n".join(lines) + "\n")


def write_report(base_folder: Path, experiment_name: str, sections, note: str = "",
                 tests=()) -> Path:
    """Rebuild B/report.md from those of the section files `sections` (in their order)
    that exist, headed by `note`, and name the `tests` (title, section files, command)
    that were not run."""
    base_folder = Path(base_folder)
    found = [base_folder / name for name in sections if (base_folder / name).is_file()]
    parts = [f"# {experiment_name}: report\n\n", banner(note)]
    parts.append(f"Assembled from {', '.join(p.name for p in found) or 'no section'} in "
                 "this folder; each is rewritten by its evaluation script, and this file "
                 "with it.\n")
    parts += ["\n" + p.read_text(encoding="utf-8").strip() + "\n" for p in found]
    parts.append(not_run_text(base_folder, tests))
    path = base_folder / REPORT_FILE
    atomic_files.write_text(path, "".join(parts))
    return path


# --------------------------------------------------------- writing an evaluation's files
# The write phase of an evaluation: all of its files, or none of its old ones.
#
# An evaluation computes everything in memory first (tables, markdown, figures as bytes)
# into an `Outputs`. `publish` then
#   1. removes report.md, so that no reader takes old tables for current ones while the
#      files change;
#   2. removes this evaluation's previous outputs (every pattern it owns) and the
#      temporary files a killed write of them left behind;
#   3. writes each new file atomically, its section file last but one;
#   4. rebuilds report.md last, and prints what the evaluation has to say.
# A kill at any moment leaves a subset of the new files and no old ones, and no report.md
# until the set is complete; a failure (a full disk) removes what was written and rebuilds
# report.md from the other evaluations' sections, then raises.

@dataclass
class Outputs:
    """One evaluation's files, relative to the base folder, as bytes."""
    section: str                                  # its section file
    owned: tuple                                  # glob patterns of everything it writes
    note: str = ""                                # the smoke note (report.md's heading)
    text: str = ""                                # the section file's markdown
    files: dict = field(default_factory=dict)     # relative path -> bytes
    shown: list = field(default_factory=list)     # printed once the files are written

    def add_text(self, relative: str, text: str) -> str:
        self.files[relative] = text.encode("utf-8")
        return relative

    def add_figure(self, stem: str, fig) -> str:
        """Add `stem`.png and `stem`.pdf; returns the PNG's relative path."""
        for fmt, data in figure_bytes(fig).items():
            self.files[f"{stem}.{fmt}"] = data
        return f"{stem}.png"


def remove_owned(base_folder: Path, patterns) -> None:
    """Delete the files matching `patterns` and the temporary files of killed writes of
    them; a live writer's temporary file stays (atomic_files.written_now)."""
    for pattern in patterns:
        folder, name = (base_folder / pattern).parent, Path(pattern).name
        temps = [t for t in folder.glob(f".{name}.*.tmp") if not atomic_files.written_now(t)]
        for path in list(folder.glob(name)) + temps:
            if path.is_file():
                path.unlink(missing_ok=True)


class DiskFullDuringPublish(atomic_files.DiskFull):
    """A full disk while an evaluation replaced its files: says exactly what is left."""

    def __init__(self, path, section: str):
        super().__init__(path, f"this evaluation's previous files ({section} and its tables "
                               "and plots) had been removed first and are gone; the other "
                               f"evaluations' files are kept and {REPORT_FILE} was rebuilt "
                               "from them")


def publish(outputs: Outputs, base_folder: Path, experiment_name: str, sections,
            tests=()) -> int:
    """Replace the evaluation's previous files by `outputs` (above), rebuild report.md
    from `sections` (naming the `tests` not run: write_report) and print
    `outputs.shown`; returns 0, the evaluation's exit code.
    Holds the base folder's evaluation lock throughout; a folder it may not write in is
    one line naming it."""
    base_folder = Path(base_folder)
    # Evaluations of one base folder write one at a time: each holds a lock on B itself
    # while it replaces its files and rebuilds report.md; a second one waits, saying so.
    with atomic_files.locked_folder(base_folder, f"the evaluation files of {base_folder}"):
        try:
            _replace(outputs, base_folder, experiment_name, sections, tests)
        except OSError as error:
            if error.errno not in atomic_files.NOT_WRITABLE:
                raise
            raise atomic_files.NotWritable(base_folder, error) from None
    for line in outputs.shown:
        show(line)
    return 0


def _replace(outputs: Outputs, base_folder: Path, experiment_name: str, sections,
             tests) -> None:
    (base_folder / REPORT_FILE).unlink(missing_ok=True)
    remove_owned(base_folder, (REPORT_FILE,))     # a killed rebuild's temporary file
    remove_owned(base_folder, outputs.owned + (outputs.section,))
    try:
        for relative, data in outputs.files.items():
            atomic_files.write_bytes(base_folder / relative, data)
        atomic_files.write_text(base_folder / outputs.section, outputs.text)
    except BaseException as error:
        remove_owned(base_folder, tuple(outputs.files) + (outputs.section,))
        with contextlib.suppress(Exception):  # the failure itself is what the user sees
            write_report(base_folder, experiment_name, sections, tests=tests)
        if isinstance(error, atomic_files.DiskFull):
            raise DiskFullDuringPublish(error.path, outputs.section) from None
        raise
    try:
        write_report(base_folder, experiment_name, sections, outputs.note, tests)
    except atomic_files.DiskFull as error:
        raise atomic_files.DiskFull(error.path, f"the evaluation's files are written, but "
                                    f"{REPORT_FILE} is missing until it is rebuilt") from None
