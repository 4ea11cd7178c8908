"""The run config: every key of the contract, and one-line errors naming file, line, key and fix."""
from __future__ import annotations

import os
import textwrap

import pytest

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
