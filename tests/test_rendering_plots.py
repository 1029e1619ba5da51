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


def jpeg_runs(seeds_per_model: dict):
    """Per-run rows of jpeg_results.csv for N = 3 (errors rising with compression)."""
    import pandas as pd

    from datasets.jpeg import QUALITIES
    from experiments.evaluating import jpeg

    rows = []
    for model_type, seeds in seeds_per_model.items():
        for seed in seeds:
            row = dict(model_type=model_type, size=3, seed=seed, er_orig=10.0 + seed)
            row.update({jpeg.error_column(q): 10.0 + seed + (100 - q) / 2 for q in QUALITIES})
            row.update({jpeg.pocp_column(q): (100 - q) / 3 + seed for q in QUALITIES})
            rows.append(row)
    columns = dict(er=["er_orig"] + [jpeg.error_column(q) for q in QUALITIES],
                   pocp=[jpeg.pocp_column(q) for q in QUALITIES])
    return pd.DataFrame(rows), columns


def test_a_single_seed_jpeg_plot_says_one_seed_and_draws_no_band():
    from datasets.jpeg import QUALITIES
    from experiments.grid import EXP_10

    runs, columns = jpeg_runs({"CifarMinFP-LS": [1], "CifarPyrResNet": [1]})
    fig = plots.jpeg_size(runs, EXP_10, 3, QUALITIES, columns)
    for ax in fig.axes:
        assert ax.get_title() == "exp_10, N=3: one seed per model"
        assert not ax.collections                                  # no min–max band
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            "Min-Net (one seed)", "ResNet (one seed)"]
    runs, columns = jpeg_runs({"CifarMinFP-LS": [1, 2, 3], "CifarPyrResNet": [1]})
    ax = plots.jpeg_size(runs, EXP_10, 3, QUALITIES, columns).axes[0]
    assert ax.get_title() == "exp_10, N=3: band = min–max over seeds"
    assert len(ax.collections) == 1                                # the Min-Net's band only
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Min-Net (mean of 3)", "ResNet (one seed)"]


def test_the_pocp_plot_labels_the_qualities():
    from datasets.jpeg import QUALITIES
    from experiments.evaluating import jpeg
    from experiments.grid import EXP_10

    runs, columns = jpeg_runs({"CifarMinFP-LS": [1, 2], "CifarPyrResNet": [1, 2]})
    means = jpeg.mean_over_seeds(runs.assign(last_val_er=10.0), EXP_10)
    ax = plots.pocp_vs_error(means, EXP_10, QUALITIES, columns["er"][1:], columns["pocp"]).axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert labels == [str(q) for q in QUALITIES] * 2               # along one line per model
    first = ax.lines[0]
    assert [t.xy for t in ax.texts[:len(QUALITIES)]] == list(zip(first.get_xdata(),
                                                                  first.get_ydata()))


def test_the_error_plot_of_one_seed_per_model_says_so():
    import pandas as pd

    from experiments.evaluating.seed_statistics import summarize
    from experiments.grid import EXP_10

    def table(seeds):
        return pd.DataFrame([dict(name=f"{m}_{s}", model_type=m, model=m, size=3, seed=s,
                                  num_params=6e4, min_val_er=9.0 + s, last_val_er=10.0 + s)
                             for m in EXP_10.models for s in seeds])

    for seeds, spread in (([1], "one seed per model"), ([1, 2], "mean ± std over seeds")):
        runs = table(seeds)
        fig = plots.error_vs_params(runs, summarize(runs), EXP_10)
        assert [ax.get_title() for ax in fig.axes] == [
            f"exp_10: last test error, {spread}", f"exp_10: minimum test error, {spread}"]
