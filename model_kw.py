"""The authors' model_kw format, 'q: 2;k: 3;N: 3;' (docs/reference.md §4): its one reader
and writer. Kept apart from models/ so that the launchers, which only write run options,
start without importing PyTorch (seconds per launch on a small CPU).
"""
from errors import UserError

_LITERALS = {"True": True, "False": False, "None": None}


def parse_model_kw(text) -> dict:
    """'q: 2;k: 3;N: 3;' -> {'q': ['2'], 'k': ['3'], 'N': ['3']}.

    As the authors read it: `key: v1 v2;` pairs, values split at whitespace and kept as
    strings, except True, False and None. Also used for opt_kw ('nesterov: True;').
    """
    if text is None:
        return {}
    if not isinstance(text, str):
        raise UserError(f"model_kw must be a string like 'q: 2;k: 3;N: 3;', got {text!r}")
    parsed = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        key, colon, values = item.partition(":")
        if not colon or not key.strip():
            raise UserError(f"cannot read {item.strip()!r} in {text!r}: write options as "
                            "'key: value;' pairs, e.g. 'q: 2;k: 3;N: 3;'")
        parsed[key.strip()] = [_LITERALS.get(v, v) for v in values.split()]
    return parsed


def format_model_kw(model_kw: dict) -> str:
    """{'q': 2, 'N': [3]} -> 'q: 2;N: 3;' (lists become space-separated values)."""
    items = []
    for key, value in model_kw.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        items.append(f"{key}: {' '.join(str(v) for v in values)};")
    return "".join(items)
