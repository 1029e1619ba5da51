"""models/: the architectures of docs/reference.md §1, the model_kw format, and loading run folders."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import atomic_files
from errors import UserError
from models import (MODEL_TYPES, PAPER_PARAMETER_COUNTS, SIZE_KEYS, build_model_from_opt,
                    count_parameters, format_model_kw, get_model, load_trained_model,
                    parse_model_kw)
from models.blocks import (BasicBlock, DenseLayer, MinBlock, MinResidual, PyramidBasicBlock,
                           Shortcut, Transition, depthwise_branch)
from models.cifar_densenet import DenseBlock

REPO_ROOT = Path(__file__).resolve().parents[1]
# The state_dict keys and shapes of the authors' published checkpoints, for all 22
# configurations of the paper (docs/reference.md §1).
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "authors_checkpoint_layout.json"

SMALL = {"CifarResNet": {"N": 1}, "CifarPyrResNet": {"N": 1}, "CifarMinFP-LS": {"N": 1},
         "CifarMinFP-LS-RNBasic": {"N": 1}, "CifarDenseNet": {"n_blocks": 10},
         "CifarDenseMin": {"n_blocks": 10}}


def paper_model(model_type, size):
    return get_model(model_type, **{SIZE_KEYS[model_type]: size})


def reference_layout():
    """{(model type, size): {"num_params": int, "state_dict": ["key [shape]", ...]}}"""
    layout = json.loads(REFERENCE.read_text())
    by_config = {}
    for name, entry in layout.items():  # "CifarResNet N=3", "CifarDenseNet k=12 L=22"
        words = name.split()
        by_config[(words[0], int(words[-1].split("=")[1]))] = entry
    return by_config


def randomize_batchnorm(model, seed=0):
    """Give every BN non-trivial running statistics and affine parameters, as training
    would, so that eval-mode outputs depend on all of the state_dict."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return model


# ------------------------------------------------------------------------ sizes and layout


@pytest.fixture(scope="module")
def paper_models():
    """Each of the paper's 22 configurations, built once for the tests of this module."""
    return {(model_type, size): paper_model(model_type, size)
            for model_type, size in PAPER_PARAMETER_COUNTS}


def test_parameter_counts_equal_the_papers_for_all_22_configurations(paper_models):
    assert len(PAPER_PARAMETER_COUNTS) == 22
    for (model_type, size), paper in PAPER_PARAMETER_COUNTS.items():
        assert count_parameters(paper_models[model_type, size]) == paper, (model_type, size)


def test_paper_counts_agree_with_the_authors_checkpoints():
    layout = reference_layout()
    assert set(layout) == set(PAPER_PARAMETER_COUNTS)
    for config, entry in layout.items():
        assert entry["num_params"] == PAPER_PARAMETER_COUNTS[config], config


def test_state_dict_keys_and_shapes_equal_the_authors_for_all_22_configurations(paper_models):
    for (model_type, size), entry in reference_layout().items():
        ours = [f"{k} {list(v.shape)}" for k, v in paper_models[model_type, size]
                .state_dict().items()]
        assert ours == entry["state_dict"], (model_type, size)  # same keys, shapes, order


# `python -m models` builds the 22 configurations again, in a subprocess.
@pytest.mark.slow
def test_python_m_models_prints_the_table_with_a_match_column():
    result = subprocess.run([sys.executable, "-m", "models"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "size", "ours", "paper", "match"]
    rows = [line.split() for line in lines[1:23]]
    assert all(row[-1] == "yes" and row[2] == row[3] for row in rows)
    assert ["CifarMinFP-LS", "N=3", "217,082", "217,082", "yes"] in rows
    assert ["CifarDenseMin", "L=100", "751,786", "751,786", "yes"] in rows
    # exp_12's models with CIFAR-100's 100 outputs: 90 more of the final layer (64 inputs).
    assert lines[23] == "all counts match the paper"
    rows_100 = [line.split() for line in lines[27:35]]
    assert lines[26].split() == ["model", "size", "ours", "expected", "match"]
    assert all(row[-1] == "yes" for row in rows_100) and len(rows_100) == 8
    assert ["CifarMinFP-LS", "N=3", "222,932", "222,932", "yes"] in rows_100
    assert 217_082 + 90 * 65 == 222_932


# ------------------------------------------------------------------------ blocks


def test_subsampling_shortcut_takes_every_second_pixel_and_appends_zero_channels():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = Shortcut(1, 3, stride=2, downsample="subsample")(x)
    assert out.shape == (1, 3, 2, 2)
    assert out[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]
    assert (out[0, 1:] == 0).all()


def test_avgpool_shortcut_averages_2x2_with_ceil_mode():
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    out = Shortcut(1, 2, stride=2, downsample="avgpool")(x)
    # [0 1 2; 3 4 5; 6 7 8]: windows {0,1,3,4}, {2,5}, {6,7}, {8} (the partial ones kept)
    assert out[0, 0].tolist() == [[2.0, 3.5], [6.5, 8.0]]
    assert (out[0, 1] == 0).all()
    identity = Shortcut(2, 2, stride=1, downsample="avgpool")
    x = torch.randn(2, 2, 5, 5)
    assert torch.equal(identity(x), x)


def zero_residual(block):
    """Make the residual path output exactly 0: its last BN gets weight 0 and bias 0."""
    last_bn = [m for m in block.block_with_shortcut.block.modules()
               if isinstance(m, nn.BatchNorm2d)][-1]
    nn.init.zeros_(last_bn.weight)
    nn.init.zeros_(last_bn.bias)
    return block


def test_basic_block_uses_the_subsampled_shortcut_and_a_final_relu():
    block = zero_residual(BasicBlock(2, 4, stride=2))
    x = torch.randn(3, 2, 6, 6)
    expected = F.pad(F.relu(x[..., ::2, ::2]), (0, 0, 0, 0, 0, 2))
    assert torch.equal(block(x), expected)


def test_pyramid_block_uses_the_avgpool_shortcut_and_no_final_relu():
    block = zero_residual(PyramidBasicBlock(2, 4, stride=2))
    x = torch.randn(3, 2, 6, 6)
    expected = F.pad(F.avg_pool2d(x, 2, ceil_mode=True), (0, 0, 0, 0, 0, 2))
    torch.testing.assert_close(block(x), expected)
    assert (block(x) < 0).any()  # negative values survive: no ReLU after the sum


def batch_norm_train(bn, x):
    """What a BatchNorm2d in training mode outputs: normalised with batch statistics."""
    return F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)


def test_basic_and_pyramid_blocks_compute_the_spec_formulas():
    torch.manual_seed(0)
    x = torch.randn(4, 8, 8, 8)
    basic = randomize_batchnorm(BasicBlock(8, 16, stride=2)).train()
    conv1, bn1, _, conv2, bn2 = basic.block_with_shortcut.block
    h = F.relu(batch_norm_train(bn1, F.conv2d(x, conv1.weight, stride=2, padding=1)))
    residual = batch_norm_train(bn2, F.conv2d(h, conv2.weight, padding=1))
    shortcut = F.pad(x[..., ::2, ::2], (0, 0, 0, 0, 0, 8))
    torch.testing.assert_close(basic(x), F.relu(residual + shortcut))

    pyramid = randomize_batchnorm(PyramidBasicBlock(8, 16, stride=2)).train()
    bn0, conv1, bn1, _, conv2, bn2 = pyramid.block_with_shortcut.block
    h = F.conv2d(batch_norm_train(bn0, x), conv1.weight, stride=2, padding=1)
    residual = batch_norm_train(bn2, F.conv2d(F.relu(batch_norm_train(bn1, h)), conv2.weight,
                                              padding=1))
    shortcut = F.pad(F.avg_pool2d(x, 2, ceil_mode=True), (0, 0, 0, 0, 0, 8))
    torch.testing.assert_close(pyramid(x), residual + shortcut)


class Negate(nn.Module):
    def forward(self, x):
        return -x


def test_min_residual_combines_its_branches_by_the_elementwise_minimum():
    block = MinResidual(2, 2, q=1)
    block.upper, block.lower = nn.Identity(), nn.Identity()
    block.left_dw, block.right_dw = nn.Identity(), Negate()  # the branches give x and -x
    x = torch.tensor([[[[1.0, -2.0], [0.0, 3.0]]]]).expand(1, 2, 2, 2)
    assert block(x)[0, 0].tolist() == [[-1.0, -2.0], [0.0, -3.0]]  # min(x, -x) = -|x|


def test_min_block_computes_the_spec_formula():
    torch.manual_seed(0)
    x = torch.randn(4, 16, 8, 8)
    block = randomize_batchnorm(MinBlock(16, 32, stride=2, q=2, k=3)).train()
    residual = block.block_with_shortcut.block
    upper_conv, upper_bn, _ = residual.upper
    lower_conv, lower_bn, _ = residual.lower

    def branch(seq, t):  # depthwise conv, InstanceNorm without affine, ReLU
        conv = seq[0]
        assert conv.groups == conv.in_channels == conv.out_channels == 64
        return F.relu(F.instance_norm(F.conv2d(t, conv.weight, stride=2, padding=1,
                                               groups=64), eps=seq[1].eps))

    up = F.relu(batch_norm_train(upper_bn, F.conv2d(x, upper_conv.weight)))   # (4, 64, 8, 8)
    combined = torch.minimum(branch(residual.left_dw, up), branch(residual.right_dw, up))
    low = F.relu(batch_norm_train(lower_bn, F.conv2d(combined, lower_conv.weight)))  # (4, 32, 4, 4)
    shortcut = F.pad(F.avg_pool2d(x, 2, ceil_mode=True), (0, 0, 0, 0, 0, 16))
    out = block(x)
    assert out.shape == (4, 32, 4, 4)
    torch.testing.assert_close(out, low + shortcut)


def test_min_block_with_conv_for_res_projects_the_shortcut_with_bias():
    block = zero_residual(MinBlock(5, 3, conv_for_res=True))
    conv = block.block_with_shortcut.conv_for_res
    assert conv.bias is not None and conv.weight.shape == (3, 5, 1, 1)
    x = torch.randn(2, 5, 4, 4)
    # The residual ends with BN (zeroed) -> ReLU, so it contributes exactly 0.
    torch.testing.assert_close(block(x), conv(x))


def test_instance_norm_has_no_affine_parameters_and_no_running_statistics():
    branch = depthwise_branch(3, 3, stride=1)
    norm = branch[1]
    assert isinstance(norm, nn.InstanceNorm2d)
    assert list(norm.parameters()) == [] and list(norm.buffers()) == []
    x = torch.randn(2, 3, 6, 6) * 5 + 3
    for mode in (True, False):  # the same in training and evaluation
        y = norm.train(mode)(x)
        torch.testing.assert_close(y.mean((2, 3)), torch.zeros(2, 3), atol=1e-5, rtol=0)
        torch.testing.assert_close(y.var((2, 3), unbiased=False), torch.ones(2, 3),
                                   atol=1e-3, rtol=0)


def test_dense_block_concatenates_the_input_and_every_layers_k_new_channels():
    block = DenseBlock({"start_block": DenseLayer(6, 4), "default_block1": DenseLayer(10, 4)})
    x = torch.randn(2, 6, 8, 8)
    out = block(x)
    assert out.shape == (2, 14, 8, 8)
    assert torch.equal(out[:, :6], x)
    torch.testing.assert_close(out[:, 6:10], block["start_block"](x))
    transition = Transition(14, 7)
    assert transition(out).shape == (2, 7, 4, 4)


# ------------------------------------------------------------------------ initialisation


def conv_weights(model, kernel_size):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups == 1
            and m.kernel_size == (kernel_size, kernel_size)]


def test_pyr_resnet_init_conv_std_is_sqrt_2_over_k_k_out_and_bn_is_one_zero():
    torch.manual_seed(0)
    model = get_model("CifarPyrResNet", N=3)
    conv = model.stack3.block_1.block_with_shortcut.block[1]       # 64 -> 64, 3x3
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 64)), rel=0.03)
    conv = model.stack2.block_0.block_with_shortcut.block[1]       # 16 -> 32: fan-out
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 32)), rel=0.05)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert (m.weight == 1).all() and (m.bias == 0).all()


def test_resnet_init_is_kaiming_normal_fan_in_on_convs_and_linear():
    torch.manual_seed(0)
    model = get_model("CifarResNet", N=3)
    conv = model.stack2.block_0.block_with_shortcut.block[0]       # 16 -> 32: fan-in 144
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 16)), rel=0.05)
    assert model.out.weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.1)


def test_min_nets_keep_pytorchs_default_init():
    torch.manual_seed(0)
    for model_type in ("CifarMinFP-LS", "CifarMinFP-LS-RNBasic"):
        model = get_model(model_type, N=3)
        for conv in conv_weights(model, 3) + conv_weights(model, 1):
            fan_in = conv.weight[0].numel()
            # default: kaiming_uniform(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            assert conv.weight.abs().max() <= 1 / math.sqrt(fan_in) + 1e-7


def test_densenet_init_by_parameter_name():
    torch.manual_seed(0)
    for model_type in ("CifarDenseNet", "CifarDenseMin"):
        model = get_model(model_type, n_blocks=58)
        conv2 = model.features.denseblock3.default_block8.conv2.weight    # (12, 48, 3, 3)
        assert conv2.std().item() == pytest.approx(math.sqrt(2 / (12 * 9)), rel=0.05)
        for name, p in model.named_parameters():
            if "norm" in name and "weight" in name:
                assert (p == 1).all(), name
            if ("norm" in name or "classifier" in name) and "bias" in name:
                assert (p == 0).all(), name
    start = model.features.denseblock1.start_block.block_with_shortcut
    upper = start.block.upper[0].weight                                 # default init
    assert upper.abs().max() <= 1 / math.sqrt(upper[0].numel()) + 1e-7
    projection = start.conv_for_res.weight                              # "conv" + "weight"
    assert projection.abs().max() > 1 / math.sqrt(projection[0].numel())


# ------------------------------------------------------------------------ get_model, model_kw

AUTHORS_RESNET_KW = "q: 2;k: 3;N: 3;"
AUTHORS_DENSENET_KW = ("stride: 1;growth_rate: 12;n_blocks: 100;efficient: True;"
                       "compression: 0.5;k: 3;q: 2;")


def test_parse_and_format_model_kw_read_and_write_the_authors_strings():
    assert parse_model_kw(AUTHORS_RESNET_KW) == {"q": ["2"], "k": ["3"], "N": ["3"]}
    parsed = parse_model_kw(AUTHORS_DENSENET_KW)
    assert parsed["efficient"] == [True] and parsed["compression"] == ["0.5"]
    assert parse_model_kw("nesterov: True;") == {"nesterov": [True]}
    assert parse_model_kw("a: None;b: 1 2 x;") == {"a": [None], "b": ["1", "2", "x"]}
    assert parse_model_kw("") == {} and parse_model_kw(None) == {}
    for text in (AUTHORS_RESNET_KW, AUTHORS_DENSENET_KW):
        assert format_model_kw(parse_model_kw(text)) == text
    assert format_model_kw({"q": 2, "N": 3, "efficient": True}) == "q: 2;N: 3;efficient: True;"


def test_get_model_takes_plain_values_strings_and_parsed_lists_alike():
    torch.manual_seed(0)
    a = get_model("CifarMinFP-LS", N=3)
    torch.manual_seed(0)
    b = get_model("CifarMinFP-LS", **parse_model_kw(AUTHORS_RESNET_KW))
    torch.manual_seed(0)
    c = get_model("CifarMinFP-LS", N="3", q="2", k=3)
    for other in (b, c):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                     other.state_dict().values()))
    dense = get_model("CifarDenseMin", **parse_model_kw(AUTHORS_DENSENET_KW))
    assert count_parameters(dense) == PAPER_PARAMETER_COUNTS[("CifarDenseMin", 100)]


def test_q_and_k_default_to_2_and_3_and_shape_the_min_blocks():
    upper = get_model("CifarMinFP-LS", N=1).stack1.block_0.block_with_shortcut.block
    assert upper.upper[0].out_channels == 32 and upper.left_dw[0].kernel_size == (3, 3)
    wider = get_model("CifarMinFP-LS", N=1, q=3, k=5).stack1.block_0.block_with_shortcut.block
    assert wider.upper[0].out_channels == 48 and wider.left_dw[0].kernel_size == (5, 5)
    assert get_model("CifarMinFP-LS", N=1, q=3, k=5)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_in_dim_and_out_dim():
    model = get_model("CifarDenseNet", in_dim=1, out_dim=100, n_blocks=10)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 100)
    model = get_model("CifarResNet", 1, 7, N=1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("model_type, kw, words", [
    ("ResNet", {"N": 3}, ["unknown model type", "CifarResNet", "CifarDenseMin"]),
    ("CifarResNet", {"N": 0}, ["N", "positive"]),
    ("CifarResNet", {"N": "three"}, ["N", "'three'"]),
    ("CifarResNet", {"N": ["3", "5"]}, ["one value"]),
    ("CifarResNet", {"N": True}, ["N"]),
    ("CifarResNet", {}, ["needs", "N"]),
    ("CifarResNet", {"N": 3, "n_blocks": 22}, ["n_blocks", "N, q, k"]),
    ("CifarMinFP-LS", {"N": 3, "k": 4}, ["k", "odd"]),
    ("CifarDenseNet", {"n_blocks": 23}, ["6n + 4", "22, 58, 100"]),
    ("CifarDenseNet", {"n_blocks": 4}, ["6n + 4"]),
    ("CifarDenseMin", {"n_blocks": 22, "growth_rate": 0}, ["growth_rate", "positive"]),
    ("CifarDenseNet", {"n_blocks": 22, "efficient": "yes"}, ["efficient", "True or False"]),
    ("CifarDenseNet", {"n_blocks": 22, "compression": 0}, ["compression"]),
    ("CifarDenseNet", {"N": 3}, ["'N'", "n_blocks"]),
])
def test_invalid_model_types_and_options_are_user_errors_saying_what_is_allowed(model_type, kw,
                                                                                words):
    with pytest.raises(UserError) as error:
        get_model(model_type, **kw)
    for word in words:
        assert word in str(error.value)


def test_malformed_model_kw_string_is_a_user_error():
    with pytest.raises(UserError, match="key: value"):
        parse_model_kw("N 3;")


def test_build_model_from_opt():
    model = build_model_from_opt({"model_type": "CifarPyrResNet", "model_kw": "N: 1;"})
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    model = build_model_from_opt({"model_type": "CifarDenseMin", "in_dim": 3, "out_dim": 4,
                                  "model_kw": {"n_blocks": 10, "efficient": True}})
    assert model.classifier.out_features == 4
    with pytest.raises(UserError, match="model_type"):
        build_model_from_opt({"model_kw": "N: 1;"})


# ------------------------------------------------------------------------ run folders


def authors_opt(model_type, model_kw, folder):
    """opt.json exactly as the authors wrote it (docs/reference.md §4)."""
    return {"lr": 0.1, "wd": 0.0001, "mom": 0.9, "bs": 128, "opt": "SGD",
            "opt_kw": None if "N:" in model_kw else "nesterov: True;", "seed": 9,
            "folder": str(folder), "in_dim": 3, "out_dim": 10, "model_type": model_type,
            "model_kw": model_kw, "epochs": 200, "fixed_steps": ["100", "150"],
            "dataset": "cifar_10", "comment": "min-nets", "torch_version": "1.8.0",
            "start_time": "2021-05-04 13:37:00"}


def write_run(folder, opt, state_dict):
    folder.mkdir(parents=True, exist_ok=True)
    atomic_files.write_json(folder / "opt.json", opt)
    atomic_files.torch_save(folder / "model.pt", state_dict)
    return folder


def assert_same_outputs(model, loaded, x):
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_save_and_load_trained_model_round_trip(tmp_path):
    torch.manual_seed(0)
    model = randomize_batchnorm(get_model("CifarMinFP-LS", N=1))
    opt = {"model_type": "CifarMinFP-LS", "model_kw": "q: 2;k: 3;N: 1;", "in_dim": 3,
           "out_dim": 10}
    folder = write_run(tmp_path / "run", opt, model.state_dict())
    loaded = load_trained_model(folder)
    assert not loaded.training
    assert_same_outputs(model, loaded, torch.randn(4, 3, 32, 32))
    loaded = load_trained_model(str(folder), device="cpu")  # a str path works too
    assert_same_outputs(model, loaded, torch.randn(4, 3, 32, 32))


@pytest.mark.parametrize("model_type, model_kw", [
    ("CifarMinFP-LS", "q: 2;k: 3;N: 1;"),
    ("CifarDenseMin", AUTHORS_DENSENET_KW.replace("100", "10")),
])
def test_authors_run_folder_loads(tmp_path, model_type, model_kw):
    torch.manual_seed(0)
    model = randomize_batchnorm(build_model_from_opt({"model_type": model_type,
                                                      "model_kw": model_kw}))
    folder = tmp_path / "exp_data" / f"{model_type}_s9_N1"
    folder.mkdir(parents=True)
    (folder / "opt.json").write_text(json.dumps(authors_opt(model_type, model_kw, folder)))
    torch.save(model.state_dict(), folder / "model.pt")  # as the authors saved it
    (folder / "model_specs.json").write_text(json.dumps(
        {"num_trainable": float(count_parameters(model)),
         "num_params": float(count_parameters(model))}))
    assert_same_outputs(model, load_trained_model(folder), torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_data_parallel_and_compiled_checkpoints_load(tmp_path, prefix):
    torch.manual_seed(0)
    model = randomize_batchnorm(get_model("CifarResNet", N=1))
    state = {prefix + k: v for k, v in model.state_dict().items()}
    folder = write_run(tmp_path / "run", {"model_type": "CifarResNet", "model_kw": "N: 1;"},
                       state)
    assert_same_outputs(model, load_trained_model(folder), torch.randn(2, 3, 32, 32))


def test_data_parallel_keys_are_what_nn_data_parallel_writes(tmp_path):
    model = get_model("CifarResNet", N=1)
    state = nn.DataParallel(model).state_dict()
    assert all(k.startswith("module.") for k in state)
    folder = write_run(tmp_path / "run", {"model_type": "CifarResNet", "model_kw": "N: 1;"},
                       state)
    assert_same_outputs(model, load_trained_model(folder), torch.randn(2, 3, 32, 32))


@pytest.fixture
def resnet_run(tmp_path):
    model = get_model("CifarResNet", N=1)
    return write_run(tmp_path / "run", {"model_type": "CifarResNet", "model_kw": "N: 1;"},
                     model.state_dict())


def load_error(folder) -> str:
    with pytest.raises(UserError) as error:
        load_trained_model(folder)
    message = str(error.value)
    assert str(folder) in message and "\n" not in message
    return message


def test_load_errors_missing_folder_opt_and_model(tmp_path, resnet_run):
    assert "no such run folder" in load_error(tmp_path / "nowhere")
    (resnet_run / "model.pt").unlink()
    assert "no model.pt" in load_error(resnet_run)
    (resnet_run / "opt.json").unlink()
    assert "no opt.json" in load_error(resnet_run)


def test_load_error_truncated_model(resnet_run):
    data = (resnet_run / "model.pt").read_bytes()
    (resnet_run / "model.pt").write_bytes(data[: len(data) // 2])
    assert "cannot be read" in load_error(resnet_run)
    (resnet_run / "model.pt").write_bytes(b"")
    assert "cannot be read" in load_error(resnet_run)


@pytest.mark.parametrize("foreign", [
    {"model": {"w": torch.zeros(1)}, "optimizer": {}, "epoch": 3},   # a training checkpoint
    [torch.zeros(1)],
    torch.zeros(3),
    {},
])
def test_load_error_foreign_model_file(resnet_run, foreign):
    torch.save(foreign, resnet_run / "model.pt")
    assert "not a state_dict" in load_error(resnet_run)


def test_load_error_whole_pickled_model_is_refused(resnet_run):
    torch.save(get_model("CifarResNet", N=1), resnet_run / "model.pt")  # needs weights_only=False
    assert "cannot be read" in load_error(resnet_run)


def test_load_error_weights_of_another_size(resnet_run):
    opt = json.loads((resnet_run / "opt.json").read_text())
    opt["model_kw"] = "N: 2;"
    (resnet_run / "opt.json").write_text(json.dumps(opt))
    message = load_error(resnet_run)
    assert "does not fit opt.json" in message and "keys missing" in message
    torch.save(get_model("CifarResNet", N=1, out_dim=100).state_dict(), resnet_run / "model.pt")
    opt["model_kw"] = "N: 1;"
    (resnet_run / "opt.json").write_text(json.dumps(opt))
    assert "another shape" in load_error(resnet_run)


def test_load_error_bad_opt(resnet_run):
    (resnet_run / "opt.json").write_text('{"model_type": "ResNet1000", "model_kw": "N: 1;"}')
    assert "unknown model type" in load_error(resnet_run)
    (resnet_run / "opt.json").write_text('{"model_type": ')
    with pytest.raises(UserError, match="not valid JSON"):
        load_trained_model(resnet_run)


# ------------------------------------------------------------------------ checkpointing


def saved_activation_numel(model, x):
    """Elements autograd keeps for backward (outside checkpointed regions)."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum().backward()
    return total


@pytest.mark.parametrize("model_type", ["CifarDenseNet", "CifarDenseMin"])
def test_checkpointing_changes_no_number(model_type):
    torch.manual_seed(0)
    plain = get_model(model_type, n_blocks=16, efficient=False).train()
    efficient = get_model(model_type, n_blocks=16, efficient=True).train()
    efficient.load_state_dict(plain.state_dict())
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in
                  (plain, efficient)]
    for step in range(2):  # two SGD steps: outputs, gradients, weights, BN statistics
        x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
        outputs = []
        for model, optimizer in zip((plain, efficient), optimizers):
            optimizer.zero_grad()
            out = model(x)
            F.cross_entropy(out, y).backward()
            optimizer.step()
            outputs.append(out)
        torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=0)
        for (name, a), b in zip(plain.named_parameters(), efficient.parameters()):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-6, atol=1e-7, msg=name)
    for (name, a), b in zip(plain.state_dict().items(), efficient.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7, msg=name)
        if name.endswith("num_batches_tracked"):
            assert b.item() == 2, name  # once per step, not twice
    # ... and it is really on: fewer activations kept for backward.
    x = torch.randn(8, 3, 32, 32)
    assert saved_activation_numel(efficient, x) < saved_activation_numel(plain, x)


def test_checkpointed_dense_layer_in_eval_mode_with_gradients():
    torch.manual_seed(0)
    plain = randomize_batchnorm(get_model("CifarDenseNet", n_blocks=10)).eval()
    efficient = get_model("CifarDenseNet", n_blocks=10, efficient=True).eval()
    efficient.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    grads = [torch.autograd.grad(m(x).sum(), x)[0] for m in (plain, efficient)]
    torch.testing.assert_close(grads[1], grads[0])
    assert torch.equal(plain.state_dict()["features.denseblock1.start_block.norm1.running_mean"],
                       efficient.state_dict()["features.denseblock1.start_block.norm1."
                                              "running_mean"])


# ------------------------------------------------------------------------ devices, formats


def devices():
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("model_type", list(MODEL_TYPES))
def test_channels_last_and_autocast(model_type, device):
    torch.manual_seed(0)
    kw = dict(SMALL[model_type], **({"efficient": True} if "Dense" in model_type else {}))
    model = randomize_batchnorm(get_model(model_type, **kw)).to(device)
    x = torch.randn(4, 3, 32, 32, device=device)
    model.eval()
    with torch.no_grad():
        reference = model(x)
        last = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(last, reference, rtol=1e-4, atol=1e-4)
    model.train()
    dtype = torch.bfloat16 if device == "cpu" else torch.float16
    with torch.autocast(device_type=device, dtype=dtype):
        out = model(x.to(memory_format=torch.channels_last))
        loss = F.cross_entropy(out.float(), torch.arange(4, device=device))
    loss.backward()
    assert out.shape == (4, 10) and torch.isfinite(out.float()).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# What a fresh interpreter imports: a subprocess.
@pytest.mark.slow
def test_models_imports_nothing_of_training_or_experiments():
    """models/ is definitions plus loading: it sits below training/ and experiments/."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import models; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'experiments')))")
    out = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT)], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"


def test_set_grad_checkpointing_switches_every_dense_layer_and_no_resnet_breaks():
    from models.blocks import DenseLayer

    densenet = get_model("CifarDenseNet", n_blocks=10, efficient=True)
    densenet.set_grad_checkpointing(False)
    layers = [m for m in densenet.modules() if isinstance(m, DenseLayer)]
    assert layers and not any(layer.efficient for layer in layers)
    densenet.set_grad_checkpointing(True)
    assert all(layer.efficient for layer in layers)
    for model_type in MODEL_TYPES:
        assert callable(getattr(get_model(model_type, **({"n_blocks": 10} if "Dense" in model_type
                                                          else {"N": 1})),
                                "set_grad_checkpointing"))
