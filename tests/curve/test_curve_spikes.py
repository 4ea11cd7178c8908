"""curve-spikes (ND611): many spikes above the trend are found; batch noise of any size and tail, a few bad batches, a
warm-up and swings are not spikes. The nulls are Gaussian noise of the curve's own scale and noise that goes both
ways, so the healthy side is Gaussian noise from 2% to 60%, Student-t(3) noise, per-sample losses averaged over
batches of 4 to 128 (heavy-tailed near memorisation), and schedules with warm-up."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nndoctor.curve import CurveLog, Series, diagnose_log
from nndoctor.curve.analysers import spikes as spikes_module
from nndoctor.curve.analysers.spikes import candidates, log_binomial_tail, neighbour_median


def loss_curve(n, sigma, seed, warmup=False):
    """2.3 falling to 0.1 (and a 5% linear warm-up of the lr, with its bump, when asked) times log-normal noise."""
    rng = np.random.default_rng(seed)
    u = np.arange(n) / n
    lr = np.where(u < 0.05, u / 0.05, 1.0) if warmup else np.ones(n)
    progress = 25 * np.cumsum(lr) / n
    loss = (0.1 + 2.2 * np.exp(-progress)) * np.exp(sigma * rng.standard_normal(n))
    if warmup:  # the loss climbs 35% at the end of the warm-up, then falls
        loss *= np.exp(0.3 * np.exp(-0.5 * ((u - 0.06) / 0.015) ** 2))
    return loss, lr


def log_of(loss, lr=None):
    steps = np.arange(len(loss), dtype=float)
    return CurveLog("synthetic.csv", "csv", [], {}, Series("loss", steps, np.asarray(loss, float)), None,
                    Series("lr", steps, lr * 1e-3) if lr is not None else None, None, len(loss))


def codes(loss, lr=None):
    """The codes found on the log; the spike analyser must have run to its end (no code from a crash)."""
    report = diagnose_log(log_of(loss, lr))
    assert [c.status for c in report.checks if c.name == "curve-spikes"] in (["passed"], ["failed"]), report.checks
    return [f.code for f in report.findings]


def with_spikes(loss, seed, share, low=1.5, high=2.0, recovery=(1.0, 0.6)):
    """Jumps to low-high x at a share of the rows, the model back over len(recovery) rows (one row: a batch's own
    loss, not a step that threw the model off)."""
    rng = np.random.default_rng(seed + 50)
    out = loss.copy()
    rows = rng.choice(len(out) - len(recovery), max(1, int(share * len(out))), replace=False)
    jump = rng.uniform(low, high, len(rows))
    for i, left in enumerate(recovery):
        out[rows + i] *= jump ** left
    return out


# (rows, noise, share of rows that spike): in 10% noise a spike to 1.5x is only 3.5 sigmas up, so some are lost in
# it and some rows of noise dip as far: it takes more of them
@pytest.mark.parametrize("n,sigma,share", [(2000, 0.02, 0.01), (2000, 0.02, 0.03), (2000, 0.1, 0.03),
                                           (20000, 0.02, 0.01), (20000, 0.1, 0.01), (20000, 0.1, 0.03)])
def test_spikes_of_1_5_to_2x_are_found(n, sigma, share):
    for seed in range(2):
        loss, lr = loss_curve(n, sigma, seed)
        report = diagnose_log(log_of(with_spikes(loss, seed, share), lr))
        # Dense spikes land next to one another, and some stretches are swings (ND605) too, which explain them
        assert {f.code for f in report.findings} in ({"ND611"}, {"ND605", "ND611"}), [f.title for f in report.findings]
        f = next(f for f in report.findings if f.code == "ND611")
        assert f.severity == "warning" and f.evidence["spikes"] >= (0.8 if sigma < 0.05 else 0.3) * share * n
        assert f.evidence["expected_from_noise"] < f.evidence["spikes"] / 10 and f.evidence["threshold"] == "1.5x"
        assert f.evidence["dips"] < f.evidence["spikes"] / 4 and f.explained_by in (None, "ND605")


def test_spikes_of_a_short_log_and_under_heavy_noise():
    loss, lr = loss_curve(600, 0.02, 0)
    assert "ND611" in codes(with_spikes(loss, 0, 0.03), lr)  # 18 spikes in 600 rows (15 are needed)
    loss, lr = loss_curve(20000, 0.3, 0)
    assert "ND611" in codes(with_spikes(loss, 0, 0.01, 3.0, 5.0), lr)  # 3-5x stands out of 30% noise


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.3, 0.6])
@pytest.mark.parametrize("n", [200, 2000, 20000])
def test_batch_noise_of_any_size_and_tail_is_silent(sigma, n):
    for seed in range(3):
        for warmup in (False, True):
            loss, lr = loss_curve(n, sigma, seed, warmup)
            assert "ND611" not in codes(loss, lr)
            heavy = np.random.default_rng(seed + 9).standard_t(3, n) / math.sqrt(3)  # unit variance, heavy tails
            assert "ND611" not in codes(loss * np.exp(sigma * heavy), lr)


@pytest.mark.parametrize("batch", [4, 16, 128])
def test_per_sample_losses_averaged_over_a_batch_are_silent(batch):
    # Per-sample logistic losses (margins ~ N(mu, 2)) averaged over the batch: the noise a real classifier logs.
    # Near memorisation (a mean loss of 0.02) a batch's loss is set by how many hard samples it holds, a count of
    # about 1: it jumps to 2-3x the trend in 1% of the rows, which passes the Gaussian test; it dips as often.
    n = 5000
    for seed in range(3):
        rng = np.random.default_rng(seed)
        mu = np.linspace(0.0, 6.0, n)[:, None]  # (n, 1) the model gets better
        margins = mu + 2.0 * rng.standard_normal((n, batch))  # (n, batch)
        assert "ND611" not in codes(np.logaddexp(0, -margins).mean(axis=1))


@pytest.mark.parametrize("n", [2000, 20000])
def test_jumps_of_one_row_are_batch_noise(n):
    # Near memorisation, a batch that holds one of the few samples not yet fitted doubles the loss for its own row:
    # upward only, in a healthy run (seen on a real MLP at batch 256 under Adam). The next row is back on the trend.
    for seed in range(2):
        loss, lr = loss_curve(n, 0.05, seed)
        assert "ND611" not in codes(with_spikes(loss, seed, 0.02, 1.6, 2.5, recovery=(1.0,)), lr)


def test_a_few_bad_batches_and_swings_are_not_spikes():
    loss, lr = loss_curve(2000, 0.05, 0)
    one, few = loss.copy(), loss.copy()
    one[1000] *= 4
    few[np.arange(100, 2000, 200)] *= 4  # ten, each two rows long: more than Gaussian noise makes, but 2^-10
    few[np.arange(101, 2000, 200)] *= 3  # is only 1e-3
    assert "ND611" not in codes(one, lr) and "ND611" not in codes(few, lr)
    swings = loss.copy()
    for start in range(100, 1950, 100):  # eighteen climbs to 2x that last 6 rows: swings, not spikes
        swings[start:start + 6] *= 2
    assert "ND611" not in codes(swings, lr)
    blips = loss.copy()
    for start in range(100, 1950, 100):  # the same eighteen lasting 2 rows: spikes
        blips[start:start + 2] *= 2
    assert "ND611" in codes(blips, lr)


def test_a_loss_below_zero_is_skipped():
    rng = np.random.default_rng(0)
    u = np.arange(2000) / 2000
    report = diagnose_log(log_of(-1 + 2 * np.exp(-8 * u) + 0.05 * rng.standard_normal(2000)))
    assert {c.name: c.status for c in report.checks}["curve-spikes"] == "skipped"


def test_binomial_tail_matches_the_exact_sum():
    for n, p, k in [(20, 0.1, 5), (200, 1e-3, 3), (200, 0.02, 9)]:
        exact = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))
        assert math.isclose(log_binomial_tail(n, p, k), math.log(exact), rel_tol=1e-9)
    assert log_binomial_tail(100, 0.0, 1) == -math.inf and log_binomial_tail(100, 0.5, 10) == 0.0


def test_neighbour_median_in_chunks_and_without_the_row_itself(monkeypatch):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(1000)
    z[500] = 100.0  # a spike does not lift its own trend
    whole = neighbour_median(z)
    assert abs(whole[500]) < 1.5 and whole[500] == np.median(np.r_[z[496:500], z[501:505]])
    assert whole[0] == np.median(np.r_[[z[0]] * 4, z[1:5]])  # the ends padded with the end value
    for threshold in (1.0, 4.0):
        found = candidates(z, threshold)
        exact = np.flatnonzero(np.abs(z - whole) >= threshold)
        assert 500 in exact and set(exact) <= set(found)  # every row that passes is a candidate
    assert len(found) < 0.1 * len(z)  # and few others at 4 sigmas (spikes count from 3.5 sigmas or more)
    monkeypatch.setattr(spikes_module, "CHUNK", 64)
    assert np.array_equal(neighbour_median(z), whole) and np.array_equal(candidates(z, 4.0), found)
