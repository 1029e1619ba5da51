"""run_adversarial_test.py: results of other settings side by side, finite positive --eps,
two attacks of one run at once (main(argv) in this process, or two processes where they
must run at once)."""
import pytest

from errors import run_main
from experiments import cli, grid
from experiments import robustness_suite as suite
from robustness import adversarial
from robustness.adversarial import AttackSettings
from robustness_runs import APGD, attack, one_error_line, script, trained_run
from run_folder import EXP_DATA

# ------------------------------------------ what a robustness file records (issue 23)

def test_attacks_with_other_images_or_seed_live_beside_each_other(data, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    settings = [AttackSettings(n_images=4, **APGD), AttackSettings(n_images=3, **APGD),
                AttackSettings(n_images=3, seed=1, **APGD)]
    outputs = [adversarial.output_file(base, run.name, s) for s in settings]
    assert len(set(outputs)) == 3
    for s in settings:
        assert attack(run, base, "--eps", "1", "--n-images", str(s.n_images),
                      "--attack-seed", str(s.seed)) == 0
    for s, output in zip(settings, outputs):
        assert adversarial.read_results(output)["settings"] == s
    # The record names the attacked images' data set (datasets.identity).
    assert adversarial.read_results(outputs[0])["record"]["data_source"] == (
        "a CIFAR-format data set that is not the official CIFAR-10 (data_batch_1 and 6 more "
        "differ)")
    # The exe scripts' default settings keep the documented folder.
    assert adversarial.output_file(base, "r", AttackSettings()).parent.name == "Linf_standard"


@pytest.mark.parametrize("eps", ["nan", "inf", "-1", "0"])
def test_eps_must_be_finite_and_positive(tmp_path, capsys, eps):
    run = tmp_path / EXP_DATA / "r"
    assert attack(run, tmp_path, "--eps", "1", eps) == 2
    line = one_error_line(capsys)
    assert "--eps" in line and "finite positive" in line
    exe = cli.robustness_tests(grid.EXP_10, suite.ADVERSARIAL)
    assert run_main(exe, ["--base_folder", str(tmp_path), "--run-predictions", "--dry-run",
                          "--eps", eps]) == 2
    assert "finite positive" in one_error_line(capsys)


@pytest.mark.slow
def test_two_attacks_of_one_run_at_once_both_count(data, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    both = [script("run_adversarial_test.py", "--model_folder", run, "--base_folder", base,
                   "--device", "cpu", "--attacks", "apgd-ce", "--n-images", "8", "--eps", eps)
            for eps in ("1", "4")]
    for process in both:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
    settings = AttackSettings(n_images=8, **APGD)
    found = adversarial.read_results(adversarial.output_file(base, run.name, settings))
    assert {row["eps_255"] for row in found["rows"]} == {0.0, 1.0, 4.0}
