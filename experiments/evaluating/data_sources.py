"""Which data made an evaluation's numbers, in words, for its CSV files and sections.

Each run records in opt.json the data it trained and was tested on (`data`:
datasets.identity.describe); each corruption prediction file records its CIFAR-10-C
folder in words (`data_source`: datasets.identity.describe_corruptions). Runs and files
from before these records (the authors' published runs among them) are "not recorded",
and a section is headed "on CIFAR-10" only when every run recorded the official files.
"""
from datasets.identity import STAND_IN, is_official
from experiments.rendering.report import listed

NOT_RECORDED_FILE = "not recorded (a file from before data records)"


def training_data(opt: dict) -> str:
    """What a run trained and was tested on, from its opt.json."""
    record = opt.get("data")
    if isinstance(record, dict) and isinstance(record.get("text"), str):
        return record["text"]
    return (f"not recorded (opt.json from before data records; it names dataset "
            f"{opt.get('dataset', 'none')})")


def all_official(opts, dataset: str = "cifar_10") -> bool:
    """Whether every run's opt.json records the official CIFAR-10 (`dataset`'s) files."""
    opts = list(opts)
    return bool(opts) and all(is_official(opt.get("data"), dataset) for opt in opts)


def is_stand_in(text: str) -> bool:
    return text.startswith(STAND_IN)


def data_line(label: str, texts: dict) -> str:
    """'Data: <text>.' when every run has the same; else each text with its runs.
    `texts`: run name -> text."""
    runs_of = {}
    for name, text in texts.items():
        runs_of.setdefault(text, []).append(name)
    if len(runs_of) == 1:
        return f"{label}: {next(iter(runs_of))}."
    return f"{label}: " + "; ".join(f"{text} ({listed(names)})"
                                    for text, names in runs_of.items()) + "."
