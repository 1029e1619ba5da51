"""How many decimals a test error supports.

An error in % counted on n images moves in steps of 100/n %: 1,000 test images give steps
of 0.1 % (one decimal), 10,000 of 0.01 % (two). Tables, plots and printed lines show an
error with the decimals of the images behind it, so that a smoke run's 1,000 images are
not printed as if they resolved 0.001 %. The tables that stand in for the authors' keep
the authors' format on their data (experiments.rendering.tables.error_digits).
"""
from errors import counted


def error_digits(images: int, most: int = None) -> int:
    """The decimals of an error (%) on `images` images: the fewest that show a step of
    one image (100/images %), and never more than `most`."""
    digits = 0
    while images > 100 * 10 ** digits:
        digits += 1
    return digits if most is None else min(digits, most)


def digits_note(images: int, digits: int) -> str:
    """The sentence under a table whose errors are shown to `digits` decimals because
    they were counted on `images` images."""
    shown = counted(digits, "decimal") if digits else "whole percents"
    return f"Errors to {shown}: on {images:,} images one image is {100 / images:.3g} %."


def error_text(value: float, images: int) -> str:
    """An error (%) on `images` images with the decimals they support: '12.3'."""
    return f"{value:.{error_digits(images)}f}"
