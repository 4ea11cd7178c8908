"""nndoctor and torchtest side by side on the bug zoo: what each one catches.

torchtest (https://github.com/suriyadeepan/torchtest, 0.5 on PyPI) is the peer that installs next to torch 2.13.0
without pulling another torch (`pip install --no-deps torchtest`: it is one pure-Python file whose only
dependency is torch). It is never installed into this project's environment; set it up apart:

    python -m venv /tmp/ttvenv
    /tmp/ttvenv/bin/pip install torch==2.13.0          # pinned first: the CPU wheel, no other torch
    /tmp/ttvenv/bin/pip install --no-deps torchtest
    .venv/bin/python benchmarks/zoo/compare_torchtest.py --torchtest /tmp/ttvenv

Only the torchtest package is loaded from there (by file path); torch, nndoctor and the zoo come from the running
interpreter. `--zoo-json OUT` reuses the nndoctor results of `benchmarks/zoo/run.py --json OUT` instead of running
the zoo again.

What torchtest is asked, per case (its generic assertions; the output-range test needs a range the user knows, so
it is left out): `assert_vars_change` (one training step on the first batch with the case's own loss and
optimizer: does every trainable parameter change?) and `test_suite(test_nan_vals=True, test_inf_vals=True)` (NaN
or Inf in the model's output). A case counts as caught by torchtest when an assertion fails or the call raises
(a raising test also fails in a test suite). A healthy case caught is a false alarm.
"""
from __future__ import annotations

import argparse
import copy
import glob
import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

from benchmarks.zoo.registry import load_cases  # noqa: E402
from benchmarks.zoo.run import run_case, select  # noqa: E402
from nndoctor.probes.batches import unpack  # noqa: E402
from nndoctor.engine.subject import optimizer_factory  # noqa: E402


def load_torchtest(where: str | None):
    """The torchtest module: importable already, or the package inside a venv / site-packages folder."""
    if where is None:
        try:
            import torchtest

            return torchtest
        except ImportError:
            where = "/tmp/ttvenv"
    candidates = [where, *glob.glob(os.path.join(where, "lib", "python*", "site-packages"))]
    for folder in candidates:
        init = os.path.join(folder, "torchtest", "__init__.py")
        if os.path.exists(init):
            spec = importlib.util.spec_from_file_location("torchtest", init,
                                                          submodule_search_locations=[os.path.dirname(init)])
            module = importlib.util.module_from_spec(spec)
            sys.modules["torchtest"] = module
            spec.loader.exec_module(module)
            return module
    raise SystemExit(f"torchtest not found in {where}: see this file's docstring to set it up")


def torchtest_case(tt, case) -> dict:
    """Run torchtest's generic assertions on one zoo case; returns which failed and why."""
    torch.manual_seed(0)
    kwargs = case.build()
    model, loss = kwargs["model"], kwargs["loss"]
    make_opt = optimizer_factory(kwargs.get("optimizer"), None, model=model)
    batch = unpack(next(iter(kwargs["data"])))
    batch = [batch.inputs, batch.targets]
    failures = []
    tests = {
        "vars_change": lambda m: tt.assert_vars_change(m, loss, make_opt(m), batch, "cpu"),
        "nan_inf": lambda m: tt.test_suite(m, loss, make_opt(m), batch, test_nan_vals=True, test_inf_vals=True),
    }
    for name, test in tests.items():
        m = copy.deepcopy(model)
        try:
            test(m)
        except Exception as exc:  # an assertion of torchtest's, or the model/loss raising inside it
            kind = type(exc).__name__
            failures.append(f"{name}: {kind}: {str(exc).strip().splitlines()[0][:70] if str(exc).strip() else ''}")
    return {"caught": bool(failures), "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torchtest", metavar="DIR", help="a venv or site-packages folder holding torchtest "
                                                           "(default: importable, else /tmp/ttvenv)")
    parser.add_argument("--zoo-json", metavar="FILE", help="nndoctor results from benchmarks/zoo/run.py --json")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--family", action="append", default=[])
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)

    tt = load_torchtest(args.torchtest)
    cases = select(load_cases(), args.only, args.family, False)
    saved = {}
    if args.zoo_json:
        with open(args.zoo_json) as fh:
            saved = {r["id"]: r for r in json.load(fh)["cases"]}
    print(f"torchtest {getattr(tt, '__version__', '0.5')} (from {os.path.dirname(tt.__file__)}) against nndoctor "
          f"on {len(cases)} zoo cases, torch {torch.__version__}")
    print(f"{'case':<34} {'expected':<12} {'nndoctor first':<16} {'nd':<5} {'torchtest':<5} torchtest failure")
    rows = []
    for c in cases:
        nd = saved.get(c.id) or run_case(c)
        first = nd["findings"][0] if nd["findings"] else None
        nd_first = f"{first['code']}:{first['severity'][0].upper()}" if first else "-"
        if c.healthy:
            nd_flag = any(f["severity"] in ("error", "warning") for f in nd["findings"])
            nd_mark = "FALSE" if nd_flag else "ok"
        else:
            nd_flag = bool(nd["top1"])
            nd_mark = "yes" if nd["top1"] else ("any" if any(f["severity"] != "info" for f in nd["findings"])
                                                else "no")
        tt_res = torchtest_case(tt, c)
        tt_mark = ("FALSE" if tt_res["caught"] else "ok") if c.healthy else ("yes" if tt_res["caught"] else "no")
        rows.append({"id": c.id, "healthy": c.healthy, "expect": list(c.expect), "nndoctor_first": nd_first,
                     "nndoctor": nd_mark, "nndoctor_any": any(f["severity"] != "info" for f in nd["findings"]),
                     "torchtest": tt_mark, "torchtest_failures": tt_res["failures"]})
        expected = "healthy" if c.healthy else ",".join(c.expect)
        print(f"{c.id:<34} {expected:<12} {nd_first:<16} {nd_mark:<5} {tt_mark:<5} "
              f"{'; '.join(tt_res['failures'])[:90] or '-'}", flush=True)

    broken = [r for r in rows if not r["healthy"]]
    healthy = [r for r in rows if r["healthy"]]
    summary = {
        "broken": len(broken), "healthy": len(healthy),
        "nndoctor_top1": sum(r["nndoctor"] == "yes" for r in broken),
        "nndoctor_flagged": sum(r["nndoctor_any"] for r in broken),
        "torchtest_flagged": sum(r["torchtest"] == "yes" for r in broken),
        "nndoctor_false_alarms": sum(r["nndoctor"] == "FALSE" for r in healthy),
        "torchtest_false_alarms": sum(r["torchtest"] == "FALSE" for r in healthy),
        "torchtest_only": [r["id"] for r in broken if r["torchtest"] == "yes" and not r["nndoctor_any"]],
    }
    print()
    print(f"broken cases: {summary['broken']}; healthy cases: {summary['healthy']}")
    print(f"nndoctor:  right root cause first in {summary['nndoctor_top1']}, something flagged in "
          f"{summary['nndoctor_flagged']}; false alarms (warning or error) on healthy: "
          f"{summary['nndoctor_false_alarms']}")
    print(f"torchtest: an assertion fails (no diagnosis, no code) in {summary['torchtest_flagged']}; false alarms on "
          f"healthy: {summary['torchtest_false_alarms']}")
    if summary["torchtest_only"]:
        print(f"caught by torchtest and not flagged by nndoctor: {', '.join(summary['torchtest_only'])}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": summary, "cases": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
