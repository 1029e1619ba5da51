"""The robustness tests' declarations: each names files that exist and agree with the
modules that write them, and report.md's section order follows them."""
import importlib

from experiments import grid
from experiments import robustness_suite as suite
from experiments.evaluating import jpeg as jpeg_evaluation
from robustness import adversarial, cifar101, corruptions, jpeg

REPO_ROOT = grid.config.REPO_ROOT


def test_every_declaration_names_existing_scripts_and_an_evaluation():
    for test in suite.TESTS:
        assert (REPO_ROOT / test.script).is_file(), test.script
        for experiment, script in test.exe_scripts.items():
            assert experiment in grid.EXPERIMENTS and (REPO_ROOT / script).is_file(), script
        module, function = test.evaluation.split(":")
        assert callable(getattr(importlib.import_module(module), function))


def test_the_declared_folders_are_those_the_per_run_modules_write():
    assert suite.JPEG.output_folder == jpeg.OUTPUT_FOLDERS["paper"]
    assert suite.CORRUPTIONS.output_folder == corruptions.OUTPUT_FOLDER
    assert suite.ADVERSARIAL.output_folder == adversarial.OUTPUT_FOLDER
    assert suite.CIFAR101.output_folder == cifar101.OUTPUT_FOLDER
    names = {protocol: jpeg_evaluation.output_names(protocol)["section"]
             for protocol in ("paper", "rgb")}
    assert suite.JPEG.sections == (names["paper"], names["rgb"])


def test_report_sections_follow_the_declarations():
    assert suite.REPORT_SECTIONS == ("results.md", "jpeg_results.md", "jpeg_results_rgb.md",
                                     "corruption_results.md", "adversarial_results.md",
                                     "cifar101_results.md")


def test_hints_name_the_tests_own_exe_script_and_the_folder_in_question(tmp_path):
    hint = suite.CORRUPTIONS.prediction_command(grid.EXP_11_1, "smoke", tmp_path)
    assert hint == ("python experiments/exp_11_1/exe_exp_11_1_corruption_tests.py --profile "
                    f"smoke --base_folder {tmp_path} --run-predictions")
    assert suite.JPEG.prediction_command(grid.EXP_10, "paper", None, "--protocol", "rgb") == \
        "python experiments/exp_10/exe_exp10_jpeg_tests.py --run-predictions --protocol rgb"
