"""`nndoctor curve`: every ND6xx code fires on its synthetic curve, in several variants (200 and 20 000 rows, noise
levels, seeds), and healthy curves stay silent (noisy but decreasing, a warm-up bump, step decay, plain exponential
decay, cosine; also a logger's running average, quantised values, a loss near 0, a negative loss, warm restarts with
the lr logged, short per-epoch logs). Then the measurement helpers, the report shape and the command line.

The synthetic runs follow one loss model: gradient flow (the excess over the floor shrinks as exp(-c * integral of
lr)) plus an SGD noise floor proportional to the learning rate, times log-normal batch noise.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys

import numpy as np
import pytest

from nndoctor.cli import main
from nndoctor.catalogue.codes import CODES
from nndoctor.common.options import Option
from nndoctor.curve import ANALYSERS, CurveError, CurveLog, Series, diagnose_log
from nndoctor.curve.analysers import Generalisation
from nndoctor.curve.stats import (autocorrelation, count_swings, mann_kendall_z, moving_mean_residual, noise_sigma,
                                  theil_sen)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CURVES = os.path.join(ROOT, "examples", "curves")


# -- synthetic runs ------------------------------------------------------------------------------------------------
def model_loss(lr, L0=2.303, floor=0.1, c=25.0, kappa=0.15, lag=0.02):
    n = len(lr)
    progress = c * np.cumsum(lr) / n
    # The SGD noise floor follows kappa * lr with a lag of `lag` of the run (an exponential moving average),
    # computed on at most 1000 points and interpolated: it is smooth on that scale.
    m = min(n, 1000)
    coarse = np.interp(np.linspace(0, n - 1, m), np.arange(n), lr)
    a = 1.0 / max(1.0, lag * m)
    smooth = np.empty(m)
    f = kappa * coarse[0]
    for i in range(m):
        f += a * (kappa * coarse[i] - f)
        smooth[i] = f
    noise_floor = np.interp(np.arange(n), np.linspace(0, n - 1, m), smooth)
    return floor + (L0 - floor) * np.exp(-progress) + noise_floor


def noise(rng, n, sigma, heavy=False):
    e = rng.standard_t(3, n) / math.sqrt(3) if heavy else rng.standard_normal(n)
    return np.exp(sigma * e)


def schedule(kind, n):
    u = np.arange(n) / n
    return {
        "const": np.ones(n),
        "warmup_cosine": np.where(u < 0.05, u / 0.05, 0.5 * (1 + np.cos(np.pi * (u - 0.05) / 0.95))),
        "cosine": 0.5 * (1 + np.cos(np.pi * u)),
        "step_decay": np.where(u < 1 / 3, 1.0, np.where(u < 2 / 3, 0.1, 0.01)),
        "step_decay_late": np.where(u < 0.5, 1.0, np.where(u < 0.75, 0.1, 0.01)),
        "warmup_bump": np.where(u < 0.05, u / 0.05, 1.0),
        "too_fast_decay": np.exp(-u / 0.03),
    }[kind]


class Run:
    """A synthetic log: training loss (with lr) and optionally validation loss and an epoch length."""

    def __init__(self, loss, lr=None, val=None, epoch_length=None, steps=None):
        n = len(loss)
        self.steps = np.arange(n, dtype=float) if steps is None else steps
        self.loss, self.lr, self.val, self.epoch_length = loss, lr, val, epoch_length

    def log(self, with_lr=True) -> CurveLog:
        train = Series("loss", self.steps, np.asarray(self.loss, float))
        lr = Series("lr", self.steps, self.lr * 1e-3) if with_lr and self.lr is not None else None
        val = Series("val_loss", *map(np.asarray, self.val)) if self.val is not None else None
        return CurveLog("synthetic.csv", "csv", [], {}, train, val, lr, self.epoch_length, len(train))


def healthy(n, sigma, seed, kind="const", heavy=False, val=False):
    rng = np.random.default_rng(seed)
    lr = schedule(kind, n)
    loss = model_loss(lr) * noise(rng, n, sigma, heavy)
    if kind == "warmup_bump":  # the loss climbs 35% at the end of the warm-up, then falls
        u = np.arange(n) / n
        loss *= np.exp(0.3 * np.exp(-0.5 * ((u - 0.06) / 0.015) ** 2))
    return Run(loss, lr, val=validation(n, seed, sigma_v=sigma / 2) if val else None)


def validation(n, seed, every=None, sigma_v=0.01, turn=None, rise=1.0, gap=0.2):
    rng = np.random.default_rng(seed + 7)
    every = every or max(1, n // 50)
    steps = np.arange(every - 1, n, every, dtype=float)
    u = steps / n
    v = (0.1 + gap + 2.0 * np.exp(-25 * u)) * np.exp(sigma_v * rng.standard_normal(len(steps)))
    if turn is not None:
        v *= np.exp(rise * np.clip(u - turn, 0, None))
    return steps, v


def flat(n, sigma, seed):  # lr 1e-7: nothing moves
    return Run(2.303 * noise(np.random.default_rng(seed), n, sigma), np.full(n, 1e-4))


def nan_dead(n, sigma, seed):  # the loss climbs, then is NaN for good from 60% of the run
    r = healthy(n, sigma, seed)
    u = np.arange(n) / n
    r.loss = r.loss * np.exp(30 * np.clip(u - 0.5, 0, None))
    r.loss[int(0.6 * n):] = np.nan
    return r


def nan_isolated(n, sigma, seed):  # two Inf rows (fp16 overflow skipped by a GradScaler), the run goes on
    r = healthy(n, sigma, seed)
    r.loss[int(0.6 * n): int(0.6 * n) + 2] = np.inf
    return r


def diverging(n, sigma, seed):  # lr past the stable range: the loss turns up at 40% of the run
    r = healthy(n, sigma, seed)
    r.loss = r.loss * np.exp(3.0 * np.clip(np.arange(n) / n - 0.4, 0, None))
    return r


def ascending(n, sigma, seed):  # gradient ascent: rising from the first step
    rng = np.random.default_rng(seed)
    return Run(2.3 * np.exp(2 * np.arange(n) / n) * noise(rng, n, sigma), np.ones(n))


def late_start(n, sigma, seed):  # stuck at ln(10) for 40% of the run, then a sudden drop
    u = np.arange(n) / n
    return Run((0.1 + 2.2 / (1 + np.exp((u - 0.4) / 0.02))) * noise(np.random.default_rng(seed), n, sigma), np.ones(n))


def oscillating(n, sigma, seed):  # spikes of 2-4x that recover, eight times
    r = healthy(n, sigma, seed)
    rng = np.random.default_rng(seed + 100)
    u = np.arange(n) / n
    swing = np.zeros(n)
    for t in np.sort(rng.uniform(0.15, 0.85, 8)):
        swing += rng.uniform(0.7, 1.4) * np.clip((u - t) / 0.01, 0, 1) * np.exp(-np.clip(u - t - 0.01, 0, None) / 0.02)
    r.loss = r.loss * np.exp(swing)
    return r


def sawtooth(n, sigma, seed, epoch_column=True):  # data sorted by class: the loss climbs through every epoch
    r = healthy(n, sigma, seed)
    period = n // 25
    r.loss = r.loss * np.exp(0.4 * ((np.arange(n) % period) / period - 0.5))
    r.epoch_length = float(period) if epoch_column else None
    return r


def overfitting(n, sigma, seed):  # validation turns up at 40% while the training loss keeps falling
    r = healthy(n, sigma, seed)
    r.val = validation(n, seed, turn=0.4)
    return r


def noisy_validation(n, sigma, seed):  # validation on a handful of samples
    r = healthy(n, sigma, seed)
    r.val = validation(n, seed, sigma_v=max(0.1, 5 * sigma))
    return r


def still_improving(n, sigma, seed):
    u = np.arange(n) / n
    return Run((0.1 + 2.2 * np.exp(-2 * u)) * noise(np.random.default_rng(seed), n, sigma), np.ones(n))


def lr_decayed_early(n, sigma, seed):  # ExponentialLR with gamma far too small
    lr = schedule("too_fast_decay", n)
    return Run(model_loss(lr, c=40.0) * noise(np.random.default_rng(seed), n, sigma), lr)


def codes_of(report, at_least="info"):
    order = {"error": 0, "warning": 1, "info": 2}
    return {f.code for f in report.findings if order[f.severity] <= order[at_least]}


# -- every code fires on its curve, in several variants ------------------------------------------------------------
BROKEN = [  # (code, make, noise levels, lengths, codes that may come with it)
    ("ND601", flat, (0.02, 0.1, 0.3), (200, 20000), set()),
    ("ND602", nan_dead, (0.02, 0.1, 0.3), (200, 20000), {"ND603"}),
    ("ND603", diverging, (0.02, 0.1, 0.3), (200, 20000), set()),
    ("ND603", ascending, (0.02, 0.3), (200, 20000), set()),
    ("ND604", late_start, (0.02, 0.1), (200, 20000), set()),
    # At 200 rows a swing lasts a few rows: it is also a spike (ND611), which the swing explains
    ("ND605", oscillating, (0.02, 0.1), (200, 20000), {"ND611"}),
    ("ND605", oscillating, (0.3,), (20000,), set()),
    ("ND606", sawtooth, (0.02, 0.1), (200, 20000), set()),
    ("ND606", lambda n, s, seed: sawtooth(n, s, seed, epoch_column=False), (0.02, 0.1), (200, 20000), set()),
    ("ND606", sawtooth, (0.3,), (20000,), set()),
    ("ND607", overfitting, (0.02, 0.1, 0.3), (200, 20000), set()),
    ("ND608", noisy_validation, (0.02, 0.1, 0.3), (200, 20000), set()),
    ("ND609", still_improving, (0.02,), (200, 20000), set()),
    ("ND609", still_improving, (0.1, 0.3), (20000,), set()),
    ("ND610", lr_decayed_early, (0.02, 0.1, 0.3), (200, 20000), set()),
]
CASES = [pytest.param(code, make, n, sigma, seed, extra, id=f"{code}-{make.__name__}-{n}-{sigma}-{seed}")
         for code, make, sigmas, lengths, extra in BROKEN for n in lengths for sigma in sigmas for seed in (0, 1)]


@pytest.mark.parametrize("code,make,n,sigma,seed,extra", CASES)
def test_code_fires_on_its_curve(code, make, n, sigma, seed, extra):
    report = diagnose_log(make(n, sigma, seed).log())
    found = codes_of(report)
    assert code in found, [f"{f.code}: {f.title}" for f in report.findings]
    assert report.findings[0].code == code  # ranked first
    assert found <= {code} | extra, [f"{f.code}: {f.title}" for f in report.findings]
    assert all(f.explained_by for f in report.findings if f.code in extra)  # what comes with it, it explains


def test_isolated_inf_is_a_warning_and_the_rest_is_still_analysed():
    report = diagnose_log(nan_isolated(2000, 0.05, 0).log())
    assert [(f.code, f.severity) for f in report.findings] == [("ND602", "warning")]
    assert "recovers" in report.findings[0].title


def test_nan_names_its_step_and_explains_the_rise_before_it():
    report = diagnose_log(nan_dead(2000, 0.05, 0).log())
    nan = next(f for f in report.findings if f.code == "ND602")
    assert nan.severity == "error" and nan.evidence["first_step"] == 1200 and "step 1200" in nan.title
    rise = next(f for f in report.findings if f.code == "ND603")
    assert rise.explained_by == "ND602"


def test_a_log_nan_from_its_first_row_and_tiny_logs():
    report = diagnose_log(Run(np.full(50, np.nan)).log())
    assert [(f.code, f.severity) for f in report.findings] == [("ND602", "error")]
    assert {c.name: c.status for c in report.checks}["curve-trend"] == "skipped"
    report = diagnose_log(Run(np.array([2.3, 2.2, 2.1])).log())
    assert not report.findings and report.status == "healthy"


def test_zero_learning_rate_throughout():
    report = diagnose_log(Run(2.303 * noise(np.random.default_rng(0), 500, 0.05), np.zeros(500)).log())
    assert [(f.code, f.severity) for f in report.findings] == [("ND610", "error"), ("ND601", "error")]
    assert "is 0 throughout" in report.findings[0].title  # the cause, ranked first
    assert report.findings[1].explained_by == "ND610"


def test_overfitting_names_the_steps():
    report = diagnose_log(overfitting(20000, 0.05, 0).log())
    f = report.findings[0]
    assert f.code == "ND607"
    assert 0.3 * 20000 <= f.evidence["best_val_step"] <= 0.5 * 20000  # the turn is at 40%
    assert f.evidence["gap_opens_step"] <= f.evidence["best_val_step"] and "gap opens at step" in f.title


# -- healthy curves stay silent ------------------------------------------------------------------------------------
HEALTHY = [pytest.param(kind, n, sigma, with_lr, seed, id=f"{kind}-{n}-{sigma}-{'lr' if with_lr else 'nolr'}-{seed}")
           for kind in ("const", "warmup_cosine", "cosine", "step_decay", "step_decay_late", "warmup_bump")
           for n in (200, 20000) for sigma in (0.02, 0.1, 0.3) for with_lr in (True, False) for seed in (0, 1)]


@pytest.mark.parametrize("kind,n,sigma,with_lr,seed", HEALTHY)
def test_healthy_curves_stay_silent(kind, n, sigma, with_lr, seed):
    report = diagnose_log(healthy(n, sigma, seed, kind, val=bool(seed)).log(with_lr))
    notes = codes_of(report)
    assert not codes_of(report, "warning"), [f"{f.code}: {f.title}" for f in report.findings]
    # A cosine schedule's annealing makes the loss fall to the very end: with the lr logged that is read as the
    # schedule's end; without it, the loss is still falling and a note (info) is truthful.
    allowed = {"ND609"} if kind in ("cosine", "warmup_cosine") and not with_lr else set()
    assert notes <= allowed, [f"{f.code}: {f.title}" for f in report.findings]


@pytest.mark.parametrize("n", [200, 20000])
@pytest.mark.parametrize("heavy", [False, True])
def test_noisy_but_decreasing_stays_silent(n, heavy):
    # heavy: Student-t(3) noise, which jumps to 5x the trend in 1% of the rows, and dips as far as often: not spikes
    for seed in range(3):
        report = diagnose_log(healthy(n, 0.6, seed, heavy=heavy).log())
        assert not codes_of(report), [f"{f.code}: {f.title}" for f in report.findings]


def ema(x, a):
    out, m = np.empty_like(x), x[0]
    for i, v in enumerate(x):
        m = (1 - a) * m + a * v
        out[i] = m
    return out


@pytest.mark.parametrize("variant", ["running_average", "quantised", "near_zero", "negative", "restarts_lr",
                                     "per_epoch", "healthy_validation"])
def test_other_healthy_logs_stay_silent(variant):
    for seed in range(2):
        for n in (200, 20000):
            rng = np.random.default_rng(seed)
            u = np.arange(n) / n
            if variant == "running_average":  # a logger's exponential moving average of noisy batch losses
                r = healthy(n, 0.3, seed)
                r.loss = ema(r.loss, 0.05)
            elif variant == "quantised":  # logged with two decimals
                r = healthy(n, 0.1, seed)
                r.loss = np.round(r.loss, 2)
            elif variant == "near_zero":  # memorising to 1e-4, with batch noise growing as the loss shrinks
                base = 1e-4 + 2.3 * np.exp(-15 * u)
                r = Run(base * np.exp(rng.standard_normal(n) * (0.1 + (1 - base / 2.3))))
            elif variant == "negative":  # a loss that goes below 0 (a log-likelihood of a density)
                r = Run(-1 + 2 * np.exp(-8 * u) + 0.05 * rng.standard_normal(n))
            elif variant == "restarts_lr":  # cosine with warm restarts, the lr logged
                lr = 0.5 * (1 + np.cos(np.pi * (np.arange(n) % (n // 4)) / (n // 4)))
                r = Run(model_loss(lr) * noise(rng, n, 0.05), lr)
            elif variant == "per_epoch":  # a short Keras-style log: one row per epoch, with validation
                E = 10 + n // 1000
                e = np.arange(E) / E
                r = Run(0.2 + 1.5 * np.exp(-6 * e) * noise(rng, E, 0.01),
                        val=(np.arange(E, dtype=float), 0.3 + 1.4 * np.exp(-6 * e) * noise(rng, E, 0.02)))
            else:
                r = healthy(n, 0.1, seed, val=True)
            report = diagnose_log(r.log())
            assert not codes_of(report), (variant, n, seed, [f"{f.code}: {f.title}" for f in report.findings])


# -- measurement helpers -------------------------------------------------------------------------------------------
def test_noise_sigma_ignores_a_smooth_trend():
    rng = np.random.default_rng(0)
    x = np.linspace(3, 0, 5000) ** 2 + 0.1 * rng.standard_normal(5000)
    assert noise_sigma(x) == pytest.approx(0.1, rel=0.1)


def test_mann_kendall_and_theil_sen():
    rng = np.random.default_rng(1)
    flat_z = [mann_kendall_z(rng.standard_normal(200)) for _ in range(20)]
    assert max(abs(z) for z in flat_z) < 4  # about N(0, 1) without a trend
    falling = -0.01 * np.arange(200) + 0.1 * rng.standard_normal(200)
    assert mann_kendall_z(falling) < -10 and theil_sen(falling) == pytest.approx(-0.01, rel=0.1)


def test_autocorrelation_of_a_period_and_detrending():
    t = np.arange(4000)
    x = 0.001 * t + np.sin(2 * np.pi * t / 50)  # a trend plus a period of 50
    r = moving_mean_residual(x, 50)
    assert np.abs(r).max() == pytest.approx(1.0, abs=0.05)  # the trend is gone, the pattern kept
    acf = autocorrelation(r, 100)
    assert acf[50] > 0.95 and acf[100] > 0.95 and acf[25] < -0.95


def test_count_swings():
    up_down = np.array([0, 1, 0, 1, 0, 1, 0.0])
    assert count_swings(up_down, 0.5) == (3, 1.0)
    assert count_swings(up_down, 1.5)[0] == 0
    assert count_swings(np.linspace(1, 0, 50), 0.1)[0] == 0  # a falling curve never swings


def test_analysers_are_documented_with_named_options():
    for cls in ANALYSERS:
        doc = cls.__doc__
        assert "What it catches" in doc and "Why it matters" in doc and "How to fix it" in doc, cls.name
        assert cls.codes and all(code in CODES and code.startswith("ND6") for code in cls.codes)
        assert cls.name.startswith("curve-")
    assert sorted(c for cls in ANALYSERS for c in cls.codes) == [f"ND6{i:02d}" for i in range(1, 12)]


def test_a_crashing_analyser_is_reported_and_the_others_still_run(monkeypatch):
    trend = next(cls for cls in ANALYSERS if cls.name == "curve-trend")

    def boom(self, curves):
        raise RuntimeError("bug")
        yield  # pragma: no cover

    monkeypatch.setattr(trend, "run", boom)
    report = diagnose_log(nan_dead(500, 0.05, 0).log())
    status = {c.name: c.status for c in report.checks}
    assert status["curve-trend"] == "crashed" and status["curve-finite"] == "failed"
    detail = next(c.detail for c in report.checks if c.name == "curve-trend")
    assert detail.startswith("RuntimeError: bug at ") and "test_curve.py" in detail  # where it crashed


def test_analyser_options_are_declared_with_type_range_and_help():
    for cls in ANALYSERS:
        for key, opt in cls.declared_options().items():
            assert isinstance(cls.options[key], Option), (cls.name, key)
            assert opt.help and opt.problem(opt.default) is None, (cls.name, key)
    assert Generalisation.declared_options()["noise_ratio"].problem("3") is not None  # the type is checked


@pytest.mark.parametrize("options,message", [
    ({"curve-trnd": {}}, "'curve-trnd' is not a curve analyser; did you mean 'curve-trend'?"),
    ({"curve-trend": {"flat_dro": 0.1}}, "'curve-trend' has no option 'flat_dro'; did you mean 'flat_drop'?"),
    ({"curve-trend": {"tail": 2.0}}, "'curve-trend.tail': expected a number from 0 to 1 (default 0.2), got 2.0"),
])
def test_bad_analyser_options_are_one_line(options, message):
    with pytest.raises(CurveError, match=re.escape(message)):
        diagnose_log(healthy(200, 0.1, 0).log(), options=options)
    report = diagnose_log(late_start(2000, 0.02, 0).log(), options={"curve-late-start": {"plateau": 0.9}})
    assert "ND604" not in codes_of(report)  # an option given is used


@pytest.mark.parametrize("make", [healthy, oscillating, sawtooth, overfitting, lr_decayed_early, nan_dead,
                                  lambda n, s, seed: healthy(n, s, seed, "warmup_cosine", val=True)])
def test_measuring_a_long_curve_in_chunks_changes_nothing(monkeypatch, make):
    """The whole-curve steps work CHUNK values at a time (a 10-million-row log would otherwise copy 80 MB at each
    step); any chunk size gives the same report, bit for bit."""
    import nndoctor.curve.analysers.periodicity as periodicity
    import nndoctor.curve.stats as stats

    def outcome(report):
        out = report.to_dict()
        out.pop("seconds")
        for check in out["checks"]:
            check.pop("seconds")
        return json.dumps([out, [c.plots for c in report.checks]])  # NaN is "NaN" here, equal to itself

    run = make(20000, 0.1, 0)
    whole = outcome(diagnose_log(run.log()))
    monkeypatch.setattr(stats, "CHUNK", 1000)
    monkeypatch.setattr(periodicity, "CHUNK", 1000)
    assert outcome(diagnose_log(run.log())) == whole


@pytest.mark.parametrize("code", ["import nndoctor.curve",
                                  "from nndoctor.cli import main; sys.argv = ['nndoctor', 'explain', 'ND601']\n"
                                  "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None)"])
def test_curve_and_explain_do_not_import_torch(code):
    """`nndoctor curve` is for machines without torch, and `explain` should start in a blink."""
    import subprocess

    script = f"import sys\n{code}\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


# -- the command line ----------------------------------------------------------------------------------------------
def cli(capsys, monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["nndoctor", "curve", *map(str, args)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    return info.value.code, out, err


SAMPLES = [("healthy.csv", None), ("step_decay.csv", None), ("not_learning.csv", "ND601"), ("nan.jsonl", "ND602"),
           ("diverging.csv", "ND603"), ("late_start.csv", "ND604"), ("oscillating.csv", "ND605"),
           ("sawtooth.csv", "ND606"), ("overfitting.csv", "ND607"), ("noisy_val.csv", "ND608"),
           ("still_improving.csv", "ND609"), ("lr_decayed_early.csv", "ND610"), ("step_decay_resnet.csv", None),
           ("spiky.csv", "ND611")]


@pytest.mark.parametrize("name,code", SAMPLES)
def test_sample_logs(capsys, monkeypatch, name, code):
    rc, out, _ = cli(capsys, monkeypatch, os.path.join(CURVES, name), "--format", "json")
    report = json.loads(out)
    if code is None:
        assert report["status"] == "healthy" and not report["findings"] and rc == 0
        return
    assert report["findings"][0]["code"] == code
    assert rc == (1 if CODES[code].severity == "error" else 0)
    assert os.path.getsize(os.path.join(CURVES, name)) < 200_000


def test_json_report_shape(capsys, monkeypatch):
    rc, out, err = cli(capsys, monkeypatch, os.path.join(CURVES, "overfitting.csv"), "--format", "json")
    report = json.loads(out)  # stdout is pure JSON
    assert set(report) == {"schema_version", "nndoctor_version", "config", "status", "findings", "checks", "seconds"}
    assert report["config"].endswith("overfitting.csv") and report["status"] == "warnings"
    assert [c["name"] for c in report["checks"]] == [cls.name for cls in ANALYSERS]
    assert {c["status"] for c in report["checks"]} <= {"passed", "failed", "skipped"}
    f = report["findings"][0]
    assert set(f) == {"rank", "code", "name", "severity", "check", "title", "where", "evidence", "fix",
                      "explained_by"}
    assert (f["rank"], f["code"], f["name"], f["check"]) == (1, "ND607", "curve-overfitting", "curve-generalisation")
    assert isinstance(f["evidence"]["gap_opens_step"], int) and f["where"].startswith("from step")


def test_text_report_draws_the_curves(capsys, monkeypatch):
    rc, out, err = cli(capsys, monkeypatch, os.path.join(CURVES, "nan.jsonl"))
    assert rc == 1 and "ND602" in out and "training loss (loss), 2000 rows" in out and "×" in out
    assert "train=loss" in err and "step=step" in err  # the columns it recognised


def test_exit_codes_and_fail_on(capsys, monkeypatch):
    assert cli(capsys, monkeypatch, os.path.join(CURVES, "healthy.csv"), "-f", "json")[0] == 0
    assert cli(capsys, monkeypatch, os.path.join(CURVES, "diverging.csv"), "-f", "json")[0] == 1
    warning = os.path.join(CURVES, "sawtooth.csv")
    assert cli(capsys, monkeypatch, warning, "-f", "json")[0] == 0
    assert cli(capsys, monkeypatch, warning, "-f", "json", "--fail-on", "warning")[0] == 1
    info = os.path.join(CURVES, "still_improving.csv")
    assert cli(capsys, monkeypatch, info, "-f", "json", "--fail-on", "warning")[0] == 0
    assert cli(capsys, monkeypatch, info, "-f", "json", "--fail-on", "info")[0] == 1


def test_select_and_ignore(capsys, monkeypatch):
    path = os.path.join(CURVES, "nan.jsonl")
    _, out, _ = cli(capsys, monkeypatch, path, "-f", "json", "--ignore", "ND603")
    assert [f["code"] for f in json.loads(out)["findings"]] == ["ND602"]
    _, out, _ = cli(capsys, monkeypatch, path, "-f", "json", "--select", "curve-trend,nd60")
    report = json.loads(out)
    assert "curve-trend" in [c["name"] for c in report["checks"]]
    _, out, _ = cli(capsys, monkeypatch, path, "-f", "json", "--select", "curve-finite")
    report = json.loads(out)
    assert [c["name"] for c in report["checks"]] == ["curve-finite"] and report["findings"][0]["code"] == "ND602"
    rc, out, err = cli(capsys, monkeypatch, path, "--select", "curve-trnd")
    assert rc == 2 and "did you mean 'curve-trend'" in err and not out


def test_output_file_and_other_formats(capsys, monkeypatch, tmp_path):
    target = tmp_path / "report.xml"
    rc, out, err = cli(capsys, monkeypatch, os.path.join(CURVES, "diverging.csv"), "-f", "junit", "-o", target)
    assert rc == 1 and "<testsuites" in target.read_text() and 'name="curve-trend"' in target.read_text()
    rc, out, _ = cli(capsys, monkeypatch, os.path.join(CURVES, "diverging.csv"), "-f", "markdown")
    assert "ND603 curve-diverges" in out


@pytest.mark.parametrize("args,message", [
    (["missing.csv"], "no such file"),
    (["{tmp}/noloss.csv"], "no training-loss column among: step, foo; name it with --train COLUMN"),
    (["{tmp}/noloss.csv", "--train", "fo"], "no column 'fo' (--train); did you mean 'foo'?"),
    (["{tmp}/bad.jsonl"], "line 1 is not JSON"),
    (["{tmp}/cell.csv"], "line 3 has a cell of 1000000 characters, more than 131072"),
    (["{tmp}/deep.jsonl"], "line 1 is JSON nested more than 64 levels deep"),
    (["{tmp}/text.csv", "--train", "loss"], "the column 'loss' (--train) holds text, not numbers (line 2: 'x')"),
    (["{tmp}/binary.csv"], "not a text log"),
    (["{tmp}/empty.csv"], "the log is empty"),
    (["{tmp}/header.csv"], "the log has column names but no rows of values"),
    (["{tmp}/curve.csv", "--select", "ND7O1"], "'ND7O1' is not a code, code prefix or curve analyser (curve-finite,"),
])
def test_bad_input_exits_2_with_one_line(capsys, monkeypatch, tmp_path, args, message):
    (tmp_path / "noloss.csv").write_text("step,foo\n1,2\n")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    (tmp_path / "cell.csv").write_text("step,loss\n0,2.3\n1," + "9" * 1_000_000 + "\n")
    (tmp_path / "deep.jsonl").write_text('{"loss": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (tmp_path / "text.csv").write_text("step,loss\n" + "".join(f"{i},x\n" for i in range(300)))
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("step,loss\n")
    (tmp_path / "curve.csv").write_text("step,loss\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(300)))
    rc, out, err = cli(capsys, monkeypatch, *[a.format(tmp=tmp_path) for a in args])
    assert rc == 2 and not out
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
