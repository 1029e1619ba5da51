"""precision.py: the decimals an error supports, from the number of images it counts."""
import pytest

from precision import digits_note, error_digits, error_text


@pytest.mark.parametrize("images, digits", [
    (4, 0), (32, 0), (100, 0),          # steps of 25 %, 3.125 %, 1 %: whole percents
    (101, 1), (200, 1), (1_000, 1),     # ... 0.5 %, 0.1 %: one decimal
    (1_001, 2), (5_000, 2), (10_000, 2), (50_000, 3)])
def test_an_error_shows_the_step_of_one_image(images, digits):
    assert error_digits(images) == digits
    assert error_digits(images, most=1) == min(digits, 1)


def test_error_text_and_the_note_under_a_table():
    assert error_text(12.3456, 1_000) == "12.3" and error_text(12.3456, 10_000) == "12.35"
    assert error_text(25.0, 4) == "25"
    assert digits_note(1_000, 1) == "Errors to 1 decimal: on 1,000 images one image is 0.1 %."
    assert digits_note(32, 0) == "Errors to whole percents: on 32 images one image is 3.12 %."


def test_the_paper_tables_keep_the_authors_format_on_their_test_set():
    from experiments.rendering import tables

    assert tables.paper_digits(10_000) == tables.DIGITS == 3       # docs/reference.md §6
    assert tables.paper_digits(1_000) == 1 and tables.paper_digits(5_000) == 2
