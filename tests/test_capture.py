"""`nndoctor run SCRIPT.py`: capture finds the model, optimizer, loss and loader a plain training script builds,
stops it at its first steps, leaves no hook behind, and diagnoses it as the equivalent config is diagnosed.

Scripts are written to tmp_path (a shared `common.py` holds the data and the network); the bundled ones are in
examples/scripts/, each with its expected exit code in its first comment.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from torch import nn

from conftest import EXAMPLES
from nndoctor.capture import CaptureError
from nndoctor.capture.adapters import AdaptedLoader, RecordedBatches
from nndoctor.capture.api import capture, diagnose_script
from nndoctor.cli import main
from nndoctor.probes.batches import read_batches

SCRIPTS = os.path.join(EXAMPLES, "scripts")
CHEAP = "forward-probe,input-sanity,loss-inputs,train-step"  # a few forward passes, the batches, the loop

COMMON = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def data(n=256, features=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)  # (N, F)
    y = (x @ torch.randn(features, classes, generator=g)).argmax(1)  # (N,)
    return x, y


def loader(batch_size=32, shuffle=True):
    x, y = data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


class Student(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 3))

    def forward(self, x):
        return self.body(x)


class Teacher(Student):
    pass
'''

# One script, its loop chosen by its first argument: each kind is a way loops are written, or go wrong.
LOOP = '''
import sys, time
import torch
import torch.nn.functional as F
from common import Student, loader

kind = sys.argv[1] if len(sys.argv) > 1 else "plain"
torch.manual_seed(0)
model = Student()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
criterion = torch.nn.CrossEntropyLoss()
if kind == "eval":
    model.eval()
for epoch in range(5):
    for i, (x, y) in enumerate(loader()):
        if kind == "sleep":
            time.sleep(60)
        out = model(x)
        if kind == "functional":
            loss = F.cross_entropy(out, y, label_smoothing=0.1)
        else:
            loss = criterion(out, y)
        if kind == "accumulate":
            (loss / 2).backward()
            if i % 2 == 1:
                optimizer.step()
                optimizer.zero_grad()
            continue
        if kind == "no-zero-grad":
            loss.backward(); optimizer.step()
        elif kind == "zero-between":
            loss.backward(); optimizer.zero_grad(); optimizer.step()
        elif kind == "no-step":
            optimizer.zero_grad(); loss.backward()
        else:
            optimizer.zero_grad(); loss.backward(); optimizer.step()
        print(f"step {i}: {loss.item():.3f}")
print("END OF TRAINING")
'''


@pytest.fixture
def scripts(tmp_path, monkeypatch):
    """Write scripts next to `common.py`; forget `common` afterwards (every test writes its own)."""
    (tmp_path / "common.py").write_text(COMMON)

    def write(text: str, name: str = "train.py") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    monkeypatch.chdir(tmp_path)
    yield write
    sys.modules.pop("common", None)


def cli(capsys, monkeypatch, *args):
    """`nndoctor ARGS` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["nndoctor", *map(str, args)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    return info.value.code, out, err


def codes(report) -> list[str]:
    return [f.code for f in report.findings]


# -- what is captured ------------------------------------------------------------------------------------------
def test_captures_model_optimizer_loss_and_loader(scripts):
    c = capture(scripts(LOOP))
    assert type(c.model).__name__ == "Student" and type(c.optimizer).__name__ == "SGD"
    assert isinstance(c.subject.loss, nn.CrossEntropyLoss)
    assert isinstance(c.subject.data, torch.utils.data.DataLoader) and c.subject.batch_spec == {}
    assert c.run.outcome == "steps" and len(c.recording.steps) == 3
    assert c.parts["model"].startswith("Student built at train.py:9, 387 parameters")
    assert "train.py:10" in c.parts["optimizer"] and "train.py:22" in c.parts["loss"]
    assert c.parts["loop"] == "forward -> loss -> zero_grad -> backward -> step, the same in steps 1-3"
    assert c.optimizer.param_groups[0]["momentum"] == 0.9
    fresh = c.subject.optimizer(c.subject.model)
    assert type(fresh) is torch.optim.SGD and fresh.param_groups[0]["lr"] == 0.1
    assert fresh.param_groups[0]["params"][0] is next(c.subject.model.parameters())


def test_the_model_copy_has_its_weights_from_before_the_first_step(scripts):
    c = capture(scripts(LOOP))
    torch.manual_seed(0)
    from common import Student

    initial = Student()
    for name, p in c.subject.model.state_dict().items():
        assert torch.equal(p, initial.state_dict()[name]), name
    assert any(not torch.equal(p, q) for p, q in zip(c.model.parameters(), initial.parameters()))  # it trained
    assert c.subject.model is not c.model


def test_a_functional_loss_becomes_its_module_with_its_arguments(scripts):
    c = capture(scripts(LOOP), args=["functional"])
    assert isinstance(c.subject.loss, nn.CrossEntropyLoss) and c.subject.loss.label_smoothing == 0.1
    assert "F.cross_entropy(label_smoothing=0.1)" in c.parts["loss"]


def test_a_frozen_teacher_and_an_ema_copy_are_not_the_model(scripts):
    c = capture(scripts('''
        import copy, torch
        import torch.nn.functional as F
        from common import Student, Teacher, loader
        teacher = Teacher(hidden=64).requires_grad_(False).eval()
        student = Student()
        ema = copy.deepcopy(student).requires_grad_(False)
        optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
        for x, y in loader():
            logits = teacher(x)  # called first, with autograd on
            out = student(x)
            loss = F.cross_entropy(out, y) + F.kl_div(F.log_softmax(out, -1), F.softmax(logits, -1),
                                                      reduction="batchmean")
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            ema(x)
    '''))
    assert type(c.model).__name__ == "Student" and c.model is not None
    assert isinstance(c.subject.loss, nn.CrossEntropyLoss)
    assert any("Teacher" in n and "not diagnosed" in n for n in c.notes)
    assert "computed from it" in c.parts["loss"]  # backward() runs on the sum, not on the cross-entropy alone


@pytest.mark.parametrize("wrap", ["torch.nn.DataParallel(model)", "torch.compile(model, backend='eager')"])
def test_wrappers_are_unwrapped(scripts, wrap):
    c = capture(scripts(f'''
        import torch
        from common import Student, loader
        model = Student()
        model = {wrap}
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x, y in loader():
            optimizer.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); optimizer.step()
    '''))
    assert type(c.model).__name__ == "Student" and type(c.subject.model).__name__ == "Student"
    assert "called through" in c.parts["model"]


def test_distributed_data_parallel_is_unwrapped(scripts):
    """In its own process: a process group, once made, stays for the life of the process."""
    path = scripts('''
        import os, torch
        import torch.distributed as dist
        from common import Student, loader
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29500 + os.getpid() % 1000))
        dist.init_process_group("gloo", rank=0, world_size=1)
        model = torch.nn.parallel.DistributedDataParallel(Student())
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader():
            optimizer.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); optimizer.step()
    ''')
    exe = os.path.join(os.path.dirname(sys.executable), "nndoctor")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "nndoctor"]
    proc = subprocess.run(cmd + ["run", path, "--select", CHEAP, "--format", "json"], capture_output=True,
                          text=True, timeout=120, cwd=os.path.dirname(path), env={**os.environ, "NO_COLOR": "1"})
    if proc.returncode == 2 and "gloo" in proc.stderr.lower():
        pytest.skip(f"no gloo process group here: {proc.stderr.strip().splitlines()[-1]}")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert "Student built at" in report["captured"]["model"]
    assert "called through DistributedDataParallel" in report["captured"]["model"]


def test_reshapes_between_loader_model_and_loss_are_followed(scripts):
    """A language model: inputs and targets sliced from one token batch, logits and targets flattened."""
    c = capture(scripts('''
        import torch, torch.nn as nn, torch.nn.functional as F
        from torch.utils.data import DataLoader, TensorDataset
        V = 12
        class LM(nn.Module):
            def __init__(self):
                super().__init__(); self.emb = nn.Embedding(V, 16); self.head = nn.Linear(16, V)
            def forward(self, ids):  # (B, T) -> (B, T, V)
                return self.head(self.emb(ids))
        ids = torch.randint(0, V, (128, 9))
        model = LM(); optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for (batch,) in DataLoader(TensorDataset(ids), batch_size=16, shuffle=True):
            logits = model(batch[:, :-1])
            loss = F.cross_entropy(logits.view(-1, V), batch[:, 1:].reshape(-1), ignore_index=0)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
    '''))
    data = c.subject.data
    assert isinstance(data, AdaptedLoader)
    inputs, targets = next(iter(data))
    assert inputs.shape == (16, 8) and targets.shape == (16, 8)  # the checks see (B, T); the loss flattens
    assert isinstance(c.subject.loss, nn.CrossEntropyLoss) and c.subject.loss.ignore_index == 0
    out = torch.randn(16, 8, 12)
    want = torch.nn.functional.cross_entropy(out.view(-1, 12), targets.reshape(-1), ignore_index=0)
    assert torch.allclose(c.subject.loss(out, targets), want)


def test_dict_batches_and_dict_outputs(scripts):
    c = capture(scripts('''
        import torch, torch.nn as nn
        from torch.utils.data import DataLoader, Dataset
        from common import data
        class Rows(Dataset):
            def __init__(self): self.x, self.y = data()
            def __len__(self): return len(self.y)
            def __getitem__(self, i): return {"features": self.x[i], "labels": self.y[i]}
        class Net(nn.Module):
            def __init__(self): super().__init__(); self.lin = nn.Linear(8, 3)
            def forward(self, features): return {"logits": self.lin(features)}
        model = Net(); optimizer = torch.optim.SGD(model.parameters(), lr=0.1); criterion = nn.CrossEntropyLoss()
        for batch in DataLoader(Rows(), batch_size=32, shuffle=True):
            out = model(features=batch["features"])
            loss = criterion(out["logits"], batch["labels"])
            optimizer.zero_grad(); loss.backward(); optimizer.step()
    '''))
    assert c.subject.outputs == "logits" and c.subject.batch_spec == {}
    assert isinstance(c.subject.data, torch.utils.data.DataLoader)


def test_a_model_that_computes_its_own_loss(scripts):
    """Hugging Face's convention without the package: model(**batch) with labels returns {loss, logits}, the loss
    a cross-entropy inside forward on the shifted logits and labels."""
    c = capture(scripts('''
        import torch, torch.nn as nn, torch.nn.functional as F
        from collections import OrderedDict
        from torch.utils.data import DataLoader, Dataset
        V, T = 16, 12
        class Output(OrderedDict):
            __getattr__ = OrderedDict.__getitem__
        class TinyLM(nn.Module):
            def __init__(self):
                super().__init__(); self.emb = nn.Embedding(V, 32); self.lm_head = nn.Linear(32, V)
            def forward(self, input_ids, labels=None, return_dict=True):
                logits = self.lm_head(torch.tanh(self.emb(input_ids)))
                loss = None
                if labels is not None:
                    shift_logits, shift_labels = logits[..., :-1, :].contiguous(), labels[..., 1:].contiguous()
                    loss = F.cross_entropy(shift_logits.view(-1, V), shift_labels.view(-1))
                return Output(loss=loss, logits=logits)
        class Tokens(Dataset):
            def __init__(self): self.ids = torch.randint(0, V, (64, T), generator=torch.Generator().manual_seed(0))
            def __len__(self): return len(self.ids)
            def __getitem__(self, i): return {"input_ids": self.ids[i], "labels": self.ids[i]}
        model = TinyLM(); optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for batch in DataLoader(Tokens(), batch_size=8, shuffle=True):
            out = model(**batch)
            optimizer.zero_grad(); out.loss.backward(); optimizer.step()
    '''))
    assert c.subject.outputs == "logits" and c.loss_call.inside is not None
    assert isinstance(c.subject.loss, nn.CrossEntropyLoss)
    batch = read_batches(c.subject.data, 1, c.subject.batch_spec)[0]  # as the checks unpack it
    inputs, targets = batch.inputs, batch.targets
    assert set(inputs) == {"input_ids"} and targets.shape == inputs["input_ids"].shape  # labels: the loss's
    logits = torch.randn(8, 12, 16)
    want = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 16), targets[:, 1:].reshape(-1))
    assert torch.allclose(c.subject.loss(logits, targets), want)  # the shift is the loss's, as in the model


def test_an_autoencoder_has_its_inputs_as_targets(scripts):
    c = capture(scripts('''
        import torch, torch.nn as nn
        from common import loader
        model = nn.Sequential(nn.Linear(8, 3), nn.Tanh(), nn.Linear(3, 8))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for x, _ in loader():
            loss = nn.functional.mse_loss(model(x), x)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
    '''))
    assert c.subject.batch_spec == {"inputs": 0, "targets": 0} and isinstance(c.subject.loss, nn.MSELoss)


def test_batches_computed_in_the_loop_are_the_ones_recorded(scripts):
    c = capture(scripts('''
        import torch
        from common import Student
        model = Student(); optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        def batches():  # no DataLoader: a generator of raw pixels, scaled in the loop
            g = torch.Generator().manual_seed(0)
            while True:
                yield torch.randint(0, 256, (16, 8), generator=g), torch.randint(0, 3, (16,), generator=g)
        for x, y in batches():
            loss = torch.nn.functional.cross_entropy(model(x.float() / 255), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
    '''))
    assert isinstance(c.subject.data, RecordedBatches) and len(c.subject.data) == 3
    x, _ = c.subject.data[0]
    assert x.dtype == torch.float32 and float(x.max()) <= 1.0  # what the model was given, not the raw batch


def test_a_validation_pass_before_training_gives_the_validation_data(scripts):
    report = diagnose_script(scripts('''
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        from common import Student, data, loader
        x, y = data(seed=1)
        val = DataLoader(TensorDataset(x * 10 + 5, y), batch_size=64)  # BUG: not normalised as the training data
        model = Student(); optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.eval()
        with torch.no_grad():
            print("untrained accuracy", sum(int((model(a).argmax(1) == b).sum()) for a, b in val) / len(x))
        model.train()
        for a, b in loader():
            optimizer.zero_grad(); torch.nn.functional.cross_entropy(model(a), b).backward(); optimizer.step()
    '''), select=["data-splits"])
    assert "val_data" in report.captured and "ND110" in codes(report)


def test_a_learning_rate_schedule_gives_its_initial_lr(scripts):
    c = capture(scripts('''
        import torch
        from common import Student, loader
        model = Student(); optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=100)
        for x, y in loader():
            optimizer.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step(); scheduler.step()
    '''))
    assert c.subject.optimizer(c.subject.model).param_groups[0]["lr"] == 0.01
    assert any("scheduler" in n for n in c.notes)


# -- stopping, and leaving nothing behind -------------------------------------------------------------------------
def _global_state():
    from torch.nn.modules import module as m
    from torch.optim import optimizer as o
    from torch.utils.data import DataLoader
    from torch.utils.data.dataloader import _BaseDataLoaderIter

    return {
        "hooks": (len(m._global_forward_pre_hooks), len(m._global_forward_hooks),
                  len(o._global_optimizer_pre_hooks), len(o._global_optimizer_post_hooks)),
        "modes": torch._C._len_torch_function_stack(),
        "attributes": (nn.Module.__init__, nn.Module.zero_grad, torch.optim.Optimizer.__init__,
                       torch.optim.Optimizer.zero_grad, DataLoader.__init__, DataLoader.__iter__,
                       _BaseDataLoaderIter.__next__, torch.nn.utils.clip_grad_norm_, torch.nn.utils.clip_grad_value_),
        "alarm": signal.getsignal(signal.SIGALRM), "sigint": signal.getsignal(signal.SIGINT),
        "argv": list(sys.argv), "path": list(sys.path), "grad": torch.is_grad_enabled(),
        "streams": (sys.stdout, sys.stderr),
    }


@pytest.mark.parametrize("kind", ["plain", "sleep", "no-step", "raise", "exit"])
def test_no_hook_is_left_behind(scripts, kind):
    before = _global_state()
    text = LOOP.replace('kind == "eval"', 'kind == "raise"').replace("model.eval()", "raise ValueError('bad')")
    text = text.replace("model = Student()", "model = Student()\nif kind == 'exit': sys.exit(3)")
    try:
        capture(scripts(text), args=[kind], deadline=1.0)
    except CaptureError:
        pass
    assert _global_state() == before


def test_the_script_stops_at_the_step_budget(scripts, capsys):
    c = capture(scripts(LOOP), steps=2)
    out, err = capsys.readouterr()
    assert len(c.recording.steps) == 2 and "END OF TRAINING" not in out + err
    assert "step 1:" not in out + err  # stopped inside step 2 (index 1), before its print


def test_a_script_that_never_steps_is_stopped_by_the_deadline(scripts):
    with pytest.raises(CaptureError, match="capture deadline of 1 s.*did not see"):
        capture(scripts(LOOP), args=["sleep"], deadline=1.0)


def test_the_scripts_own_errors_are_reported_as_its_own(scripts, capsys, monkeypatch):
    path = scripts('''
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        parser.parse_args()
    ''')
    code, out, err = cli(capsys, monkeypatch, "run", path, "--", "--lr", "fast")
    assert code == 2 and out == ""
    assert "exited with code 2 before its first optimizer step" in err
    assert "argument --lr: invalid float value: 'fast'" in err.splitlines()[-1]
    path = scripts("import sys\nsys.exit('no GPU found')\n", "exits.py")
    code, _, err = cli(capsys, monkeypatch, "run", path)
    assert code == 2 and "exits.py exited with code 'no GPU found'" in err
    path = scripts("raise FileNotFoundError('data/train.csv')\n", "raises.py")
    code, _, err = cli(capsys, monkeypatch, "run", path)
    assert code == 2 and "raised FileNotFoundError: data/train.csv at" in err and "raises.py:1" in err


def test_a_loss_that_raises_on_a_real_batch_is_nd308(scripts):
    """As in a config run: the forward or the loss failing on a real batch is a finding, not a usage error."""
    report = diagnose_script(scripts('''
        import torch
        from common import Student, loader
        model = Student(); optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        criterion = torch.nn.NLLLoss()
        for x, y in loader():
            loss = criterion(model(x), y + 3)  # labels 3..5 for 3 classes
            optimizer.zero_grad(); loss.backward(); optimizer.step()
    '''), select=["forward-probe"])
    assert codes(report) == ["ND308"] and report.exit_code() == 1
    assert any("before its first optimizer step" in n for n in report.captured["notes"])


# -- the loop's own findings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, expected", [
    ("no-zero-grad", ["ND409"]),
    ("zero-between", ["ND408"]),
    ("no-step", ["ND408"]),
    ("eval", ["ND310"]),
    ("accumulate", []),
    ("plain", []),
])
def test_the_loop_gives_the_train_step_codes(scripts, kind, expected):
    report = diagnose_script(scripts(LOOP), args=[kind], select=["train-step"])
    assert codes(report) == expected
    step = next(c for c in report.checks if c.name == "train-step")
    assert step.status == ("failed" if expected else "passed") and "script's own loop" in step.detail


def test_ignoring_the_train_step_codes_ignores_the_loop_findings(scripts):
    report = diagnose_script(scripts(LOOP), args=["no-zero-grad"], select=["forward-probe", "train-step"],
                             ignore=["ND409"])
    assert "ND409" not in codes(report)


# -- the same diagnosis as a config ----------------------------------------------------------------------------------
def script_for(example: str) -> str:
    """A plain loop over the objects an example's config names, built in the config's order."""
    cfg = yaml.safe_load(open(os.path.join(EXAMPLES, example, "config.yaml")))
    model_mod, model_fn = cfg["model"].split(":")
    data_mod, data_fn = cfg["data"].split(":")
    loss_mod, loss_cls = cfg["loss"].split(":")
    opt_mod, opt_cls = cfg.get("optimizer", "torch.optim:Adam").split(":")
    return f'''
import importlib, sys, torch, {loss_mod}, {opt_mod}
sys.path.insert(0, {os.path.join(EXAMPLES, example)!r})
model = importlib.import_module({model_mod!r}).{model_fn}(**{cfg.get("model_kwargs") or {}!r})
loader = importlib.import_module({data_mod!r}).{data_fn}(**{cfg.get("data_kwargs") or {}!r})
loss_fn = {loss_mod}.{loss_cls}(**{cfg.get("loss_kwargs") or {}!r})
optimizer = {opt_mod}.{opt_cls}(model.parameters(), **{cfg.get("optimizer_kwargs") or {"lr": 1e-3}!r})
for epoch in range(3):
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
'''


@pytest.mark.parametrize("example", ["healthy", "double_softmax", "all_zero_inputs", "sorted_by_label",
                                     "deep_tanh_default_init", "labels_out_of_range"])
def test_a_script_is_diagnosed_as_its_config(scripts, example):
    """Same ranked codes and severities from the config and from a script that builds the same objects
    (deep_tanh_default_init's loader has its own random generator: capture rewinds it)."""
    from nndoctor.api import run_config

    by_config = run_config(os.path.join(EXAMPLES, example, "config.yaml"), device="cpu", quick=True)
    by_script = diagnose_script(scripts(script_for(example)), device="cpu", quick=True)
    assert [(f.code, f.severity) for f in by_script.findings] == [(f.code, f.severity) for f in by_config.findings]
    assert by_script.exit_code() == by_config.exit_code()


# -- the command line --------------------------------------------------------------------------------------------------
def expected_code(script: str) -> tuple[int, str | None]:
    """(exit code, first code) from the first comment of an example script."""
    import re

    head = open(script).read().split('"""')[0]
    exit_code = int(re.search(r"exits (\d)", head).group(1))
    first = re.search(r"(ND\d{3})", head)
    return exit_code, first.group(1) if first else None


BUNDLED = sorted(f for f in os.listdir(SCRIPTS) if f.endswith(".py"))


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scripts_exit_as_their_first_comment_says(capsys, monkeypatch, name):
    path = os.path.join(SCRIPTS, name)
    want_exit, want_code = expected_code(path)
    code, out, err = cli(capsys, monkeypatch, "run", path, "--quick", "--format", "json")
    report = json.loads(out)  # pure JSON: the script's prints went to stderr
    assert code == want_exit, err
    assert report["config"] == os.path.abspath(path) and report["captured"]["steps"] == 3
    if want_code:
        assert report["findings"][0]["code"] == want_code
    else:
        assert report["status"] == "healthy"
    assert "captured: " in err


def test_script_arguments_after_the_separator(capsys, monkeypatch):
    path = os.path.join(SCRIPTS, "with_argparse.py")
    code, out, err = cli(capsys, monkeypatch, "run", path, "--select", CHEAP, "--format", "json", "--",
                         "--lr", "0.02", "--batch-size", "16")
    report = json.loads(out)
    assert code == 0 and "AdamW(lr=0.02" in report["captured"]["optimizer"]
    assert "batch_size 16" in report["captured"]["data"]


def test_run_a_module(scripts, capsys, monkeypatch, tmp_path):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    scripts(LOOP, "mypkg/train.py")
    code, out, err = cli(capsys, monkeypatch, "run", "-m", "mypkg.train", "--select", CHEAP, "--format", "json",
                         "--", "no-zero-grad")
    report = json.loads(out)
    assert code == 1 and report["findings"][0]["code"] == "ND409"
    assert report["config"].endswith(os.path.join("mypkg", "train.py"))
    code, _, err = cli(capsys, monkeypatch, "run", "-m", "mypkg.nowhere")
    assert code == 2 and "no module named 'mypkg.nowhere'" in err


def test_config_runs_take_no_script_arguments(capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "run", os.path.join(EXAMPLES, "healthy", "config.yaml"), "--", "--lr")
    assert code == 2 and "arguments after -- are a training script's" in err
    code, _, err = cli(capsys, monkeypatch, "run")
    assert code == 2 and "missing CONFIG" in err


# -- nndoctor init --from-run ------------------------------------------------------------------------------------------
def test_init_from_run_writes_a_config_that_diagnoses_the_same(scripts, capsys, monkeypatch, tmp_path):
    (tmp_path / "common.py").write_text(COMMON + """

def make_optimizer_free_loader():
    return loader(batch_size=16)
""")
    path = scripts('''
        import torch
        from common import Student, make_optimizer_free_loader

        def main():
            torch.manual_seed(0)
            model = Student(hidden=48)
            loader = make_optimizer_free_loader()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
            criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
            for x, y in loader:
                optimizer.zero_grad(); criterion(model(x), y).backward(); optimizer.step()

        if __name__ == "__main__":
            main()
    ''')
    out = tmp_path / "cfg" / "config.yaml"
    code, _, err = cli(capsys, monkeypatch, "init", out, "--from-run", path)
    assert code in (0, None), err
    cfg = yaml.safe_load(out.read_text())
    assert cfg["model"] == "common:Student" and cfg["model_kwargs"] == {"hidden": 48}
    assert cfg["data"] == "common:loader" and cfg["data_kwargs"] == {"batch_size": 16, "shuffle": True}
    assert cfg["loss"] == "torch.nn:CrossEntropyLoss"
    assert cfg["loss_kwargs"] == {"label_smoothing": 0.05}
    assert cfg["optimizer"] == "torch.optim:SGD"
    assert cfg["optimizer_kwargs"] == {"lr": 0.05, "momentum": 0.9, "nesterov": True}
    assert cfg["pythonpath"] == [".."]
    assert out.read_text().startswith("# Written by `nndoctor init --from-run")
    sys.modules.pop("common", None)
    from nndoctor.api import run_config

    by_config = run_config(str(out), device="cpu", quick=True)
    by_script = diagnose_script(path, device="cpu", quick=True)
    assert [(f.code, f.severity) for f in by_config.findings] == [(f.code, f.severity) for f in by_script.findings]


def test_init_from_run_leaves_todo_lines_for_what_cannot_be_named(scripts, capsys, monkeypatch, tmp_path):
    path = scripts('''
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        from common import Student, data
        model = Student()
        optimizer = torch.optim.Adam(model.parameters())
        for x, y in DataLoader(TensorDataset(*data()), batch_size=8):  # built inline: nothing to import
            optimizer.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); optimizer.step()
    ''')
    code, _, err = cli(capsys, monkeypatch, "init", tmp_path / "c.yaml", "--from-run", path)
    text = (tmp_path / "c.yaml").read_text()
    assert code in (0, None) and "model: common:Student" in text
    assert "data: mypkg.data:train_loader  # TODO: the DataLoader is built at" in text
    assert "data: TODO" in err
    code, _, err = cli(capsys, monkeypatch, "init", tmp_path / "c.yaml", "--from-run", path)
    assert code == 2 and "already exists" in err
