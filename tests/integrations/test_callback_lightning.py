"""`nndoctor.integrations.lightning.DoctorCallback` inside a real `Trainer.fit` on CPU: the run goes on untouched
when healthy; a broken model fails it at `fail_on`. Skipped when Lightning is absent."""
from __future__ import annotations

import pytest

pytest.importorskip("pytorch_lightning")

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from nndoctor.integrations import DoctorFailed  # noqa: E402
from nndoctor.integrations.lightning import DoctorCallback  # noqa: E402


class Lit(pl.LightningModule):
    def __init__(self, softmax: bool = False):
        super().__init__()
        layers = [nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)]
        self.net = nn.Sequential(*layers, *([nn.Softmax(dim=-1)] if softmax else []))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, idx):
        inputs, targets = batch
        return F.cross_entropy(self(inputs), targets)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def loader(own_generator: bool = False):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = (x @ torch.randn(8, 3, generator=g)).argmax(1)
    shuffle = torch.Generator().manual_seed(1) if own_generator else None
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=shuffle)


def fit(module, callback, epochs=2, own_generator=False, max_steps=-1):
    trainer = pl.Trainer(max_epochs=epochs, max_steps=max_steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         callbacks=[callback])
    trainer.fit(module, loader(own_generator))
    return trainer


@pytest.fixture(autouse=True)
def _here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Lightning writes its folders under the current one


def _no_hooks_left():
    from torch.nn.modules import module as hooks
    from torch.optim import optimizer as opt_hooks

    return not hooks._global_forward_hooks and not hooks._global_forward_pre_hooks and \
        not opt_hooks._global_optimizer_pre_hooks and not opt_hooks._global_optimizer_post_hooks


@pytest.mark.parametrize("own_generator", [False, True], ids=["global-rng", "loader-generator"])
def test_a_healthy_run_is_diagnosed_and_goes_on_unchanged(capsys, own_generator):
    torch.manual_seed(0)
    plain = Lit()
    fit(plain, pl.Callback(), own_generator=own_generator)
    torch.manual_seed(0)
    watched = Lit()
    callback = DoctorCallback(steps=3)
    trainer = fit(watched, callback, own_generator=own_generator)
    assert trainer.global_step == 16  # the whole run: 2 epochs of 8 batches
    report = callback.report
    assert report.status == "healthy", [(f.code, f.title) for f in report.findings]
    assert report.checks and all(c.finished for c in report.checks), [(c.name, c.status) for c in report.checks]
    assert report.captured["steps"] >= 3 and "observed" in report.captured["stopped"]
    assert _no_hooks_left()
    # Observing changes nothing: the same weights, to the bit, as the run without the callback.
    for k, v in plain.state_dict().items():
        assert torch.equal(v, watched.state_dict()[k]), k
    assert "healthy" in capsys.readouterr().err.lower()


def test_softmax_before_cross_entropy_fails_the_run():
    torch.manual_seed(0)
    callback = DoctorCallback(fail_on="error", steps=2)
    with pytest.raises(DoctorFailed) as info:
        fit(Lit(softmax=True), callback)
    codes = {f.code for f in callback.report.findings}
    assert "ND202" in codes and info.value.report is callback.report
    assert "ND202" in str(info.value)
    assert _no_hooks_left()


def test_a_run_shorter_than_the_budget_is_diagnosed_at_its_end():
    torch.manual_seed(0)
    callback = DoctorCallback(steps=5)
    fit(Lit(), callback, max_steps=2)
    assert callback.report is not None and callback.report.captured["steps"] == 2
    assert "ran to its end" in callback.report.captured["stopped"]
    assert _no_hooks_left()


def test_fail_on_is_checked():
    with pytest.raises(ValueError, match="fail_on"):
        DoctorCallback(fail_on="fatal")
