"""`nndoctor.integrations.huggingface.DoctorCallback` inside a real `Trainer.train` on CPU with a tiny GPT-2 (built
from a config, no download): the run goes on untouched when healthy; a broken loop fails it at `fail_on`. Skipped
when transformers (and accelerate) are absent."""
from __future__ import annotations

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from nndoctor.integrations import DoctorFailed  # noqa: E402
from nndoctor.integrations.huggingface import DoctorCallback  # noqa: E402


class Tokens(Dataset):
    def __init__(self, zeroed: bool = False):
        self.ids = torch.randint(0, 64, (64, 16), generator=torch.Generator().manual_seed(0))
        if zeroed:
            self.ids.zero_()  # every input token the same: nothing to learn from

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def tiny_gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=2, n_head=2))


def train(model, callback, data=None, tmp="out"):
    args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=8, num_train_epochs=1, report_to=[],
                             use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=data or Tokens(), callbacks=[callback])
    trainer.train()
    return trainer


@pytest.fixture(autouse=True)
def _here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _no_hooks_left():
    from torch.nn.modules import module as hooks
    from torch.optim import optimizer as opt_hooks

    return not hooks._global_forward_hooks and not hooks._global_forward_pre_hooks and \
        not opt_hooks._global_optimizer_pre_hooks and not opt_hooks._global_optimizer_post_hooks


def test_a_healthy_run_is_diagnosed_and_goes_on_unchanged(capsys):
    plain = tiny_gpt2()
    train(plain, TrainerCallback())
    watched = tiny_gpt2()
    callback = DoctorCallback(steps=2)
    trainer = train(watched, callback)
    assert trainer.state.global_step == 8  # the whole epoch: 64 samples in batches of 8
    report = callback.report
    assert report is not None and report.status == "healthy", [(f.code, f.title) for f in report.findings]
    assert report.checks and all(c.finished for c in report.checks), [(c.name, c.status) for c in report.checks]
    assert "observed" in report.captured["stopped"]
    assert _no_hooks_left()
    for k, v in plain.state_dict().items():  # observing changes nothing
        assert torch.equal(v, watched.state_dict()[k]), k
    assert "checks" in capsys.readouterr().err


def test_constant_inputs_fail_the_run():
    callback = DoctorCallback(fail_on="error", steps=2)
    with pytest.raises(DoctorFailed) as info:
        train(tiny_gpt2(), callback, Tokens(zeroed=True))
    assert info.value.report is callback.report
    codes = {f.code for f in callback.report.failing("error")}
    assert "ND102" in codes and all(c in str(info.value) for c in codes)  # constant inputs
    assert _no_hooks_left()
