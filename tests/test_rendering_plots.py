"""experiments/rendering/plots.py: what the error-curve plot draws.
"""


from experiments.rendering import plots


def test_the_plot_draws_the_authors_extreme_runs_and_marks_short_curves():
    """Lowest and highest mean over the last 10 epochs, not the last epoch: seed 2 ends
    lowest but has the highest mean. One epoch: points with markers."""
    long = [[5.0] * 9 + [5.0], [6.0] * 9 + [4.0], [4.0] * 10]
    labels = plots.extreme_labels(3, 2)
    fig = plots.error_curves([], long, {labels[0]: (None, long[2]), labels[1]: (None, long[1])},
                             None, "t")
    test_panel = fig.axes[1]
    drawn = {line.get_label() for line in test_panel.lines}
    assert "min run (seed 3): lowest mean test error over the last 10 epochs" in drawn
    assert all(line.get_marker() == "o" for line in test_panel.lines)
    fig = plots.error_curves([[50.0]], [[80.0], [85.0]], {}, None, "smoke")
    assert [len(line.get_xdata()) for line in fig.axes[1].lines] == [1, 1]
    assert all(line.get_marker() == "o" for line in fig.axes[1].lines)
