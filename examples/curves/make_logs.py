"""Write the sample training logs of this folder (numpy only, deterministic): `python make_logs.py`.

Each log is a plausible run with one thing wrong (or nothing, for healthy.csv), for `nndoctor curve`:

| file | what is in it | expected |
|---|---|---|
| healthy.csv | warm-up then cosine decay, validation every 100 steps, epoch column | healthy (exit 0) |
| step_decay.csv | StepLR (x0.1 at 1/3 and 2/3 of the run), loss plateaued before each cut | healthy (exit 0) |
| not_learning.csv | lr 1e-7: the loss stays at ln(10) | ND601 |
| nan.jsonl | JSON lines; the loss climbs, then is NaN from step 1500 | ND602 (with ND603) |
| diverging.csv | lr too high: the loss turns upward at 40% of the run | ND603 |
| late_start.csv | a long plateau at ln(10), then a sudden drop (too small an init) | ND604 |
| oscillating.csv | loss spikes that recover, again and again (lr too high) | ND605 |
| sawtooth.csv | a pattern repeating every epoch (data sorted by class, not shuffled) | ND606 |
| overfitting.csv | validation loss turns up at 35% while training loss keeps falling | ND607 |
| noisy_val.csv | validation on a handful of samples: far noisier than training | ND608 |
| still_improving.csv | stopped while the loss still falls clearly | ND609 (info, exit 0) |
| lr_decayed_early.csv | ExponentialLR with a gamma far too small: the lr is ~0 by 15% of the run | ND610 |
| step_decay_resnet.csv | ResNet recipe: StepLR x0.1 every third, the loss still falling before each cut | healthy |
| spiky.csv | the loss jumps to 1.5-2.5x its trend in 1% of the rows and is back 2 rows later | ND611 |
| lr_far_too_high.csv | lr 1.0: stuck at chance, 2-3x jumps back in 3 rows, NaN at 1400 | ND602 (+ND601, ND605, ND611) |
| sorted_by_length.csv | not shuffled, sorted by length: the loss climbs 2x in each of 8 epochs | ND606 (+ND605) |
| overfitting_per_epoch.csv | Keras history, a row per epoch: val_loss turns up at 30%, grows erratic | ND607 (+ND608) |
| lr_zero.csv | lr = base_lr * batch_size // 256 is 0.0 (floor division): the loss stays at ln(10) | ND610 (+ND601) |

The loss model: gradient flow on the loss (its excess over the floor shrinks as exp(-c * integral of lr)) plus
an SGD noise floor proportional to the learning rate, times log-normal batch noise. step_decay_resnet.csv makes the
excess shrink as a power of the integral of lr instead (the slow, never quite flat fall of a ResNet run).
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
N = 2000  # training rows per log
EVERY = 100  # a validation row every this many steps
EPOCH = 125  # steps per epoch


def lagged_noise_floor(lr: np.ndarray, kappa: float, lag: float) -> np.ndarray:
    """kappa * lr followed with a lag of `lag` of the run (an exponential average): the noise floor SGD keeps
    at a learning rate falls only some steps after the rate does."""
    n = len(lr)
    a = 1.0 / max(1.0, lag * n)
    noise_floor = np.empty(n)
    f = kappa * lr[0]
    for i in range(n):
        f += a * (kappa * lr[i] - f)
        noise_floor[i] = f
    return noise_floor


def model_loss(lr: np.ndarray, L0: float = 2.303, floor: float = 0.1, c: float = 25.0, kappa: float = 0.15,
               lag: float = 0.02) -> np.ndarray:
    """L(t) = floor + (L0 - floor) * exp(-c * integral(lr)) + kappa * lr (lagged by `lag` of the run)."""
    progress = c * np.cumsum(lr) / len(lr)
    return floor + (L0 - floor) * np.exp(-progress) + lagged_noise_floor(lr, kappa, lag)


def power_law_loss(lr: np.ndarray, A: float = 2.2, alpha: float = 0.5, c: float = 20.0, kappa: float = 0.35,
                   lag: float = 0.01) -> np.ndarray:
    """L(t) = A * (1 + c * integral(lr)) ** -alpha + kappa * lr (lagged): still falling when each cut comes."""
    progress = c * np.cumsum(lr) / len(lr)
    return A * (1 + progress) ** -alpha + lagged_noise_floor(lr, kappa, lag)


def batch_noise(rng, n: int, sigma: float) -> np.ndarray:
    return np.exp(sigma * rng.standard_normal(n))


def val_loss(rng, steps: np.ndarray, n: int, gap: float = 0.08, sigma: float = 0.01, turn: float | None = None,
             rise: float = 1.2) -> np.ndarray:
    u = steps / n
    v = (0.1 + gap + 2.2 * np.exp(-25 * u)) * np.exp(sigma * rng.standard_normal(len(steps)))
    if turn is not None:
        v *= np.exp(rise * np.clip(u - turn, 0, None))
    return v


def write_csv(name: str, columns: dict[str, np.ndarray], logged_nan: tuple[str, ...] = ()) -> None:
    """Columns of equal length; NaN in a column means 'not logged on this row' (an empty cell), except in the
    columns of `logged_nan`, where it is a NaN the run logged (`nan`, as print(float(loss)) writes it)."""
    names = list(columns)
    n = len(next(iter(columns.values())))
    with open(os.path.join(HERE, name), "w") as fh:
        fh.write(",".join(names) + "\n")
        for i in range(n):
            cells = []
            for k in names:
                v = columns[k][i]
                missing = "nan" if k in logged_nan else ""
                cells.append(missing if isinstance(v, float) and math.isnan(v) else (f"{v:.6g}" if isinstance(v, float)
                                                                                        else str(v)))
            fh.write(",".join(cells) + "\n")


def train_log(lr: np.ndarray, loss: np.ndarray, rng, val: np.ndarray | None = None, epoch: bool = True,
              lr_scale: float = 1e-3) -> dict:
    n = len(loss)
    steps = np.arange(n)
    cols = {"step": steps}
    if epoch:
        cols["epoch"] = steps // EPOCH
    cols["train_loss"] = loss.astype(float)
    if val is not None:
        v = np.full(n, np.nan)
        v[EVERY - 1::EVERY] = val
        cols["val_loss"] = v
    cols["lr"] = (lr * lr_scale).astype(float)
    return cols


def main() -> None:
    u = np.arange(N) / N
    vsteps = np.arange(EVERY - 1, N, EVERY)
    const = np.ones(N)

    rng = np.random.default_rng(0)
    lr = np.where(u < 0.05, u / 0.05, 0.5 * (1 + np.cos(np.pi * (u - 0.05) / 0.95)))  # warm-up, then cosine
    write_csv("healthy.csv", train_log(lr, model_loss(lr) * batch_noise(rng, N, 0.1), rng,
                                       val_loss(rng, vsteps, N)))

    rng = np.random.default_rng(1)
    lr = np.where(u < 1 / 3, 1.0, np.where(u < 2 / 3, 0.1, 0.01))
    write_csv("step_decay.csv", train_log(lr, model_loss(lr) * batch_noise(rng, N, 0.1), rng,
                                          val_loss(rng, vsteps, N), lr_scale=0.1))

    rng = np.random.default_rng(2)
    write_csv("not_learning.csv", train_log(const, 2.303 * batch_noise(rng, N, 0.05), rng, lr_scale=1e-7))

    rng = np.random.default_rng(3)
    loss = model_loss(const) * batch_noise(rng, N, 0.1) * np.exp(30 * np.clip(u - 0.6, 0, None))
    loss[1500:] = np.nan
    with open(os.path.join(HERE, "nan.jsonl"), "w") as fh:
        for i in range(N):
            value = None if math.isnan(loss[i]) else round(float(loss[i]), 6)
            fh.write(json.dumps({"step": i, "loss": value if value is not None else "NaN", "learning_rate": 3e-3})
                     + "\n")

    rng = np.random.default_rng(4)
    loss = model_loss(const) * batch_noise(rng, N, 0.1) * np.exp(3.0 * np.clip(u - 0.4, 0, None))
    write_csv("diverging.csv", train_log(const, loss, rng, lr_scale=0.5))

    rng = np.random.default_rng(5)
    loss = (0.1 + 2.203 / (1 + np.exp((u - 0.4) / 0.02))) * batch_noise(rng, N, 0.05)
    write_csv("late_start.csv", train_log(const, loss, rng))

    rng = np.random.default_rng(6)
    swing = np.zeros(N)
    for t in np.sort(rng.uniform(0.15, 0.85, 8)):
        swing += rng.uniform(0.7, 1.4) * np.clip((u - t) / 0.01, 0, 1) * np.exp(-np.clip(u - t - 0.01, 0, None) / 0.02)
    write_csv("oscillating.csv", train_log(const, model_loss(const) * batch_noise(rng, N, 0.1) * np.exp(swing), rng,
                                           lr_scale=0.05))

    rng = np.random.default_rng(7)
    phase = (np.arange(N) % EPOCH) / EPOCH  # batches sorted by class: the loss climbs through each epoch
    loss = model_loss(const) * batch_noise(rng, N, 0.1) * np.exp(0.5 * (phase - 0.5))
    write_csv("sawtooth.csv", train_log(const, loss, rng))

    rng = np.random.default_rng(8)
    loss = model_loss(const, c=5.0) * batch_noise(rng, N, 0.1)  # memorising: the training loss keeps falling
    write_csv("overfitting.csv", train_log(const, loss, rng, val_loss(rng, vsteps, N, turn=0.35)))

    rng = np.random.default_rng(9)
    v_every = 20  # evaluated often, on a few samples
    v = np.full(N, np.nan)
    vs = np.arange(v_every - 1, N, v_every)
    v[vs] = val_loss(rng, vs, N, sigma=0.4)
    cols = train_log(const, model_loss(const) * batch_noise(rng, N, 0.05), rng)
    cols["val_loss"] = v
    write_csv("noisy_val.csv", cols)

    rng = np.random.default_rng(10)
    loss = (0.1 + 2.2 * np.exp(-2.0 * u)) * batch_noise(rng, N, 0.05)
    write_csv("still_improving.csv", train_log(const, loss, rng))

    rng = np.random.default_rng(11)
    lr = np.exp(-u / 0.03)  # ExponentialLR(gamma=0.983) stepped every batch: 1% of the peak by 14% of the run
    write_csv("lr_decayed_early.csv", train_log(lr, model_loss(lr, c=40.0) * batch_noise(rng, N, 0.05), rng))

    rng = np.random.default_rng(12)
    lr = np.where(u < 1 / 3, 1.0, np.where(u < 2 / 3, 0.1, 0.01))  # StepLR(step_size=30, gamma=0.1), 90 epochs
    write_csv("step_decay_resnet.csv", train_log(lr, power_law_loss(lr) * batch_noise(rng, N, 0.05), rng,
                                                 lr_scale=0.1))

    rng = np.random.default_rng(13)
    loss = model_loss(const) * batch_noise(rng, N, 0.05)
    spikes = rng.choice(N - 3, N // 100, replace=False)
    jump = rng.uniform(1.5, 2.5, len(spikes))
    for i, recovered in enumerate((1.0, 0.6)):  # the model thrown off, back two rows later
        loss[spikes + i] *= jump ** recovered
    write_csv("spiky.csv", train_log(const, loss, rng, lr_scale=3e-3))

    # The logs below each show one mistake whose report holds a cause and its effect (tests/curve/
    # test_curve_causes.py): the cause ranks first and the effect is explained by it.
    rng = np.random.default_rng(14)
    nan_at = 1400
    loss = 2.303 * batch_noise(rng, N, 0.05)  # never below chance, ln(10)
    spikes = rng.choice(nan_at - 4, 25, replace=False)
    jump = rng.uniform(1.8, 3.0, len(spikes))
    for i, recovered in enumerate((1.0, 0.8, 0.5)):  # a step that overshoots, the model back three rows later
        loss[spikes + i] *= jump ** recovered
    loss[nan_at:] = np.nan  # the logits overflow: nan from there on, as float(loss) prints it
    write_csv("lr_far_too_high.csv", train_log(const, loss, rng, lr_scale=1.0), logged_nan=("train_loss",))

    rng = np.random.default_rng(15)
    epoch = 250  # 8 epochs
    phase = (np.arange(N) % epoch) / epoch  # sorted by length: short, easy samples first in every epoch
    loss = model_loss(const) * batch_noise(rng, N, 0.1) * np.exp(0.7 * (phase - 0.5))
    cols = train_log(const, loss, rng, epoch=False)
    write_csv("sorted_by_length.csv", {"step": cols["step"], "epoch": cols["step"] // epoch,
                                       **{k: v for k, v in cols.items() if k != "step"}})

    rng = np.random.default_rng(16)
    epochs = 120
    e = np.arange(epochs) / epochs
    train = (0.02 + 2.2 * np.exp(-e / 0.15)) * np.exp(0.01 * rng.standard_normal(epochs))  # epoch means: smooth
    past = np.clip((e - 0.3) / 0.7, 0, 1)  # (epochs,) how far past the turn at 30%
    val = (0.35 + 2.0 * np.exp(-e / 0.1)) * np.exp(1.05 * past)
    val *= np.exp((0.02 + 0.13 * past) * rng.standard_normal(epochs))  # confident mistakes: noise grows with the rise
    write_csv("overfitting_per_epoch.csv", {"epoch": np.arange(epochs), "loss": train, "val_loss": val})

    rng = np.random.default_rng(17)
    # lr = base_lr * batch_size // 256 with base_lr 0.1 and batch_size 128: floor division makes it 0.0
    write_csv("lr_zero.csv", train_log(const, 2.303 * batch_noise(rng, N, 0.05), rng, lr_scale=0.0))


if __name__ == "__main__":
    main()
