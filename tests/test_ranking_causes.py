"""Ranking built from the causal table (nndoctor/catalogue/causes.py): every rule "CAUSE explains EFFECT" puts
the cause above the effect and names it in the effect's `explained_by`, at any severity either is emitted with;
chains name the nearest cause; and every pair of the table is shown by a case whose one mistake makes both
findings, the cause ranked above the effect in its report: a bug-zoo case (ZOO_PAIRS below, REAL_ZOO_PAIRS, and the
`shows=` each case of benchmarks/zoo/ declares), a sample loss log (tests/curve/test_curve_causes.py) or a
many-rank example (tests/distributed/test_ddp_causes.py, slow).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache

import pytest

from nndoctor.catalogue.causes import EXPLAINS, explaining_cause
from nndoctor.report import Finding, Report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PAIRS = [(cause, effect) for cause, effects in EXPLAINS.items() for effect in effects]
# A cause may be emitted as a warning or an error; an effect at any severity (a note explains nothing, but it
# can be explained). Together these cover every severity a check emits the codes with.
CAUSE_SEVERITIES = ("warning", "error")
EFFECT_SEVERITIES = ("error", "warning", "info")


def finding(code, severity, confidence=1.0):
    return Finding(code=code, title=f"title {code}", evidence={}, fix="fix", severity=severity, check="c",
                   confidence=confidence, where=None)


@pytest.mark.parametrize("cause,effect", PAIRS, ids=[f"{c}>{e}" for c, e in PAIRS])
def test_cause_ranks_above_its_effect_at_every_severity(cause, effect):
    for cs in CAUSE_SEVERITIES:
        for es in EFFECT_SEVERITIES:
            # the effect first and more confident: only the causal rule can put the cause above it
            report = Report([finding(effect, es, 1.0), finding(cause, cs, 0.1)], [])
            got = [(f.code, f.explained_by) for f in report.findings]
            assert got == [(cause, None), (effect, cause)], (cs, es, got)


@pytest.mark.parametrize("cause,effect", PAIRS[:20], ids=[f"{c}>{e}" for c, e in PAIRS[:20]])
def test_a_note_explains_nothing(cause, effect):
    report = Report([finding(effect, "warning"), finding(cause, "info")], [])
    assert [(f.code, f.explained_by) for f in report.findings] == [(effect, None), (cause, None)]


CHAINS = [(a, b, c) for a, bs in EXPLAINS.items() for b in bs for c in EXPLAINS.get(b, ()) if c in bs]


@pytest.mark.parametrize("a,b,c", CHAINS, ids=[f"{a}>{b}>{c}" for a, b, c in CHAINS])
def test_chains_name_the_nearest_cause(a, b, c):
    """a explains b and c, b explains c: c is explained by b, and the report reads a, b, c, whatever the
    confidences (the table's first cause, a, made c wait only for a and pass b on its confidence)."""
    assert explaining_cause(c, {a, b}) == b
    report = Report([finding(c, "warning", 1.0), finding(a, "warning", 0.1), finding(b, "warning", 0.5)], [])
    assert [(f.code, f.explained_by) for f in report.findings] == [(a, None), (b, a), (c, b)]


def test_exploding_recurrence_reads_in_causal_order():
    """The issue's recurrent network: the recurrence explodes (ND305), so the gradients explode (ND405), so the
    update ratio is far too high (ND407). ND407's higher confidence no longer puts it above ND405."""
    report = Report([finding("ND407", "warning", 1.0), finding("ND405", "warning", 0.6),
                     finding("ND305", "warning", 0.7), finding("ND201", "error")], [])
    codes = [f.code for f in report.findings]
    assert codes.index("ND305") < codes.index("ND405") < codes.index("ND407")
    assert report.findings[codes.index("ND407")].explained_by == "ND405"


def test_deep_sigmoid_names_vanishing_gradients_before_the_failed_overfit():
    """The issue's deep sigmoid MLP ranked ND305 first and ND404 fourth, behind ND501: the batch that cannot be
    fitted is explained by the gradients that vanish, not directly by the activation scale."""
    report = Report([finding("ND305", "error"), finding("ND301", "error"), finding("ND501", "error"),
                     finding("ND404", "warning")], [])
    assert [f.code for f in report.findings] == ["ND305", "ND301", "ND404", "ND501"]


# -- the pairs that a zoo case exhibits, in that case's report -----------------------------------------------------
ZOO_PAIRS = {
    ("ND101", "ND503"): "mlp-nan-features", ("ND102", "ND301"): "mlp-masked-to-zero",
    ("ND102", "ND401"): "mlp-masked-to-zero",
    ("ND103", "ND109"): "rnn-raw-sensor-units", ("ND103", "ND201"): "mlp-raw-features",
    ("ND105", "ND201"): "reg-price-targets-unscaled",
    ("ND105", "ND308"): "mlp-labels-one-based",
    ("ND106", "ND107"): "mlp-sorted-unshuffled", ("ND202", "ND501"): "bin-sigmoid-before-bcewithlogits",
    ("ND203", "ND201"): "mlp-nll-on-logits", ("ND203", "ND308"): "bin-bceloss-on-logits",
    ("ND205", "ND501"): "mlp-relu-on-logits", ("ND301", "ND401"): "mlp-dead-relu-bias",
    ("ND301", "ND404"): "mlp-deep-sigmoid", ("ND301", "ND501"): "mlp-dead-relu-bias",
    ("ND302", "ND109"): "rnn-lstm-not-batch-first", ("ND303", "ND301"): "mlp-dead-relu-bias",
    ("ND303", "ND401"): "mlp-dead-relu-bias", ("ND303", "ND501"): "mlp-dead-relu-bias",
    ("ND304", "ND201"): "mlp-tanh-huge-init", ("ND305", "ND201"): "rnn-exploding-recurrence",
    ("ND305", "ND301"): "mlp-deep-sigmoid", ("ND305", "ND404"): "mlp-deep-sigmoid",
    ("ND305", "ND405"): "rnn-exploding-recurrence", ("ND305", "ND407"): "rnn-exploding-recurrence",
    ("ND305", "ND501"): "mlp-deep-sigmoid", ("ND306", "ND503"): "mlp-log-of-zero",
    ("ND401", "ND501"): "mlp-dead-relu-bias", ("ND402", "ND308"): "mlp-all-frozen",
    ("ND404", "ND501"): "mlp-deep-sigmoid", ("ND405", "ND407"): "rnn-exploding-recurrence",
    ("ND405", "ND503"): "rnn-exploding-recurrence", ("ND407", "ND501"): "mlp-lr-too-low",
    ("ND407", "ND502"): "mlp-lr-too-high", ("ND407", "ND503"): "rnn-exploding-recurrence",
    ("ND408", "ND501"): "mlp-no-optimizer-step", ("ND105", "ND502"): "bin-labels-minus-one",
    ("ND203", "ND502"): "mlp-nll-on-logits", ("ND409", "ND502"): "resnet-no-zero-grad",
    # the real zoo: the root cause above the symptoms it causes
    ("ND410", "ND307"): "vit-layers-in-list",  # blocks in a Python list keep their dropout on in eval mode
    ("ND410", "ND109"): "vit-pos-embed-not-parameter",  # a fixed random map the real-input copy learns through
    ("ND305", "ND306"): "rnn-exploding-recurrence",  # the recurrence grows until it overflows
}
REAL_ZOO_PAIRS = {
    ("ND408", "ND501"): "makemore-zero-grad-before-step",  # zero_grad between backward and step, in the user's step
}


def declared_pairs() -> list[tuple[tuple[str, str], str]]:
    """The pairs each zoo case declares it shows (`@case(..., shows=...)`)."""
    from benchmarks.zoo.registry import load_cases

    return [(tuple(pair), c.id) for c in load_cases("all").values() for pair in c.shows]


ALL_ZOO_PAIRS = sorted(set([(pair, case_id) for pair, case_id in ZOO_PAIRS.items()] +
                           [(pair, case_id) for pair, case_id in REAL_ZOO_PAIRS.items()] + declared_pairs()))


def test_zoo_pairs_are_rules_of_the_table():
    assert all(effect in EXPLAINS[cause] for (cause, effect), _ in ALL_ZOO_PAIRS)


@lru_cache(maxsize=None)
def zoo_findings(case_id: str) -> tuple:
    from benchmarks.zoo.registry import load_cases
    from benchmarks.zoo.run import run_case

    record = run_case(load_cases("all")[case_id])
    assert "error" not in record, record.get("traceback")
    return tuple((f["code"], f["severity"]) for f in record["findings"])


@pytest.mark.parametrize("pair,case_id", ALL_ZOO_PAIRS, ids=[f"{c}>{e}:{i}" for (c, e), i in ALL_ZOO_PAIRS])
def test_zoo_report_puts_the_cause_first(pair, case_id):
    cause, effect = pair
    findings = zoo_findings(case_id)
    codes = [code for code, _ in findings]
    assert cause in codes and effect in codes, f"{case_id} no longer shows {pair}: {findings}"
    assert dict(findings)[cause] != "info", findings  # a note explains nothing
    assert codes.index(cause) < codes.index(effect), findings


def pairs_declared_in(path: str, name: str) -> dict:
    """The pair dict `name` of the test module at `path` (beside this folder's conftest, not a package)."""
    import importlib.util

    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the module's own helpers (ddp_helpers)
    spec = importlib.util.spec_from_file_location(f"_pairs_{name.lower()}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_every_pair_of_the_table_is_shown_by_a_case_whose_one_mistake_makes_both():
    tests = os.path.join(ROOT, "tests")
    shown = {pair for pair, _ in ALL_ZOO_PAIRS}
    shown |= set(pairs_declared_in(os.path.join(tests, "curve", "test_curve_causes.py"), "CURVE_PAIRS"))
    shown |= set(pairs_declared_in(os.path.join(tests, "distributed", "test_ddp_causes.py"), "DDP_PAIRS"))
    missing = [pair for pair in PAIRS if pair not in shown]
    assert not missing, f"{len(missing)} of the table's {len(PAIRS)} pairs have no case that shows them: {missing}"


def test_the_readme_states_the_number_of_rules():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert f"`nndoctor/catalogue/causes.py`, {len(PAIRS)} rules)" in readme
