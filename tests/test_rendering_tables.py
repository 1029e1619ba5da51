"""experiments/rendering/tables.py: numbers rounded as the authors' tables round them.
"""


from experiments.rendering import tables


def test_a_tie_rounds_half_to_even_as_the_authors():
    assert f"{20.05:.1f}" == "20.1"                     # what '%.1f' would print
    assert tables.authors_number(20.05, 1) == "20.0"
    assert tables.authors_number(0.25, 1) == "0.2" and tables.authors_number(0.35, 1) == "0.4"


def test_an_empty_welch_interval_says_why():
    import pandas as pd

    from experiments.evaluating.seed_statistics import welch_interval
    from experiments.grid import EXP_10

    one = welch_interval([8.0], [8.5])
    two = welch_interval([8.0, 8.2], [8.5, 8.9])
    cells = tables.differences_table(pd.DataFrame([dict(one, size=3), dict(two, size=5)]),
                                     EXP_10, "Min-Net − ResNet")
    assert cells["95% CI (Welch)"].tolist()[0] == "– (one seed)"
    assert cells["95% CI (Welch)"].tolist()[1].startswith("[")
    assert tables.interval_text(one) == "-0.50 (no interval: one seed)"
    assert tables.interval_text(welch_interval([8.0, 8.2], [8.5])) == \
        "-0.40 (no interval: one seed)"


def test_a_value_that_rounds_to_zero_is_never_minus_zero():
    from experiments.rendering import report

    assert report.number(-0.4, 0) == "0" and report.number(-0.0004, 3) == "0.000"
    assert report.fixed(-0.4, 0, sign=True) == "+0" and report.fixed(-0.6, 0, sign=True) == "-1"
    row = dict(difference=-0.3, ci_low=-2.2, ci_high=1.6, n_a=3, n_b=3)
    assert tables.interval_text(row, 0) == "+0 [-2, +2]"
