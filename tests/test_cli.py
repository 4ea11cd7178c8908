"""The command line as CI sees it: exit codes 0/1/2, --fail-on, --select/--ignore, --output, one-line errors,
pure JSON on stdout.

Most runs are in-process through `nndoctor.cli.main` (the console-script entry point) with the two cheap checks
selected; two tests start the real `nndoctor` process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from nndoctor.cli import main

CHEAP = "forward-probe,input-sanity"  # fast checks: a few forward passes and batch statistics

# A user's project, made in memory: `scale` blows the inputs up (30: ND103 warning, 1000: ND103 error) and
# `features` != 8 makes the model's first layer reject the batch (ND308).
USER_MODULE = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 8, 3


def make_data(n=256, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F), unit scale
    w = torch.randn(FEATURES, CLASSES, generator=g)
    y = (x @ w).argmax(dim=1)  # (N,) labels depend on the inputs
    return x * scale, y


def train_loader(batch_size=32, scale=1.0):
    x, y = make_data(scale=scale)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


class Net(nn.Module):
    def __init__(self, features=FEATURES, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))

    def forward(self, x):
        return self.body(x)
'''


def write_project(folder, module="ndci_user", config=None) -> str:
    """The user module plus a config.yaml in `folder`; returns the config path."""
    (folder / f"{module}.py").write_text(USER_MODULE)
    text = config if config is not None else f"""
        model: {module}:Net
        data: {module}:train_loader
        loss: torch.nn:CrossEntropyLoss
        optimizer: torch.optim:Adam
        optimizer_kwargs: {{lr: 1.0e-3}}
    """
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def project(tmp_path):
    """Write the user's project (optionally with extra config lines); forget the module afterwards."""
    def make(extra: str = "", module: str = "ndci_user") -> str:
        path = write_project(tmp_path, module)
        if extra:
            with open(path, "a") as fh:
                fh.write(textwrap.dedent(extra))
        return path
    yield make
    for name in [n for n in sys.modules if n.startswith("ndci_")]:
        del sys.modules[name]


def cli(capsys, monkeypatch, *args):
    """Run `nndoctor ARGS` in this process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["nndoctor", *map(str, args)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    return info.value.code, out, err


def report_of(capsys, monkeypatch, *args):
    code, out, err = cli(capsys, monkeypatch, "run", *args, "--format", "json")
    return code, json.loads(out)


# -- exit codes ---------------------------------------------------------------------------------------------
def test_exit_0_when_healthy(project, capsys, monkeypatch):
    code, report = report_of(capsys, monkeypatch, project(), "--select", CHEAP)
    assert code == 0 and report["status"] == "healthy"
    assert [c["name"] for c in report["checks"]] == ["forward-probe", "input-sanity"]


def test_exit_1_on_error_and_warning_gating(project, capsys, monkeypatch):
    broken = project("data_kwargs: {scale: 1000.0}\n")
    code, report = report_of(capsys, monkeypatch, broken, "--select", CHEAP)
    assert code == 1 and report["findings"][0]["code"] == "ND103" and report["findings"][0]["severity"] == "error"


def test_fail_on_warning_gates_on_warnings(project, capsys, monkeypatch):
    path = project("data_kwargs: {scale: 30.0}\n")
    code, report = report_of(capsys, monkeypatch, path, "--select", CHEAP)
    assert report["status"] == "warnings" and [f["code"] for f in report["findings"]] == ["ND103"]
    assert code == 0  # default --fail-on error: a warning does not fail the job
    code, _ = report_of(capsys, monkeypatch, path, "--select", CHEAP, "--fail-on", "warning")
    assert code == 1
    code, _ = report_of(capsys, monkeypatch, path, "--select", CHEAP, "--fail-on", "info")
    assert code == 1


def test_user_code_crash_is_a_finding_not_an_internal_error(project, capsys, monkeypatch):
    path = project("model_kwargs: {features: 5}\n")
    code, report = report_of(capsys, monkeypatch, path, "--select", CHEAP)
    assert code == 1 and report["findings"][0]["code"] == "ND308"
    assert "ndci_user.py" in report["findings"][0]["where"]


# -- selection ----------------------------------------------------------------------------------------------
def test_select_and_ignore_by_code_prefix_and_name(project, capsys, monkeypatch):
    path = project("data_kwargs: {scale: 1000.0}\n")
    _, by_code = report_of(capsys, monkeypatch, path, "--select", "ND103")
    assert [c["name"] for c in by_code["checks"]] == ["input-sanity"]
    assert [f["code"] for f in by_code["findings"]] == ["ND103"]
    # a prefix, in lower case, and a comma list; the other ND1xx checks are ignored to keep this fast
    _, by_prefix = report_of(capsys, monkeypatch, path, "--select", "nd10", "--ignore", "ND109,ND110,ND111")
    assert "input-sanity" in [c["name"] for c in by_prefix["checks"]]
    assert "forward-probe" not in [c["name"] for c in by_prefix["checks"]]
    code, by_name = report_of(capsys, monkeypatch, path, "--select", "forward-probe")
    assert code == 0 and [c["name"] for c in by_name["checks"]] == ["forward-probe"] and not by_name["findings"]
    code, ignored = report_of(capsys, monkeypatch, path, "--select", CHEAP, "--ignore", "ND103")
    assert code == 0 and not ignored["findings"]
    code, ignored = report_of(capsys, monkeypatch, path, "--select", CHEAP, "--ignore", "ND1")
    assert code == 0 and [c["name"] for c in ignored["checks"]] == ["forward-probe"]
    code, ignored = report_of(capsys, monkeypatch, path, "--select", CHEAP, "--ignore", "input-sanity")
    assert code == 0 and [c["name"] for c in ignored["checks"]] == ["forward-probe"]


def test_config_select_and_ignore(project, capsys, monkeypatch):
    path = project("data_kwargs: {scale: 1000.0}\nchecks:\n  select: [forward-probe, input-sanity]\n"
                   "  ignore: [ND103]\n")
    code, report = report_of(capsys, monkeypatch, path)
    assert code == 0 and not report["findings"]
    assert [c["name"] for c in report["checks"]] == ["forward-probe", "input-sanity"]


# -- output -------------------------------------------------------------------------------------------------
def test_json_on_stdout_is_pure_json(project, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "run", project(), "--select", CHEAP, "--format", "json")
    assert out.lstrip().startswith("{") and out.rstrip().endswith("}")
    json.loads(out)
    assert "diagnosing" in err  # progress goes to stderr


@pytest.mark.parametrize("fmt,check", [
    ("json", lambda text: json.loads(text)["status"] == "errors"),
    ("junit", lambda text: text.startswith("<?xml") and "<testsuites" in text),
    ("markdown", lambda text: text.startswith("### ") and "| # | severity | code |" in text),
])
def test_output_writes_the_format_while_terminal_shows_text(project, capsys, monkeypatch, tmp_path, fmt, check):
    path = project("data_kwargs: {scale: 1000.0}\n")
    out_file = tmp_path / "reports" / f"report.{fmt}"
    out_file.parent.mkdir()
    code, out, err = cli(capsys, monkeypatch, "run", path, "--select", CHEAP, "--format", fmt, "--output", out_file)
    assert code == 1
    assert check(out_file.read_text())
    assert "error(s)" in out and "ND103" in out and not out.lstrip().startswith(("{", "<", "#"))  # the text report
    assert f"report written to {out_file}" in err


def test_output_to_a_missing_folder_is_a_usage_error(project, capsys, monkeypatch, tmp_path):
    code, out, err = cli(capsys, monkeypatch, "run", project(), "--select", CHEAP, "--format", "json",
                         "--output", tmp_path / "no" / "such" / "dir" / "r.json")
    assert code == 2 and "cannot write the report" in err and "Traceback" not in err


# -- usage and config errors: one line on stderr, exit 2, never a traceback ---------------------------------
def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("nndoctor: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_unknown_key_is_one_line_with_file_line_and_suggestion(project, capsys, monkeypatch):
    path = project("optimiser_kwargs: {lr: 0.1}\n")
    code, out, err = cli(capsys, monkeypatch, "run", path)
    line = one_line_error(err)
    assert code == 2 and out == ""
    assert f"{path}:7:" in line and "did you mean 'optimizer_kwargs'" in line


def test_bad_check_option_and_selector_are_one_line(project, capsys, monkeypatch):
    path = project("checks:\n  input-sanity:\n    warn_scal: 3\n")
    code, _, err = cli(capsys, monkeypatch, "run", path)
    line = one_line_error(err)
    assert code == 2 and f"{path}:9:" in line and "did you mean 'warn_scale'" in line
    code, _, err = cli(capsys, monkeypatch, "run", project(), "--select", "input-sanit")
    line = one_line_error(err)
    assert code == 2 and "did you mean 'input-sanity'" in line


def test_import_error_and_missing_file_are_one_line(project, capsys, monkeypatch, tmp_path):
    path = project()
    with open(path) as fh:
        text = fh.read().replace("ndci_user:Net", "ndci_user:Nett")
    with open(path, "w") as fh:
        fh.write(text)
    code, _, err = cli(capsys, monkeypatch, "run", path)
    assert code == 2 and "did you mean 'Net'" in one_line_error(err) and ":2:" in one_line_error(err)
    code, _, err = cli(capsys, monkeypatch, "run", tmp_path / "nowhere.yaml")
    assert code == 2 and "no such file" in one_line_error(err)


def test_bad_flag_value_is_a_usage_error(project, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "run", project(), "--format", "xml")
    assert code == 2 and "Traceback" not in err and "--format" in err
    code, out, err = cli(capsys, monkeypatch, "run", project(), "--fail-on", "warnings")
    assert code == 2 and "Traceback" not in err


# -- the real process ---------------------------------------------------------------------------------------
def nndoctor_process(*args, cwd=None):
    exe = os.path.join(os.path.dirname(sys.executable), "nndoctor")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "nndoctor"]
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def test_process_exit_codes_and_pure_json(project):
    broken = project("data_kwargs: {scale: 1000.0}\n")
    proc = nndoctor_process("run", broken, "--select", CHEAP, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)  # stdout holds the JSON object and nothing else
    assert report["findings"][0]["code"] == "ND103"
    proc = nndoctor_process("run", broken + ".missing")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("nndoctor: error:")


# -- the CI example ---------------------------------------------------------------------------------------------
def test_ci_workflow_commands_run(capsys, monkeypatch, tmp_path):
    """The `nndoctor run` lines of examples/ci/nndoctor.yml work as written on the bundled CI config."""
    import shlex

    import yaml

    from conftest import EXAMPLES

    with open(os.path.join(EXAMPLES, "ci", "nndoctor.yml")) as fh:
        workflow = yaml.safe_load(fh)
    (job,) = workflow["jobs"].values()
    env = {**job["env"], "NNDOCTOR_CONFIG": os.path.join(EXAMPLES, "ci", "config.yaml"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    assert env["NNDOCTOR_FAIL_ON"] in ("error", "warning")
    commands = [s["run"] for s in job["steps"] if "nndoctor run" in s.get("run", "")]
    assert len(commands) == 2
    monkeypatch.chdir(tmp_path)
    for command in commands:
        for name, value in env.items():
            command = command.replace(f'"${name}"', shlex.quote(value))
        args = shlex.split(command.split("||")[0])
        assert args[:2] == ["nndoctor", "run"] and "--quick" in args
        code, out, err = cli(capsys, monkeypatch, *args[1:])
        assert code == 0, err  # the bundled example is healthy
        assert "healthy" in out
    assert (tmp_path / "summary.md").read_text().startswith("### ✅ nndoctor: healthy")
    assert (tmp_path / "nndoctor-junit.xml").read_text().startswith("<?xml")


def test_seed_covers_the_models_initialisation(tmp_path, capsys, monkeypatch):
    """`seed` seeds the whole run, the model factory included: the same config gives the same weights, so two
    runs (and the API given a model built after torch.manual_seed(seed)) see the same model."""
    import torch

    (tmp_path / "ndci_seed.py").write_text(textwrap.dedent('''
        from torch import nn
        BUILT = []

        def net():
            model = nn.Linear(8, 3)
            BUILT.append(model.weight.detach().clone())
            return model
    '''))
    (tmp_path / "ndci_user.py").write_text(USER_MODULE)
    path = tmp_path / "config.yaml"
    path.write_text("model: ndci_seed:net\ndata: ndci_user:train_loader\nloss: torch.nn:CrossEntropyLoss\n")
    try:
        for args in ((), (), ("--seed", "3")):
            torch.manual_seed(1234)  # whatever state the process is in
            code, _, err = cli(capsys, monkeypatch, "run", path, "--select", "input-sanity", *args)
            assert code == 0, err
        built = sys.modules["ndci_seed"].BUILT
    finally:
        for name in ("ndci_seed", "ndci_user"):
            sys.modules.pop(name, None)
    torch.manual_seed(0)
    expect0 = torch.nn.Linear(8, 3).weight.detach()
    torch.manual_seed(3)
    expect3 = torch.nn.Linear(8, 3).weight.detach()
    assert torch.equal(built[0], expect0) and torch.equal(built[1], expect0) and torch.equal(built[2], expect3)
