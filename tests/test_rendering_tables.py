"""experiments/rendering/tables.py: numbers rounded as the authors' tables round them.
"""


from experiments.rendering import tables


def test_a_tie_rounds_half_to_even_as_the_authors():
    assert f"{20.05:.1f}" == "20.1"                     # what '%.1f' would print
    assert tables.authors_number(20.05, 1) == "20.0"
    assert tables.authors_number(0.25, 1) == "0.2" and tables.authors_number(0.35, 1) == "0.4"
