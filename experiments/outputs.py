"""The write phase of an evaluation: all of its files, or none of its old ones.

An evaluation computes everything in memory first (tables, markdown, figures as bytes)
into an `Outputs`. `publish` then
  1. removes report.md, so that no reader takes old tables for current ones while the
     files change;
  2. removes this evaluation's previous outputs (every pattern it owns) and the
     temporary files a killed write of them left behind;
  3. writes each new file atomically, its section file last but one;
  4. rebuilds report.md last.
A kill at any moment leaves a subset of the new files and no old ones, and no report.md
until the set is complete; a failure (a full disk) removes what was written and rebuilds
report.md from the other evaluations' sections, then raises.
"""
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import atomic_files
from experiments import report


@dataclass
class Outputs:
    """One evaluation's files, relative to the base folder, as bytes."""
    section: str                                  # its section file (report.SECTION_FILES)
    owned: tuple                                  # glob patterns of everything it writes
    files: dict = field(default_factory=dict)     # relative path -> bytes

    def add_text(self, relative: str, text: str) -> str:
        self.files[relative] = text.encode("utf-8")
        return relative

    def add_figure(self, stem: str, fig) -> str:
        """Add `stem`.png and `stem`.pdf; returns the PNG's relative path."""
        for fmt, data in report.figure_bytes(fig).items():
            self.files[f"{stem}.{fmt}"] = data
        return f"{stem}.png"


def remove_owned(base_folder: Path, patterns) -> None:
    """Delete the files matching `patterns` and their stale temporary files."""
    for pattern in patterns:
        folder, name = (base_folder / pattern).parent, Path(pattern).name
        for path in list(folder.glob(name)) + list(folder.glob(f".{name}.*.tmp")):
            if path.is_file():
                path.unlink(missing_ok=True)


def publish(outputs: Outputs, base_folder: Path, section_text: str, experiment_name: str,
            note: str = "") -> Path:
    """Replace the evaluation's previous files by `outputs` (module docstring); returns
    report.md's path."""
    base_folder = Path(base_folder)
    (base_folder / report.REPORT_FILE).unlink(missing_ok=True)
    remove_owned(base_folder, (report.REPORT_FILE,))     # a killed rebuild's temporary file
    remove_owned(base_folder, outputs.owned + (outputs.section,))
    try:
        for relative, data in outputs.files.items():
            atomic_files.write_bytes(base_folder / relative, data)
        atomic_files.write_text(base_folder / outputs.section, section_text)
    except BaseException:
        remove_owned(base_folder, tuple(outputs.files) + (outputs.section,))
        with contextlib.suppress(Exception):  # the failure itself is what the user sees
            report.write_report(base_folder, experiment_name)
        raise
    return report.write_report(base_folder, experiment_name, note)
