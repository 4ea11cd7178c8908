"""The run config: every key of the contract, and one-line errors naming file, line, key and fix."""
from __future__ import annotations

import os
import textwrap

import pytest
import torch
from torch import nn

import nndoctor
from nndoctor import config as cfgmod
from nndoctor.config import ConfigError

MODULE = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

def net(width=8):
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 3))

def loader(batch_size=16):
    x = torch.randn(64, 4)
    y = torch.randint(0, 3, (64,))
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)

batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]

def sgd_factory(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr)

def broken_factory():
    raise RuntimeError("boom in user code")
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "cfgmod_user.py").write_text(MODULE)

    def write(text):
        p = tmp_path / "config.yaml"
        p.write_text(textwrap.dedent(text))
        return str(p)
    return write


def error_of(path):
    with pytest.raises(ConfigError) as info:
        cfg = cfgmod.load(path)
        cfgmod.build(cfg)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_full_config_builds(project):
    path = project("""
        model: cfgmod_user:net
        model_kwargs: {width: 16}
        data: cfgmod_user:loader
        data_kwargs: {batch_size: 8}
        val_data: cfgmod_user:batches
        loss: torch.nn:CrossEntropyLoss
        loss_kwargs: {label_smoothing: 0.1}
        optimizer: cfgmod_user:sgd_factory
        optimizer_kwargs: {lr: 0.05}
        task: classification
        num_classes: 3
        batch: {inputs: 0, targets: 1}
        seed: 3
        device: cpu
        max_batches: 4
        checks:
          ignore: [ND107]
          input-sanity: {warn_scale: 20.0}
    """)
    cfg = cfgmod.load(path)
    subject = cfgmod.build(cfg)
    assert subject.model[0].out_features == 16
    assert subject.loss.label_smoothing == 0.1
    opt = subject.optimizer(subject.model)
    assert type(opt).__name__ == "SGD" and opt.param_groups[0]["lr"] == 0.05
    assert subject.task == "classification" and subject.num_classes == 3
    assert subject.val_data is not None


def test_unknown_key_names_line_and_suggestion(project):
    path = project("""
        model: cfgmod_user:net
        data: cfgmod_user:loader
        loss: torch.nn:CrossEntropyLoss
        optimiser: torch.optim:SGD
    """)
    msg = error_of(path)
    assert path in msg and ":5:" in msg and "optimiser" in msg and "did you mean 'optimizer'" in msg


def test_missing_required_key(project):
    msg = error_of(project("model: cfgmod_user:net\ndata: cfgmod_user:loader\n"))
    assert "'loss'" in msg and "missing required key" in msg


def test_bad_module_attr_form(project):
    msg = error_of(project("model: cfgmod_user.net\ndata: cfgmod_user:loader\nloss: torch.nn:MSELoss\n"))
    assert "key 'model'" in msg and "module:attr" in msg and ":1:" in msg


def test_import_failure(project):
    msg = error_of(project("model: no_such_module_xyz:net\ndata: cfgmod_user:loader\nloss: torch.nn:MSELoss\n"))
    assert "cannot import 'no_such_module_xyz'" in msg and "pythonpath" in msg


def test_missing_attribute_suggests(project):
    msg = error_of(project("model: cfgmod_user:nett\ndata: cfgmod_user:loader\nloss: torch.nn:MSELoss\n"))
    assert "has no attribute 'nett'" in msg and "did you mean 'net'" in msg


def test_user_factory_raising_is_one_line(project):
    msg = error_of(project("model: cfgmod_user:broken_factory\ndata: cfgmod_user:loader\nloss: torch.nn:MSELoss\n"))
    assert "RuntimeError: boom in user code" in msg and "cfgmod_user.py" in msg


def test_invalid_yaml(project):
    msg = error_of(project("model: [unclosed\ndata: x:y\n"))
    assert "invalid YAML" in msg


def test_unknown_check_and_option(project):
    base = "model: cfgmod_user:net\ndata: cfgmod_user:loader\nloss: torch.nn:MSELoss\n"
    msg = error_of(project(base + "checks:\n  input-sanit: {}\n"))
    assert "no such check" in msg and "did you mean 'input-sanity'" in msg and ":5:" in msg
    msg = error_of(project(base + "checks:\n  input-sanity:\n    warn_scal: 3\n"))
    assert "unknown option" in msg and "did you mean 'warn_scale'" in msg and ":6:" in msg


def test_bad_selector(project):
    base = "model: cfgmod_user:net\ndata: cfgmod_user:loader\nloss: torch.nn:MSELoss\n"
    msg = error_of(project(base + "checks:\n  ignore: [ND999]\n"))
    assert "ND999" in msg and "not a code" in msg


def test_safe_loader_only(project):
    msg = error_of(project("model: !!python/object/apply:os.system ['echo hi']\n"))
    assert "invalid YAML" in msg


def test_pythonpath_relative_to_config(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "cfgmod_user2.py").write_text(MODULE)
    conf = tmp_path / "conf"
    conf.mkdir()
    p = conf / "config.yaml"
    p.write_text("model: cfgmod_user2:net\ndata: cfgmod_user2:loader\nloss: torch.nn:CrossEntropyLoss\n"
                 "pythonpath: [../src]\n")
    subject = cfgmod.build(cfgmod.load(str(p)))
    assert subject.model is not None


def test_missing_file():
    with pytest.raises(ConfigError) as info:
        cfgmod.load(os.path.join("nowhere", "config.yaml"))
    assert "no such file" in str(info.value)


# -- options: declared once, validated against their declared range ---------------------------------------------------
BASE = "model: cfgmod_user:net\ndata: cfgmod_user:loader\nloss: torch.nn:MSELoss\n"


@pytest.mark.parametrize("value", ["0", "-3", "2.5", ".inf", ".nan", "'150'", "true", "null", "[150]"])
def test_out_of_range_or_mistyped_option_is_one_line_naming_it_and_its_range(project, value):
    path = project(BASE + f"checks:\n  overfit-one-batch:\n    fraction: 0.2\n    steps: {value}\n")
    msg = error_of(path)
    assert f"{path}:7:" in msg and "checks.overfit-one-batch.steps" in msg
    assert "an integer of at least 1 (default 150)" in msg


def test_each_declared_range_is_enforced(project):
    """A value just past each bound is refused, the bound itself is taken (bounds are inclusive)."""
    from nndoctor.engine.registry import all_checks

    for name, cls in all_checks().items():
        for opt, option in cls.declared_options().items():
            if option.kind not in ("int", "float"):
                continue
            for bound, step in ((option.low, -1), (option.high, 1)):
                if bound is None:
                    continue
                past = bound + step if option.kind == "int" else bound + step * max(abs(bound), 1e-3)
                ok = int(bound) if option.kind == "int" else float(bound)
                cfgmod.validate_checks_section(cfgmod.RunConfig(None, {"checks": {name: {opt: ok}}}))
                with pytest.raises(ConfigError, match=f"checks.{name}.{opt}"):
                    cfgmod.validate_checks_section(cfgmod.RunConfig(None, {"checks": {name: {opt: past}}}))


def test_every_default_and_quick_option_is_in_its_declared_range():
    from nndoctor.config.loader import option_problem
    from nndoctor.engine.registry import all_checks

    for name, cls in all_checks().items():
        declared = cls.declared_options()
        assert all(isinstance(o, nndoctor.Option) and o.help for o in cls.options.values()), name
        for opt, option in declared.items():
            assert option_problem(option, option.default) is None, (name, opt)
        for opt, value in cls.quick_options.items():
            assert option_problem(declared[opt], value) is None, (name, opt, value)


def test_a_band_option_takes_an_ordered_pair_in_range(project):
    assert cfgmod.load(project(BASE + "checks:\n  activations: {gain_band: [0.25, 4]}\n"))
    for bad in ("[2.0, 0.5]", "[-1, 2]", "[0.5]", "0.5", "[a, b]"):
        msg = error_of(project(BASE + f"checks:\n  activations: {{gain_band: {bad}}}\n"))
        assert "checks.activations.gain_band" in msg and "a list of 2 values in increasing order" in msg


def test_yaml_text_number_gets_a_hint(project):
    msg = error_of(project(BASE + "checks:\n  batch-independence: {tol: 1e-5}\n"))
    assert "got '1e-5'" in msg and "write 1.0e-5" in msg
    assert "remove the quotes" in error_of(project(BASE + "checks:\n  batch-independence: {samples: '2'}\n"))
    assert cfgmod.load(project(BASE + "checks:\n  batch-independence: {tol: 1.0e-5}\n"))


def test_python_api_refuses_the_same_values_with_the_same_text(project):
    from nndoctor.api import _validate_options

    msg = error_of(project(BASE + "checks:\n  overfit-one-batch: {batch_size: 1}\n"))
    with pytest.raises(ValueError) as info:
        _validate_options({"overfit-one-batch": {"batch_size": 1}})
    assert str(info.value) == "nndoctor.diagnose(options=...): " + msg.split(": ", 1)[1]
    with pytest.raises(ValueError, match="checks.train-eval.batches"):
        nndoctor.diagnose(nn.Linear(2, 2), [(torch.zeros(2, 2), torch.zeros(2, 2))], nn.MSELoss(),
                          options={"train-eval": {"batches": 0}})


# -- seeds ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", ["-1", str(2**64), "1.5", "true", "'3'", "null"])
def test_seed_outside_torchs_range_is_one_line(project, seed):
    msg = error_of(project(BASE + f"seed: {seed}\n"))
    assert ":4:" in msg and "key 'seed'" in msg and f"0 to {2**64 - 1}" in msg


def test_seed_flag_outside_the_range_fails_before_the_file_is_read(project):
    from nndoctor.api import run_config

    path = project(BASE + f"seed: {2**64 - 1}\n")
    assert cfgmod.load(path).get("seed") == 2**64 - 1
    for seed in (2**64, -1):
        with pytest.raises(ConfigError, match=f"--seed must be an integer from 0 to {2**64 - 1}"):
            run_config(path, seed=seed)


# -- the file, within bounds ---------------------------------------------------------------------------------------
def test_billion_laughs_fails_fast_and_modest_reuse_loads(project):
    import time

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]  # 10**10 values expanded
    start = time.perf_counter()
    msg = error_of(project(BASE + "\n".join(lines) + "\n"))
    assert time.perf_counter() - start < 0.5
    assert "aliases expand the document past" in msg
    shared = project("model: cfgmod_user:net\ndata: cfgmod_user:loader\nloss: torch.nn:CrossEntropyLoss\n"
                     "data_kwargs: &kw {batch_size: 8}\nval_data: cfgmod_user:loader\nval_data_kwargs: *kw\n"
                     "optimizer_kwargs: &opt {lr: 0.01}\nmodel_kwargs: {<<: {width: 4}, width: 6}\n")
    cfg = cfgmod.load(shared)
    assert cfg.get("val_data_kwargs") == {"batch_size": 8} and cfg.get("model_kwargs") == {"width": 6}


def test_nesting_size_and_key_bounds(project, tmp_path):
    assert "nested more than 32 levels" in error_of(project(BASE + "model_kwargs: " + "[" * 5000 + "\n"))
    assert cfgmod.load(project(BASE + "model_kwargs: {a: " + "[" * 20 + "]" * 20 + "}\n"))
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "#" * (1 << 20) + "\n")
    assert "larger than 1024 KiB" in error_of(str(big))
    msg = error_of(project(BASE + "1: x\n"))
    assert ":4:" in msg and "the key '1' is not a name" in msg
    msg = error_of(project(BASE + "loss: torch.nn:L1Loss\n"))
    assert ":4:" in msg and "duplicate key 'loss' (first on line 3)" in msg


def test_huge_values_are_cut_in_the_message(project):
    msg = error_of(project(BASE + "task: " + "x" * 300_000 + "\n"))
    assert "key 'task'" in msg and len(msg) < 300
    msg = error_of(project(BASE + "checks:\n  overfit-one-batch: {steps: '" + "9" * 300_000 + "'}\n"))
    assert "checks.overfit-one-batch.steps" in msg and "..." in msg and len(msg) < 400


# -- batch: {batch_axis, time_axis} (the inputs' layout) -----------------------------------------------------------
@pytest.mark.parametrize("layout", ["{batch_axis: 1, time_axis: 0}", "{time_axis: 0}", "{batch_axis: null}"])
def test_layout_axes_are_accepted_and_passed_on(project, layout):
    cfg = cfgmod.load(project(BASE + f"batch: {layout}\n"))
    assert set(cfgmod.build(cfg).batch_spec) <= {"batch_axis", "time_axis"}


@pytest.mark.parametrize("layout, words", [("{batch_axis: one}", "axis of the inputs"),
                                           ("{time_axis: -1}", "0 to 7"),
                                           ("{batch_axis: true}", "axis of the inputs"),
                                           ("{batch_axis: 0, time_axis: 0}", "two different axes"),
                                           ("{batch_axes: 1}", "did you mean 'batch_axis'")])
def test_bad_layout_axes_are_one_line_naming_the_key(project, layout, words):
    msg = error_of(project(BASE + f"batch: {layout}\n"))
    assert "batch" in msg and words in msg, msg
