"""`nndoctor init`: a commented template naming every config key, filled in from the user's module, that runs as
written; never overwrites a file without --force."""
from __future__ import annotations

import os
import re
import sys
import textwrap

import pytest
import yaml

from nndoctor import config as cfgmod

from test_cli import CHEAP, USER_MODULE, cli

TRAIN_SCRIPT = '''
"""A user's training script: the model, the loaders, the loss and optimizer live inside main()."""
import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return torch.relu(self.fc(x)) + x


class Classifier(nn.Module):
    def __init__(self, features=8, width=32, classes=3):
        super().__init__()
        self.inp = nn.Linear(features, width)
        self.block = Block(width)
        self.out = nn.Linear(width, classes)

    def forward(self, x):
        return self.out(self.block(self.inp(x)))


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)  # (N, F)
    y = (x @ torch.randn(8, 3, generator=g)).argmax(dim=1)  # (N,)
    return TensorDataset(x, y)


def train_loader(batch_size=32):
    return DataLoader(_data(256, 0), batch_size=batch_size, shuffle=True)


def val_loader(batch_size=64):
    return DataLoader(_data(128, 1), batch_size=batch_size)


def train_step(model, batch, loss_fn, optimizer):
    x, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def main():
    model = Classifier()
    optimizer = optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    for epoch in range(10):
        for batch in train_loader():
            train_step(model, batch, criterion, optimizer)


if __name__ == "__main__":
    main()
'''


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty project folder as the current directory; forgets the modules it imported."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("ndinit_")]:
        del sys.modules[name]


def live(text: str) -> dict:
    return yaml.safe_load(text) or {}


def test_template_names_every_key_with_a_comment(workdir, capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "init")
    assert code == 0 and "wrote config.yaml" in err
    text = (workdir / "config.yaml").read_text()
    lines = text.splitlines()
    for key in cfgmod.KEYS:
        at = [i for i, line in enumerate(lines) if re.match(rf"^(# )?{key}:", line)]
        assert at, f"the template does not name `{key}`"
        i = at[0] - 1  # a comment explains it, in the paragraph above
        while i >= 0 and lines[i].strip() and not lines[i].startswith("# ") or \
                (i >= 0 and re.match(r"^# [a-z_]+:", lines[i])):
            i -= 1
        assert i >= 0 and lines[i].startswith("# ") and len(lines[i]) > 20, f"`{key}` has no comment"
    assert set(live(text)) == set(cfgmod.REQUIRED)  # the optional keys are commented out
    # Every commented-out example is valid: uncommented, the whole file passes validation.
    opened = re.sub(r"^# (?=[a-z_]+:|  )", "", text, flags=re.M)
    assert set(live(opened)) == set(cfgmod.KEYS)
    (workdir / "all.yaml").write_text(opened)
    cfgmod.load(str(workdir / "all.yaml"))


def test_placeholder_template_fails_with_one_line(workdir, capsys, monkeypatch):
    cli(capsys, monkeypatch, "init")
    code, out, err = cli(capsys, monkeypatch, "run", "config.yaml")
    assert code == 2 and "Traceback" not in err
    assert "cannot import 'mypkg.models'" in err and "config.yaml:8:" in err


def test_never_overwrites_without_force(workdir, capsys, monkeypatch):
    (workdir / "config.yaml").write_text("model: mine:Net\n")
    code, _, err = cli(capsys, monkeypatch, "init")
    assert code == 2 and err.strip() == "nndoctor: error: config.yaml already exists; use --force to overwrite it"
    assert (workdir / "config.yaml").read_text() == "model: mine:Net\n"
    code, _, _ = cli(capsys, monkeypatch, "init", "--force")
    assert code == 0 and "--- required" in (workdir / "config.yaml").read_text()


def test_filled_from_a_training_script_runs_as_written(workdir, capsys, monkeypatch):
    (workdir / "ndinit_train.py").write_text(TRAIN_SCRIPT)
    code, _, err = cli(capsys, monkeypatch, "init", "--from", "ndinit_train")
    assert code == 0, err
    text = (workdir / "config.yaml").read_text()
    values = live(text)
    assert values == {
        "model": "ndinit_train:Classifier",  # the top-level module, not its Block
        "data": "ndinit_train:train_loader",
        "val_data": "ndinit_train:val_loader",
        "loss": "torch.nn:CrossEntropyLoss",  # found in main()'s source, with its literal arguments
        "loss_kwargs": {"label_smoothing": 0.1},
        "optimizer": "torch.optim:AdamW",
        "optimizer_kwargs": {"lr": 3e-4, "weight_decay": 0.01},
        "train_step": "ndinit_train:train_step",
    }
    assert "# found in ndinit_train: nn.CrossEntropyLoss(label_smoothing=0.1)" in text  # where it came from
    assert "model: ndinit_train:Classifier" in err  # init says what it found
    code, out, err = cli(capsys, monkeypatch, "run", "config.yaml", "--select", CHEAP, "--format", "json")
    assert code == 0, err


def test_required_arguments_are_left_to_fill_in(workdir, capsys, monkeypatch):
    (workdir / "ndinit_req.py").write_text(textwrap.dedent('''
        from torch import nn

        class Net(nn.Module):
            def __init__(self, num_classes, hidden=16):
                super().__init__()
                self.fc = nn.Linear(8, num_classes)

            def forward(self, x):
                return self.fc(x)

        def get_loader(root, batch_size=8):
            raise NotImplementedError
    '''))
    code, _, err = cli(capsys, monkeypatch, "init", "--from", "ndinit_req")
    assert code == 0, err
    text = (workdir / "config.yaml").read_text()
    assert "model_kwargs: {num_classes: null}  # TODO" in text and "data_kwargs: {root: null}  # TODO" in text
    assert "loss: torch.nn:CrossEntropyLoss  # TODO" in text  # nothing found: a placeholder flagged TODO
    assert "not found in ndinit_req: loss" in err
    cfgmod.load(str(workdir / "config.yaml"))  # valid as written; the TODO values are the user's to give


def test_names_on_the_command_line_and_a_config_in_a_subfolder(workdir, capsys, monkeypatch):
    (workdir / "ndinit_user.py").write_text(USER_MODULE)
    code, _, err = cli(capsys, monkeypatch, "init", "ci/", "--model", "ndinit_user:Net",
                       "--data", "ndinit_user:train_loader", "--loss", "torch.nn:CrossEntropyLoss")
    assert code == 0, err
    values = live((workdir / "ci" / "config.yaml").read_text())
    assert values == {"model": "ndinit_user:Net", "data": "ndinit_user:train_loader",
                      "loss": "torch.nn:CrossEntropyLoss", "pythonpath": [".."]}
    monkeypatch.chdir(workdir / "ci")
    code, _, err = cli(capsys, monkeypatch, "run", "config.yaml", "--select", CHEAP, "--format", "json")
    assert code == 0, err


def test_bad_arguments_are_one_line_usage_errors(workdir, capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "init", "--model", "ndinit_user.Net")
    assert code == 2 and "expected 'module:attr'" in err and err.count("\n") == 1
    assert not (workdir / "config.yaml").exists()
    code, _, err = cli(capsys, monkeypatch, "init", "--from", "ndinit_no_such_module")
    assert code == 2 and "cannot import 'ndinit_no_such_module'" in err and "Traceback" not in err
    (workdir / "ndinit_raises.py").write_text("raise RuntimeError('needs a GPU cluster')\n")
    code, _, err = cli(capsys, monkeypatch, "init", "--from", "ndinit_raises")
    assert code == 2 and "RuntimeError: needs a GPU cluster" in err and "Traceback" not in err


# -- configs/: the shipped template and option reference stay in step with the code ----------------------------------
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def test_shipped_configs_match_the_code():
    from nndoctor.config.scaffold import options_reference, template

    with open(os.path.join(CONFIGS, "template.yaml")) as fh:
        assert fh.read() == template(), "configs/template.yaml is stale: run `make configs`"
    with open(os.path.join(CONFIGS, "checks.yaml")) as fh:
        assert fh.read() == options_reference(), "configs/checks.yaml is stale: run `make configs`"


def test_option_reference_is_a_valid_checks_section_with_every_default():
    from nndoctor.config import RunConfig, validate_checks_section
    from nndoctor.engine.registry import all_checks

    with open(os.path.join(CONFIGS, "checks.yaml")) as fh:
        section = yaml.safe_load(fh)["checks"]
    validate_checks_section(RunConfig(path=os.path.join(CONFIGS, "checks.yaml"), values={"checks": section}))
    for name, cls in all_checks().items():
        shipped = section[name] or {}
        defaults = {k: o.default for k, o in cls.declared_options().items()}
        assert {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()} == shipped, name


def test_option_reference_states_each_declared_unit_and_range():
    """configs/checks.yaml is written from the Option declarations: each line carries the help, unit and range."""
    from nndoctor.config.loader import allowed
    from nndoctor.engine.registry import all_checks

    with open(os.path.join(CONFIGS, "checks.yaml")) as fh:
        text = fh.read()
    for cls in all_checks().values():
        for name, option in cls.declared_options().items():
            facts = "; ".join(p for p in (option.unit, allowed(option)) if p)
            assert f"    {name}: " in text and f"{option.help} [{facts}]" in text, (cls.name, name)
