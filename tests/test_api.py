"""The Python API: `nndoctor.diagnose` gives the same checks and results as `nndoctor run` on the same inputs."""
from __future__ import annotations

import importlib
import json
import os
import sys

import pytest
import torch
from torch import nn

import nndoctor
from nndoctor import config as cfgmod
from nndoctor.report import Report

from conftest import EXAMPLES, assert_silent, make_classification, mlp
from test_cli import CHEAP, cli, write_project


def api_inputs(config_path: str) -> dict:
    """What a user of the API would write by hand for the setup a config names: their own objects, built as
    they build them (the model with the run's seed, an optimizer *instance* for it, the loss instantiated)."""
    cfg = cfgmod.load(config_path)
    cfgmod.add_pythonpath(cfg)
    v = cfg.values

    def obj(key):
        module, _, attr = v[key].partition(":")
        out = importlib.import_module(module)
        for part in attr.split("."):
            out = getattr(out, part)
        return out

    torch.manual_seed(v.get("seed", 0))
    model = obj("model")
    model = model if isinstance(model, nn.Module) else model(**(v.get("model_kwargs") or {}))

    def data(key):
        d = obj(key)
        return d(**(v.get(f"{key}_kwargs") or {})) if callable(d) and not hasattr(d, "__iter__") else d

    loss = obj("loss")
    loss = loss(**(v.get("loss_kwargs") or {})) if isinstance(loss, type) else loss
    kwargs = dict(data=data("data"), loss=loss, model=model, val_data=data("val_data") if v.get("val_data") else None,
                  task=v.get("task", "auto"), num_classes=v.get("num_classes"), batch=v.get("batch"),
                  outputs=v.get("outputs"), train_step=obj("train_step") if v.get("train_step") else None,
                  seed=v.get("seed", 0), max_batches=v.get("max_batches", 8), device=v.get("device", "auto"))
    if v.get("optimizer"):
        opt = obj("optimizer")
        if isinstance(opt, type) and issubclass(opt, torch.optim.Optimizer):
            kwargs["optimizer"] = opt(model.parameters(), **(v.get("optimizer_kwargs") or {}))
        else:
            kwargs["optimizer"], kwargs["optimizer_kwargs"] = opt, v.get("optimizer_kwargs")
    elif v.get("optimizer_kwargs"):
        kwargs["optimizer"] = torch.optim.Adam(model.parameters(), **{"lr": 1e-3, **v["optimizer_kwargs"]})
    checks = dict(v.get("checks") or {})
    kwargs["select"], kwargs["ignore"] = checks.pop("select", ()) or (), checks.pop("ignore", ()) or ()
    kwargs["options"] = checks
    return kwargs


def summary(report: dict) -> dict:
    """What must agree: the ranked codes with severity, where, evidence and explained_by, and every check's
    outcome."""
    return {"findings": [(f["rank"], f["code"], f["severity"], f["check"], f["where"], f["explained_by"],
                          f["evidence"]) for f in report["findings"]],
            "checks": [(c["name"], c["status"]) for c in report["checks"]], "status": report["status"]}


def assert_agree(config_path, capsys, monkeypatch, *flags, **api_kwargs):
    code, out, err = cli(capsys, monkeypatch, "run", config_path, "--format", "json", *flags)
    assert code in (0, 1), err
    from_cli = json.loads(out)
    report = nndoctor.diagnose(**{**api_inputs(config_path), **api_kwargs})
    assert summary(report.to_dict()) == summary(from_cli)
    assert int(report.exit_code()) == code
    return report


@pytest.mark.parametrize("example", ["healthy", "ci"])
def test_api_and_cli_agree_on_healthy_examples(example, capsys, monkeypatch):
    report = assert_agree(os.path.join(EXAMPLES, example, "config.yaml"), capsys, monkeypatch, "--quick",
                          quick=True)
    assert_silent(report, skipped={"train-step": "no train_step given"})  # the whole suite ran, to its end
    assert report.status == "healthy" and len(report.checks) >= 2


@pytest.mark.parametrize("example", ["double_softmax", "train_val_shift", "model_eval_in_step", "no_causal_mask",
                                     "flatten_size_mismatch", "sorted_by_label"])
def test_api_and_cli_agree_on_broken_examples(example, capsys, monkeypatch):
    """A sample of the bundled broken examples (data, loss wiring, the user's step, a language model, a crash)."""
    report = assert_agree(os.path.join(EXAMPLES, example, "config.yaml"), capsys, monkeypatch, "--quick", quick=True)
    assert not report.ok


def test_api_and_cli_agree_on_a_broken_setup(tmp_path, capsys, monkeypatch):
    path = write_project(tmp_path, "ndci_api_broken")
    with open(path, "a") as fh:  # raw-pixel-scale inputs: ND103 error, and whatever follows from it
        fh.write("data_kwargs: {scale: 255.0}\n")
    try:
        report = assert_agree(path, capsys, monkeypatch, "--quick", quick=True)
    finally:
        sys.modules.pop("ndci_api_broken", None)
    assert not report.ok and report.findings[0].code == "ND103"


def test_api_and_cli_agree_with_selection_and_options(tmp_path, capsys, monkeypatch):
    path = write_project(tmp_path, "ndci_api_opts")
    with open(path, "a") as fh:
        fh.write("data_kwargs: {scale: 30.0}\nchecks:\n  select: [forward-probe, input-sanity]\n"
                 "  input-sanity: {warn_scale: 50.0}\n")
    try:
        report = assert_agree(path, capsys, monkeypatch)
    finally:
        sys.modules.pop("ndci_api_opts", None)
    assert_silent(report, "forward-probe", "input-sanity")  # the raised threshold silences ND103 in both


# -- the report object -------------------------------------------------------------------------------------
def test_report_object():
    x = torch.randn(64, 8) * 1000  # (N, F): far from unit scale
    data = [(x[i:i + 16], torch.randint(0, 3, (16,))) for i in range(0, 64, 16)]
    report = nndoctor.diagnose(mlp(), data, nn.CrossEntropyLoss, select="forward-probe,input-sanity", device="cpu")
    assert isinstance(report, Report) and not report.ok and report.status == "errors"
    assert [f.rank for f in report.findings] == list(range(1, len(report.findings) + 1))
    assert report.findings[0].code == "ND103" and report.findings[0].evidence["mean_abs"] > 100
    d = report.to_dict()
    assert d == json.loads(report.to_json()) and d["config"] is None
    assert [c["name"] for c in d["checks"]] == ["forward-probe", "input-sanity"]


def test_optimizer_forms_give_the_same_report():
    model = mlp()
    common = dict(select=CHEAP, device="cpu")
    reports = [nndoctor.diagnose(model, make_classification(), nn.CrossEntropyLoss(), opt, **common)
               for opt in (None, torch.optim.Adam(model.parameters(), lr=1e-3), torch.optim.SGD,
                           lambda m: torch.optim.SGD(m.parameters(), lr=0.1))]
    assert_silent(reports[0], *CHEAP.split(","))  # reports that agree because every check crashed would say nothing
    assert all(summary(r.to_dict()) == summary(reports[0].to_dict()) for r in reports)


def test_bad_selector_or_option_raises_with_suggestion():
    args = (mlp(), make_classification(), nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="did you mean 'input-sanity'"):
        nndoctor.diagnose(*args, select=["input-sanit"])
    with pytest.raises(ValueError, match="not a code"):
        nndoctor.diagnose(*args, ignore="ND999")
    with pytest.raises(ValueError, match="did you mean 'warn_scale'"):
        nndoctor.diagnose(*args, options={"input-sanity": {"warn_scal": 3}})


def test_quick_reads_at_most_four_batches():
    class Counting:
        """An iterable of batches that counts what is read from it."""
        def __init__(self):
            self.read = 0

        def __iter__(self):
            for batch in make_classification(batch_size=8):
                self.read += 1
                yield batch

    full, quick = Counting(), Counting()
    nndoctor.diagnose(mlp(), full, nn.CrossEntropyLoss(), select="input-sanity", device="cpu")
    nndoctor.diagnose(mlp(), quick, nn.CrossEntropyLoss(), select="input-sanity", device="cpu", quick=True)
    assert full.read == 8 and quick.read == 4


def test_report_prints_and_shows_in_a_notebook():
    x = torch.randn(64, 8) * 1000  # (N, F)
    data = [(x[i:i + 16], torch.randint(0, 3, (16,))) for i in range(0, 64, 16)]
    report = nndoctor.diagnose(mlp(), data, nn.CrossEntropyLoss(), select="input-sanity", device="cpu")
    assert str(report).startswith("✗ 1 error(s)") and "ND103" in str(report)
    assert report._repr_markdown_().startswith("### ❌ nndoctor:")
