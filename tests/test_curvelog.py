"""Reading training logs for `nndoctor curve`: CSV/TSV/JSON-lines/JSON, the common column spellings, missing cells
against NaN values, long tables, resumed runs, TensorBoard (through a stand-in for the optional package), and a
one-line CurveError for every bad input."""
from __future__ import annotations

import json
import math
import re
import sys
import types

import numpy as np
import pytest

from nndoctor.curve import CurveError, read_log
from nndoctor.curve.roles import role_scores, tokens


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def csv_text(columns: dict, n: int = 30) -> str:
    lines = [",".join(columns)]
    for i in range(n):
        lines.append(",".join(str(f(i)) for f in columns.values()))
    return "\n".join(lines) + "\n"


# -- names -------------------------------------------------------------------------------------------------------
def test_tokens_split_case_and_separators():
    assert tokens("Loss/train") == ["loss", "train"]
    assert tokens("trainLoss") == ["train", "loss"]
    assert tokens("lr-AdamW") == ["lr", "adam", "w"]
    assert tokens("trainer/global_step") == ["trainer", "global", "step"]


@pytest.mark.parametrize("name", ["loss", "train_loss", "training_loss", "Loss/train", "train/loss", "trainLoss",
                                  "train_loss_step", "total_loss"])
def test_train_loss_spellings(name):
    assert "train" in role_scores(name)


@pytest.mark.parametrize("name", ["val_loss", "valid_loss", "validation_loss", "eval_loss", "Loss/val",
                                  "validation/epoch_loss", "test_loss", "val/loss"])
def test_validation_loss_spellings(name):
    assert set(role_scores(name)) == {"val"}


@pytest.mark.parametrize("name", ["step", "global_step", "iteration", "iter", "trainer/global_step", "_step", "Step",
                                  "n_iter", "num_updates"])
def test_step_spellings(name):
    assert "step" in role_scores(name)


@pytest.mark.parametrize("name", ["lr", "learning_rate", "LearningRate", "lr-AdamW", "train/learning_rate", "lr/pg1"])
def test_lr_spellings(name):
    assert "lr" in role_scores(name)


@pytest.mark.parametrize("name", ["loss_scale", "grad_norm", "wall_time", "tokens_per_sec", "eval_runtime",
                                  "kl_weight"])
def test_not_a_curve(name):
    assert not ({"train", "val", "lr"} & set(role_scores(name)))


@pytest.mark.parametrize("train,val,step,lr", [
    ("loss", "val_loss", "step", "lr"),
    ("train_loss", "valid_loss", "iteration", "learning_rate"),
    ("training_loss", "validation_loss", "global_step", "lr-AdamW"),
    ("Loss/train", "eval_loss", "trainer/global_step", "LearningRate"),
])
def test_csv_roles_by_name(tmp_path, train, val, step, lr):
    cols = {step: lambda i: 10 * i, "loss_scale": lambda i: 65536, train: lambda i: 2.0 - 0.01 * i,
            val: lambda i: "" if i % 5 else 2.1 - 0.01 * i, lr: lambda i: 1e-3, "grad_norm": lambda i: 1.0}
    log = read_log(write(tmp_path, "log.csv", csv_text(cols)))
    assert log.roles == {"train": train, "val": val, "step": step, "lr": lr}
    assert log.train.steps[:3].tolist() == [0, 10, 20] and log.train.values[1] == pytest.approx(1.99)
    assert len(log.val) == 6 and log.val.steps.tolist() == [0, 50, 100, 150, 200, 250]  # empty cells: not logged
    assert log.lr is not None and len(log.lr) == 30


def test_user_names_override_and_a_wrong_name_says_did_you_mean(tmp_path):
    cols = {"it": lambda i: i, "objective_a": lambda i: 1.0, "objective_b": lambda i: 2.0, "rate": lambda i: 0.1}
    path = write(tmp_path, "log.csv", csv_text(cols))
    log = read_log(path, train="objective_b", step="it", lr="rate", val="OBJECTIVE_A")  # case-insensitive
    assert log.roles == {"train": "objective_b", "val": "objective_a", "step": "it", "lr": "rate"}
    with pytest.raises(CurveError, match=r"no column 'objectve_b' \(--train\); did you mean 'objective_b'"):
        read_log(path, train="objectve_b")


# -- missing cells against NaN values -------------------------------------------------------------------------------
def test_empty_cell_is_missing_but_nan_is_a_value(tmp_path):
    text = "step,loss,val_loss\n0,2.0,\n1,nan,2.5\n2,1.8,\n3,inf,\n4,,2.4\n"
    log = read_log(write(tmp_path, "log.csv", text))
    assert log.train.steps.tolist() == [0, 1, 2, 3]  # the row with an empty loss is not a training row
    assert math.isnan(log.train.values[1]) and math.isinf(log.train.values[3])
    assert log.val.steps.tolist() == [1, 4] and log.val.values.tolist() == [2.5, 2.4]


def test_fast_and_slow_csv_paths_agree(tmp_path):
    rng = np.random.default_rng(0)
    vals = rng.uniform(0.5, 2.0, 50)
    rows = [(i, f"{v:.6g}", f"{v + 0.1:.6g}" if i % 7 == 0 else "") for i, v in enumerate(vals)]
    fast = "step,loss,val_loss\n" + "".join(f"{i},{v},{w}\n" for i, v, w in rows)
    # a quoted text column (with a comma inside) sends the same numbers through the csv-module path
    slow = "step,loss,val_loss,note\n" + "".join(f'{i},{v},{w},"run a, seed {i}"\n' for i, v, w in rows)
    a = read_log(write(tmp_path, "fast.csv", fast))
    b = read_log(write(tmp_path, "slow.csv", slow))
    assert np.array_equal(a.train.values, b.train.values) and np.array_equal(a.val.steps, b.val.steps)
    assert a.val.steps.tolist() == [0, 7, 14, 21, 28, 35, 42, 49]


def test_tsv_semicolon_whitespace_bom_and_comments(tmp_path):
    tsv = "\ufeff# written by my loop\niteration\ttraining_loss\tvalidation_loss\n1\t2.3\t\n2\t2.1\t2.4\n3\t2.0\t\n"
    log = read_log(write(tmp_path, "log.tsv", tsv))
    assert log.roles == {"train": "training_loss", "val": "validation_loss", "step": "iteration"}
    assert log.val.steps.tolist() == [2]
    semi = read_log(write(tmp_path, "log.csv", "step;loss\n0;2.0\n1;1.9\n"))
    assert semi.train.values.tolist() == [2.0, 1.9]
    ws = read_log(write(tmp_path, "log.txt", "step loss lr\n0 2.3 0.1\n1 2.2 0.1\n"))
    assert ws.train.values.tolist() == [2.3, 2.2] and ws.roles["lr"] == "lr"


def test_ragged_and_quoted_rows(tmp_path):
    log = read_log(write(tmp_path, "log.csv", 'step,loss,val_loss\n1,2.3\n2,2.2,2.5\n3,"2.1",\n'))
    assert log.train.values.tolist() == [2.3, 2.2, 2.1] and log.val.values.tolist() == [2.5]


# -- JSON ------------------------------------------------------------------------------------------------------------
def test_jsonl_interleaved_rows_nested_null_and_nan(tmp_path):
    rows = [{"step": 10, "loss": 2.3, "learning_rate": 5e-5, "epoch": 0.1},
            {"step": 20, "loss": "NaN", "learning_rate": 4e-5, "epoch": 0.2},
            {"step": 20, "eval": {"loss": 2.2, "runtime": 1.5}, "epoch": 0.2},
            {"step": 30, "loss": None, "learning_rate": 3e-5, "epoch": 0.3},
            {"step": 40, "loss": 1.8, "learning_rate": 2e-5, "epoch": 0.4}]
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    log = read_log(write(tmp_path, "log.jsonl", text))
    assert log.format == "jsonl"
    assert log.roles["train"] == "loss" and log.roles["val"] == "eval/loss" and log.roles["lr"] == "learning_rate"
    assert log.train.steps.tolist() == [10, 20, 40] and math.isnan(log.train.values[1])  # null: missing, "NaN": NaN
    assert log.val.steps.tolist() == [20]


def test_fractional_epochs_give_rows_per_epoch(tmp_path):
    """Hugging Face logs `epoch` as a float: 100 steps per epoch, a row every 10 steps -> 10 rows per epoch."""
    text = "\n".join(json.dumps({"step": s, "loss": 1.0, "epoch": s / 100}) for s in range(10, 510, 10))
    assert read_log(write(tmp_path, "log.jsonl", text)).epoch_length == pytest.approx(10.0)


def test_trainer_state_and_keras_history(tmp_path):
    state = {"log_history": [{"loss": 2.0, "step": 5}, {"eval_loss": 2.1, "step": 5}, {"loss": 1.5, "step": 10}]}
    log = read_log(write(tmp_path, "trainer_state.json", json.dumps(state)))
    assert log.format == "json" and log.train.values.tolist() == [2.0, 1.5] and log.val.values.tolist() == [2.1]
    history = {"loss": [2.3, 2.0, 1.8], "val_loss": [2.4, 2.2, 2.1], "accuracy": [0.1, 0.3, 0.5]}
    keras = read_log(write(tmp_path, "history.json", json.dumps(history)))
    assert keras.train.steps.tolist() == [0, 1, 2] and keras.val.values.tolist() == [2.4, 2.2, 2.1]


def test_accuracy_stands_in_as_an_error_rate(tmp_path):
    text = "\n".join(json.dumps({"epoch": i, "train": {"acc": 50 + i}, "val": {"acc": 40 + i}}) for i in range(5))
    log = read_log(write(tmp_path, "acc.jsonl", text))
    assert log.train.from_accuracy and log.train.values.tolist() == pytest.approx([0.5, 0.49, 0.48, 0.47, 0.46])
    assert log.val.from_accuracy and any("1 - train/acc" in n for n in log.notes)


# -- long tables, resumed runs, epochs ----------------------------------------------------------------------------
def test_long_table_with_tags_is_pivoted(tmp_path):
    text = "wall_time,step,tag,value\n1,0,Loss/train,2.3\n1,0,Loss/val,2.4\n2,1,Loss/train,2.1\n3,2,Loss/train,1.9\n"
    log = read_log(write(tmp_path, "export.csv", text))
    assert log.roles["train"] == "Loss/train" and log.train.values.tolist() == [2.3, 2.1, 1.9]
    assert log.val.steps.tolist() == [0]


def test_phase_column_is_pivoted_and_epoch_becomes_the_axis(tmp_path):
    text = "epoch,phase,loss\n0,train,2.3\n0,val,2.4\n1,train,2.0\n1,val,2.2\n2,train,1.9\n2,val,2.1\n"
    log = read_log(write(tmp_path, "log.csv", text))
    assert log.roles["train"] == "train_loss" and log.roles["val"] == "val_loss" and log.roles["step"] == "epoch"
    assert log.train.steps.tolist() == [0, 1, 2] and log.val.values.tolist() == [2.4, 2.2, 2.1]


def test_resumed_run_keeps_the_rows_after_the_restart(tmp_path):
    text = "step,loss\n0,3.0\n1,2.9\n2,2.8\n3,2.7\n2,1.0\n3,0.9\n4,0.8\n"
    log = read_log(write(tmp_path, "log.csv", text))
    assert log.train.steps.tolist() == [0, 1, 2, 3, 4] and log.train.values.tolist() == [3.0, 2.9, 1.0, 0.9, 0.8]


def test_epoch_column_gives_the_epoch_length(tmp_path):
    cols = {"step": lambda i: i, "epoch": lambda i: i // 8, "loss": lambda i: 1.0}
    log = read_log(write(tmp_path, "log.csv", csv_text(cols, 64)))
    assert log.epoch_length == 8 and log.roles["step"] == "step"
    # an "iteration" counter that repeats within an epoch is read as the epoch; rows are the steps
    cols = {"epoch": lambda i: i // 8, "loss": lambda i: 1.0}
    log = read_log(write(tmp_path, "log2.csv", csv_text(cols, 64)))
    assert log.epoch_length == 8 and log.train.steps.tolist() == list(range(64))


# -- TensorBoard ---------------------------------------------------------------------------------------------------
def fake_tensorboard(monkeypatch, scalars_by_folder: dict):
    """A stand-in for tensorboard's EventAccumulator (the package is an optional extra)."""
    ea = types.ModuleType("tensorboard.backend.event_processing.event_accumulator")
    ea.SCALARS, ea.TENSORS = "scalars", "tensors"

    class Event:
        def __init__(self, step, value):
            self.step, self.value, self.wall_time = step, value, 0.0

    class EventAccumulator:
        def __init__(self, path, size_guidance=None):
            import os
            self.folder = path if os.path.isdir(path) else os.path.dirname(path)
            assert size_guidance == {"scalars": 0, "tensors": 0}  # keep every point

        def Reload(self):
            return self

        def Tags(self):
            import os
            return {"scalars": list(scalars_by_folder[os.path.basename(self.folder)]), "tensors": []}

        def Scalars(self, tag):
            import os
            return [Event(s, v) for s, v in scalars_by_folder[os.path.basename(self.folder)][tag]]

    ea.EventAccumulator = EventAccumulator
    for name in ("tensorboard", "tensorboard.backend", "tensorboard.backend.event_processing"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, ea.__name__, ea)


def test_tensorboard_folder_with_keras_style_runs(tmp_path, monkeypatch):
    for run in ("train", "validation"):
        (tmp_path / "logs" / run).mkdir(parents=True)
        (tmp_path / "logs" / run / "events.out.tfevents.123.host").write_bytes(b"")
    fake_tensorboard(monkeypatch, {
        "train": {"epoch_loss": [(0, 2.0), (1, 1.5), (2, 1.2)],
                  "epoch_learning_rate": [(0, 1e-3), (1, 1e-3), (2, 1e-3)]},
        "validation": {"epoch_loss": [(0, 2.1), (1, 1.7), (2, 1.6)]}})
    log = read_log(str(tmp_path / "logs"))
    assert log.format == "tensorboard"
    assert log.roles == {"train": "train/epoch_loss", "val": "validation/epoch_loss", "lr": "train/epoch_learning_rate"}
    assert log.train.steps.tolist() == [0, 1, 2] and log.val.values.tolist() == [2.1, 1.7, 1.6]


def test_tensorboard_missing_package_is_a_clear_error(tmp_path, monkeypatch):
    event = tmp_path / "events.out.tfevents.1.host"
    event.write_bytes(b"\x00\x01binary")
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard... raises ImportError
    with pytest.raises(CurveError, match=r"needs the tensorboard package: pip install 'nndoctor\[tensorboard\]'"):
        read_log(str(event))


# -- bad input: one line naming the file and the fix ---------------------------------------------------------------
@pytest.mark.parametrize("name,content,message", [
    ("missing.csv", None, "no such file"),
    ("empty.csv", "", "the log is empty"),
    ("header.csv", "step,loss\n", "column names but no rows"),
    ("nohead.csv", "1,2\n3,4\n", "holds numbers, not column names"),
    ("noloss.csv", "step,foo\n1,2\n", r"no training-loss column among: step, foo; name it with --train COLUMN"),
    ("bad.jsonl", '{"loss": 1}\n{"loss": \n', "line 2 is not JSON"),
    ("list.jsonl", '[1, 2, 3]\n', "no list of records"),
    ("binary.bin", b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "not a text log"),
])
def test_bad_input_is_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(CurveError, match=message) as info:
        read_log(str(path))
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path))


def test_folder_without_event_files(tmp_path, monkeypatch):
    fake_tensorboard(monkeypatch, {})
    with pytest.raises(CurveError, match="no TensorBoard event files"):
        read_log(str(tmp_path))


def one_line_error(path: str, **roles) -> str:
    """The CurveError of reading `path`, checked to be one line that starts with the file's name."""
    with pytest.raises(CurveError) as info:
        read_log(path, **roles)
    text = str(info.value)
    assert "\n" not in text and text.startswith(path), text
    return text


# -- bounded input: a cell, a line, a nesting too large is a one-line error -----------------------------------------
@pytest.mark.parametrize("quoted", [False, True])
def test_a_megabyte_cell_is_a_clear_error(tmp_path, quoted):
    cell = ('"' + "x" * 1_000_000 + '"') if quoted else "7" * 1_000_000
    path = write(tmp_path, "log.csv", "step,loss\n0,2.3\n1," + cell + "\n2,2.1\n")
    text = one_line_error(path)
    assert "line 3 has a cell of" in text and "more than 131072" in text


def test_a_line_too_long_is_a_clear_error(tmp_path, monkeypatch):
    import nndoctor.curve.readers.csv as csv_reader

    monkeypatch.setattr(csv_reader, "MAX_LINE", 1000)
    path = write(tmp_path, "log.csv", "step,loss\n" + "0,2.3\n" * 300 + "1" * 5000)
    assert "line 302 is longer than" in one_line_error(path)


@pytest.mark.parametrize("text,where", [
    ('{"step": 0, "loss": 1.0}\n{"step": 1, "loss": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "line 2"),
    ('{"step": 0, "loss": 1.0}\n' + '{"a": ' * 100 + "1" + "}" * 100 + "\n", "line 2"),
    ("[" * 100_000 + "]" * 100_000, "the file"),
])
def test_deeply_nested_json_is_a_clear_error(tmp_path, text, where):
    path = write(tmp_path, "deep.jsonl", text)
    assert f"{where} is JSON nested more than 64 levels deep" in one_line_error(path)


# -- text cells in a numeric column ----------------------------------------------------------------------------------
def text_cells_csv(tmp_path, bad_rows=(5, 150, 250), name="log.csv") -> str:
    lines = ["step,loss"] + [f"{i},{'oops' if i in bad_rows else 2.0 - 0.001 * i}" for i in range(300)]
    return write(tmp_path, name, "\n".join(lines) + "\n")


def test_text_cells_in_the_loss_column_are_missing_and_named(tmp_path):
    log = read_log(text_cells_csv(tmp_path))  # one text cell among the first 200 rows, two after
    assert log.roles["train"] == "loss" and len(log.train) == 297
    assert 5 not in log.train.steps and 150 not in log.train.steps and log.train.values[5] == pytest.approx(1.994)
    assert any("3 cell(s) of 'loss' are not numbers (line 7: 'oops', line 152: 'oops', line 252: 'oops')" in n
               for n in log.notes), log.notes


def test_a_named_column_of_text_says_so(tmp_path):
    log = read_log(text_cells_csv(tmp_path), train="loss")  # the case that suggested 'loss' for 'loss'
    assert log.roles["train"] == "loss" and len(log.train) == 297
    text_column = text_cells_csv(tmp_path, bad_rows=range(10, 300), name="text.csv")
    message = one_line_error(text_column, train="loss")
    assert "the column 'loss' (--train) holds text, not numbers (line 12: 'oops')" in message
    assert "did you mean" not in message
    assert "'loss' holds text, not numbers: line 12: 'oops'" in one_line_error(text_column)


def test_text_and_huge_numbers_in_json_lines_are_missing(tmp_path):
    rows = [{"step": i, "loss": "oops" if i == 3 else 1.0 / (i + 1)} for i in range(20)]
    text = "\n".join(json.dumps(r) for r in rows) + '\n{"step": 20, "loss": 1' + "0" * 400 + "}\n"
    log = read_log(write(tmp_path, "log.jsonl", text))
    assert len(log.train) == 19 and 3 not in log.train.steps
    assert any("2 cell(s) of 'loss' are not numbers (line 4: 'oops', line 21: " in n for n in log.notes), log.notes


# -- other bad files ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,content,message", [
    ("blank.csv", "\n  \n\t\n", "the log is empty"),
    ("comments.csv", "# only a comment\n# and another\n", "the log has no rows"),
    ("header.tsv", "step\tloss\n\n", "column names but no rows"),
    ("blank.jsonl", "\n\n", "the log is empty"),
    ("random.bin", bytes(range(256)) * 64, "not a text log"),
    ("late_nul.csv", b"step,loss\n" + b"0,1.0\n" * 2000 + b"1,\x00\x00\n", "line 2002 holds a NUL byte"),
    ("late_latin1.csv", b"step,loss\n" + b"0,1.0\n" * 2000 + b"1,caf\xe9\n", "line 2002 is not a text log"),
    ("late_latin1.jsonl", b'{"loss": 1}\n' * 2000 + b'{"loss": "caf\xe9"}\n', "line 2001 is not a text log"),
    ("quote.csv", 'step,loss\n0,"2.0\n1,1.5\n', "no training-loss column"),
])
def test_other_bad_files_are_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert message in one_line_error(str(path))


# -- the streaming reader: blocks, and the two ways a block is read, give the same log ------------------------------
@pytest.mark.parametrize("workers", [1, 3])
def test_blocks_and_row_by_row_reading_agree(tmp_path, monkeypatch, workers):
    import nndoctor.curve.readers.csv as csv_reader

    monkeypatch.setattr(csv_reader, "WORKERS", workers)

    rng = np.random.default_rng(3)
    n = 3000
    loss = np.exp(rng.normal(0, 2, n))
    cells = {
        "step": [str(i) for i in range(n)],
        "loss": [f"{v:.6g}" if i % 97 else ("nan" if i % 2 else "") for i, v in enumerate(loss)],
        "val_loss": [repr(float(v)) if i % 50 == 0 else "" for i, v in enumerate(loss * 1.1)],
        "lr": [f"{v:.3e}" for v in np.geomspace(1e-2, 1e-7, n)],
        "epoch": [str(i // 300) for i in range(n)],
    }
    lines = [",".join(cells)] + [",".join(c[i] for c in cells.values()) for i in range(n)]
    fast = write(tmp_path, "fast.csv", "\r\n".join(lines) + "\r\n")
    slow = write(tmp_path, "slow.csv", "\n".join(lines[:1] + [f"{ln}\n# a comment" for ln in lines[1:]]) + "\n")
    monkeypatch.setattr(csv_reader, "BLOCK", 1000)  # many blocks, lines split across them
    a, b = read_log(fast), read_log(slow)
    assert a.roles == b.roles == {"train": "loss", "val": "val_loss", "step": "step", "epoch": "epoch", "lr": "lr"}
    for x, y in ((a.train, b.train), (a.val, b.val), (a.lr, b.lr)):
        assert np.array_equal(x.steps, y.steps) and np.array_equal(x.values, y.values, equal_nan=True)
    assert np.array_equal(a.train.values, [float(c) for c in cells["loss"] if c], equal_nan=True)
    per_epoch = np.bincount([i // 300 for i in range(n) if cells["loss"][i]])  # training rows of each epoch
    assert a.rows == b.rows == n and a.epoch_length == b.epoch_length == np.median(per_epoch)


def test_fast_number_parsing_is_float_bit_for_bit():
    from nndoctor.curve.readers import numbers

    rng = np.random.default_rng(0)
    cells = [f"{v:.{p}g}" for v, p in zip(rng.normal(0, 1, 4000) * 10.0 ** rng.integers(-25, 25, 4000),
                                          rng.integers(1, 18, 4000))]
    cells += [str(i) for i in rng.integers(0, 2 ** 62, 1000)] + [repr(float(v)) for v in rng.random(1000)]
    cells += ["".join(rng.choice(list("0123456789.-+eE"), rng.integers(0, 18))) for _ in range(4000)]
    cells += ["0", "-0", "-0.0", "1.", ".5", "-.5", ".", "-", "e5", "1e5", "1E+05", "1e-05", "9007199254740992",
              "9007199254740993", "1e22", "1e23", "1e-22", "nan", "inf", "+1", " 1", "", "1e5e5", "1.2.3", "0e0"]
    data = "".join(c + "," for c in cells).encode()
    buf = np.frombuffer(bytes(numbers.PAD) + data, dtype=np.uint8)
    lengths = np.array([len(c) for c in cells])
    ends = np.cumsum(lengths + 1) - 1 + numbers.PAD
    values, state = numbers.parse(buf, ends - lengths, ends)
    typical = [i for i, c in enumerate(cells) if len(c) <= 16 and re.fullmatch(r"-?(\d+\.?\d*|\.\d+)", c)
               and sum(ch.isdigit() for ch in c) <= 15]
    assert len(typical) > 1000 and (state[typical] == numbers.PARSED).all()  # plain decimals are parsed here
    exponents = [i for i, c in enumerate(cells) if re.fullmatch(r"-?\d(\.\d{1,5})?e[-+](0\d|1[0-5])", c)]
    assert len(exponents) > 300 and (state[exponents] == numbers.PARSED).all()  # and %g's 1.5e-05
    for cell, value, st in zip(cells, values, state):
        if st == numbers.PARSED:
            assert np.float64(float(cell)).tobytes() == np.float64(value).tobytes(), cell
        elif st == numbers.EMPTY:
            assert cell == ""
