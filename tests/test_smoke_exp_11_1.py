"""exp_11_1's smoke flow through the real scripts as subprocesses: DenseNet-BC and
Min-DenseNet trained (each must beat chance clearly), evaluated, and their JPEG test."""
import pytest

from experiments import grid
from smoke_flows import (CPU_TWO_AT_A_TIME, DENSE_BATCHES, DENSE_EPOCHS,
                         train_evaluate_jpeg)

pytestmark = pytest.mark.slow


def test_smoke_flow_of_exp_11_1(tmp_path, smoke_env):
    runs = train_evaluate_jpeg(grid.EXP_11_1, "exp_11_1/exe_exp_11_1_jpeg_tests.py", tmp_path,
                               smoke_env, DENSE_BATCHES, epochs=DENSE_EPOCHS,
                               launch=CPU_TWO_AT_A_TIME)
    assert sorted(runs) == sorted(grid.EXP_11_1.run_name(m, 22, 9) for m in grid.EXP_11_1.models)
