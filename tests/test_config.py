"""config.py: paths from the environment, absolute whatever the working directory."""
import subprocess
import sys

from config import REPO_ROOT


def config_value(name, env, cwd):
    """`config.<name>` as seen by a fresh interpreter in `cwd` with environment `env`."""
    code = f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); import config; print(config.{name})"
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_data_folder_defaults_to_data_under_the_repository(tmp_path):
    assert config_value("DATA_FOLDER", {}, tmp_path) == str(REPO_ROOT / "data")


def test_a_relative_data_folder_is_made_absolute_where_it_is_read(tmp_path):
    # The launchers start runs from the repository root; a relative path must not move.
    (tmp_path / "here").mkdir()
    value = config_value("DATA_FOLDER", {"DATA_FOLDER": "mydata"}, tmp_path / "here")
    assert value == str((tmp_path / "here" / "mydata").resolve())


def test_download_folders_follow_their_variables(tmp_path):
    env = {"DOWNLOADED_MODELS": str(tmp_path / "m"), "DOWNLOADED_PREDICTIONS": "~/p"}
    assert config_value("DOWNLOADED_MODELS", env, tmp_path) == str(tmp_path / "m")
    assert config_value("DOWNLOADED_PREDICTIONS", env, tmp_path).endswith("/p")
    assert "~" not in config_value("DOWNLOADED_PREDICTIONS", env, tmp_path)
