"""robustness/adversarial.py: AutoAttack on a small trained model: the wrapper's input
range and eval mode, AutoAttack's own checks, robust error not falling with eps, resuming
per eps and within an eps."""
import json
import logging

import numpy as np
import pytest
import torch

from datasets.cifar10 import synthetic_cifar10
from datasets.loader import Normalize
from errors import UserError
from experiments.evaluating import adversarial as adversarial_eval
from robustness import adversarial
from robustness.adversarial import AttackSettings
from robustness.normalized_model import NormalizedModel
from robustness.per_run_script import trained_model
from robustness_runs import APGD, GRID, attack_flags, finished_run, trained_run

N_IMAGES = 40


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(128, 10))

    def forward(self, x):
        return self.features(x)


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained for a few epochs on learnable synthetic data, and its test images
    in [0, 1]."""
    torch.manual_seed(0)
    train_x, train_y, test_x, test_y = synthetic_cifar10(n_train=400, n_test=N_IMAGES, seed=2)
    model = TinyNet()
    x = Normalize("cpu")(torch.from_numpy(train_x), channels_last=False)
    y = torch.from_numpy(train_y)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(10):
        for i in range(0, len(y), 100):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i:i + 100]), y[i:i + 100]).backward()
            optimizer.step()
    images = torch.from_numpy(test_x).permute(0, 3, 1, 2).float().div(255).contiguous()
    return NormalizedModel(model), images, torch.from_numpy(test_y)


def cheap(settings=AttackSettings(norm="Linf", attacks="apgd-ce", n_images=N_IMAGES)):
    return settings


def test_the_wrapper_normalises_inside_and_stays_in_eval_mode(trained):
    wrapped, x, _ = trained
    wrapped.train()
    assert not wrapped.training and not wrapped.model.training
    inner = wrapped.model(Normalize("cpu")(
        (x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8), channels_last=False))
    assert torch.allclose(wrapped(x), inner, atol=1e-4)


def test_autoattack_sees_inputs_in_0_1_and_its_checks_pass(trained, caplog, tmp_path):
    wrapped, x, y = trained
    seen = []
    hook = wrapped.register_forward_pre_hook(
        lambda module, inputs: seen.append((inputs[0].min().item(), inputs[0].max().item())))
    try:
        with caplog.at_level(logging.WARNING, logger="auto-attack"):
            flags = adversarial.robust_at_eps(wrapped, x, y, np.ones(len(y), bool), 8 / 255,
                                              cheap(), "cpu",
                                              tmp_path, batch_size=N_IMAGES,
                                              log=lambda line: None)
    finally:
        hook.remove()
    assert len(seen) > 10                     # the attacks ran through the wrapper
    assert min(lo for lo, _ in seen) >= 0.0 and max(hi for _, hi in seen) <= 1.0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert flags.dtype == bool and len(flags) == len(y)


@pytest.mark.slow
def test_robust_error_does_not_fall_with_eps(trained, tmp_path):
    wrapped, x, y = trained
    output = tmp_path / "run.json"
    rows = adversarial.evaluate_run(wrapped, x, y, (0.5, 2, 8, 32), cheap(), output, "cpu",
                                    batch_size=N_IMAGES, log=lambda line: None)
    errors = [r["er"] for r in rows]
    assert [r["eps_255"] for r in rows] == [0, 0.5, 2, 8, 32]
    assert errors == sorted(errors) and errors[0] < 30 and errors[-1] > errors[0] + 30, errors
    assert all(r["n"] == N_IMAGES for r in rows)
    saved = adversarial.read_results(output)
    assert [r["er"] for r in saved["rows"]] == errors and saved["settings"] == cheap()
    assert not output.with_suffix(".state").exists()


def test_an_interrupted_evaluation_resumes_per_eps(trained, tmp_path):
    wrapped, x, y = trained
    output = tmp_path / "run.json"
    adversarial.evaluate_run(wrapped, x, y, (2,), cheap(), output, "cpu", N_IMAGES,
                             log=lambda line: None)
    # Mark eps 2 as breaking every image: attacked again, the mark would be gone.
    saved = json.loads(output.read_text())
    saved["results"][1]["robust"] = "0" * N_IMAGES
    saved["results"][1]["er"] = 100.0   # consistent with the flags: a valid file
    output.write_text(json.dumps(saved))
    logged = []
    rows = adversarial.evaluate_run(wrapped, x, y, (2, 8), cheap(), output, "cpu", N_IMAGES,
                                    log=logged.append)
    assert [r["er"] for r in rows][1:] == [100.0, 100.0]
    assert not any("eps 2/255 after" in line for line in logged)
    # Other settings (here another image count) make the file unusable: computed again.
    other = AttackSettings(norm="Linf", attacks="apgd-ce", n_images=N_IMAGES - 1)
    rows = adversarial.evaluate_run(wrapped, x[:-1], y[:-1], (2,), other, output, "cpu",
                                    N_IMAGES, log=lambda line: None)
    assert rows[1]["er"] < 100.0 and rows[1]["n"] == N_IMAGES - 1


@pytest.mark.slow
def test_an_interrupted_attack_keeps_what_it_had_broken(trained, tmp_path):
    """Within an eps: our progress file (after APGD-CE) and AutoAttack's state file (in
    the middle of APGD-T) are both taken up again."""
    wrapped, x, y = trained
    settings = AttackSettings(norm="Linf", attacks="standard", n_images=N_IMAGES)
    eps = 1 / 255
    start = np.ones(N_IMAGES, bool)
    progress = tmp_path / f"progress_{eps:.10g}.json"
    # Few images left, so that the slow attacks (FAB-T, Square) take seconds on a CPU.
    survivors = np.arange(N_IMAGES) >= N_IMAGES - 2  # pretend APGD-CE broke all but 2
    progress.write_text(json.dumps({"robust": adversarial.flags_text(survivors),
                                    "attacks_done": ["apgd-ce"]}))
    # ... and APGD-T, interrupted, had broken the first of the two left.
    package_state = tmp_path / f"autoattack_{eps:.10g}_apgd-t.json"
    package_state.write_text(json.dumps({"_robust_flags": [False, True]}))
    logged = []
    flags = adversarial.robust_at_eps(wrapped, x, y, start, eps, settings, "cpu", tmp_path,
                                      batch_size=N_IMAGES, log=logged.append)
    assert not flags[:N_IMAGES - 1].any()
    assert [line.split("after ")[1].split(":")[0] for line in logged] == ["apgd-t", "fab-t",
                                                                           "square"]
    assert json.loads(progress.read_text())["attacks_done"] == adversarial.attack_names(settings)
    assert not package_state.exists()


# ------------------------------------------ what a robustness file records (issue 23)

@pytest.mark.parametrize("edit, why", [
    (lambda row: row.update(er=-5.0), "er -5.0"),
    (lambda row: row.update(robust="2" * len(row["robust"])), "not 8 0/1"),
    (lambda row: row.update(n=7), "n 7"),
    (lambda row: row.update(er=row["er"] + 10), "does not match its flags"),
])
def test_a_hand_edited_adversarial_file_is_refused(tmp_path, capsys, edit, why):
    minnet, resnet = (GRID.run_name(m, 3, 9) for m in GRID.models)
    settings = AttackSettings(n_images=8, **APGD)
    for name in (minnet, resnet):
        finished_run(tmp_path, name)
        adversarial.write_results(adversarial.output_file(tmp_path, name, settings),
                                  attack_flags(8, {0.0: 1, 1.0: 3}), settings)
    path = adversarial.output_file(tmp_path, minnet, settings)
    saved = json.loads(path.read_text())
    edit(saved["results"][1])
    path.write_text(json.dumps(saved))
    with pytest.raises(UserError, match=why):
        adversarial.read_results(path)
    assert adversarial._read_results(path, settings) == {}      # the script computes it again
    assert "computing it again" in capsys.readouterr().err
    assert adversarial_eval.evaluate_adversarial(GRID, tmp_path) == 0
    csv = (tmp_path / adversarial_eval.CSV_FILE).read_text(encoding="utf-8")
    assert minnet not in csv and resnet in csv and "-5.0" not in csv


def test_a_progress_file_of_another_seed_is_not_taken_up(data, tmp_path):
    run = trained_run(tmp_path / "run")
    model = NormalizedModel(trained_model(run, "cpu"))
    x, y = adversarial.test_subset(6)
    seed0, seed1 = AttackSettings(n_images=6, **APGD), AttackSettings(n_images=6, seed=1, **APGD)
    eps = 1 / 255
    state = tmp_path / "state"
    state.mkdir()
    progress = state / f"progress_{eps:.10g}.json"

    def seed0_finished_apgd_ce():
        progress.write_text(json.dumps(dict(robust="0" * 6, attacks_done=["apgd-ce"],
                                            key=adversarial.progress_key(seed0, eps))))

    seed0_finished_apgd_ce()
    logged = []
    adversarial.robust_at_eps(model, x, y, np.ones(6, bool), eps, seed1, "cpu", state, 6,
                              logged.append)
    assert any("after apgd-ce" in line for line in logged)      # attacked afresh
    assert json.loads(progress.read_text())["key"]["seed"] == 1
    # The same seed takes it up: nothing attacked, the saved flags come back.
    seed0_finished_apgd_ce()
    logged = []
    flags = adversarial.robust_at_eps(model, x, y, np.ones(6, bool), eps, seed0, "cpu", state,
                                      6, logged.append)
    assert logged == [] and not flags.any()
    # Nor do other weights take up a run's progress.
    assert adversarial.progress_key(seed0, eps, "sha256:a") != \
        adversarial.progress_key(seed0, eps, "sha256:b")
