"""The layers of `nndoctor/__init__.py`'s docstring, held: no import cycle between nndoctor's modules, the arrows
pointing one way, and the torch-free entry points staying torch-free when imported.

The graph is read from the source with `ast`: every module under nndoctor/ and checks/ (installed as
`nndoctor.checks`), with the imports a module makes when it is imported (at module level, class bodies included).
Imports inside functions are lazy and left out, as are `if TYPE_CHECKING:` blocks. An edge goes to the module
named (`from pkg import sub` to `pkg.sub` when that is a module); the package `__init__` that Python runs on the way
is no edge of its own, since every module would then import its whole package.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from conftest import ROOT

SOURCES = {"nndoctor": os.path.join(ROOT, "nndoctor"), "nndoctor.checks": os.path.join(ROOT, "checks")}
TORCH_FREE = ("nndoctor.report", "nndoctor.catalogue", "nndoctor.common", "nndoctor.curve")
RUN_LAYERS = ("nndoctor.engine", "nndoctor.probes", "nndoctor.config.build")


@dataclass
class Module:
    name: str
    path: str
    is_package: bool
    imports: list[str] = field(default_factory=list)  # absolute names, as imported at import time


def module_name(package: str, root: str, path: str) -> tuple[str, bool]:
    """The dotted name of the file at `path` under `root`, which is the package `package`."""
    parts = os.path.relpath(path, root)[:-len(".py")].split(os.sep)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join([package, *parts]), is_package


def discover() -> dict[str, Module]:
    modules = {}
    for package, root in SOURCES.items():
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            for file in files:
                if file.endswith(".py"):
                    path = os.path.join(folder, file)
                    name, is_package = module_name(package, root, path)
                    modules[name] = Module(name, path, is_package)
    return modules


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_time_statements(body: list[ast.stmt]):
    """The import statements a module runs when imported: not in functions, not under `if TYPE_CHECKING:`."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            yield from import_time_statements(node.orelse)
        else:
            for block in nested_blocks(node):
                yield from import_time_statements(block)


def nested_blocks(node: ast.stmt):
    """The statement lists inside a compound statement (if, try, with, for, while, class, match)."""
    for attr in ("body", "orelse", "finalbody"):
        yield getattr(node, attr, None) or []
    for handler in getattr(node, "handlers", None) or []:  # try: ... except
        yield handler.body
    for case in getattr(node, "cases", None) or []:  # match
        yield case.body


def resolve(module: Module, node: ast.ImportFrom) -> str:
    """The absolute name a `from ... import` starts from."""
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    base = base if module.is_package else base[:-1]  # a package's `.` is itself; a module's, its package
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported(module: Module, modules: dict[str, Module]) -> list[str]:
    """What `module` imports at import time: `pkg.name` where that is a known module, else what `from` names."""
    source = open(module.path, encoding="utf-8").read()
    out = []
    for node in import_time_statements(ast.parse(source, module.path).body):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
            continue
        base = resolve(module, node)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            out.append(sub if sub in modules else base)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, Module]:
    modules = discover()
    for m in modules.values():
        m.imports = imported(m, modules)
    return modules


def edges(graph, name: str) -> list[str]:
    """The modules of this project that `name` imports (directly)."""
    return sorted({target for target in graph[name].imports if target in graph and target != name})


def path_to(graph, start: str, wanted) -> list[str] | None:
    """The shortest import chain from `start` to a name that `wanted(name)` accepts, through project modules."""
    seen, frontier = {start}, [[start]]
    while frontier:
        chain = frontier.pop(0)
        for target in graph[chain[-1]].imports:
            if wanted(target):
                return chain + [target]
            if target in graph and target not in seen:
                seen.add(target)
                frontier.append(chain + [target])
    return None


def within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# -- the graph is read right ---------------------------------------------------------------------------------------
def test_the_graph_covers_the_package_and_the_checks(graph):
    assert {"nndoctor", "nndoctor.report.model", "nndoctor.engine.runner", "nndoctor.checks",
            "nndoctor.checks.activations"} <= set(graph)
    assert "nndoctor.report.model" in edges(graph, "nndoctor.engine.check")  # `from ..report.model import Finding`
    assert "torch" in graph["nndoctor.engine.runner"].imports


def test_lazy_and_type_checking_imports_are_not_edges(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nfrom . import b\nif TYPE_CHECKING:\n    import torch\nelse:\n"
        "    import json\ntry:\n    import numpy\nexcept ImportError:\n    numpy = None\n"
        "class A:\n    from .b import x\ndef f():\n    import yaml\n")
    (tmp_path / "pkg" / "b.py").write_text("x = 1\n")
    modules = {name: Module(name, str(tmp_path / "pkg" / file), name == "pkg")
               for name, file in [("pkg", "__init__.py"), ("pkg.a", "a.py"), ("pkg.b", "b.py")]}
    # Not torch (under TYPE_CHECKING), not yaml (lazy); the class body's import runs at import time.
    assert imported(modules["pkg.a"], modules) == ["typing", "pkg.b", "json", "numpy", "pkg.b"]


# -- no cycle ----------------------------------------------------------------------------------------------------
def find_cycle(graph) -> list[str] | None:
    """One import cycle among the project's modules, as a chain that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name, chain):
        state[name] = 1
        for target in edges(graph, name):
            if state.get(target) == 1:
                return chain[chain.index(target):] + [target]
            if target not in state:
                found = visit(target, chain + [target])
                if found:
                    return found
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name, [name])
            if found:
                return found
    return None


def test_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_would_be_found():
    fake = {name: Module(name, "", False, imports=[target]) for name, target in
            [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a")]}
    assert find_cycle(fake) == ["p.a", "p.b", "p.c", "p.a"]


# -- the arrows point one way --------------------------------------------------------------------------------------
def test_torch_free_layers_import_neither_the_run_layers_nor_torch(graph):
    """report, catalogue, common and curve: nothing from engine, probes or config.build, and no torch, through any
    chain of module-level imports."""
    bad = {}
    for name in sorted(n for n in graph if within(n, TORCH_FREE)):
        chain = path_to(graph, name, lambda t: within(t, RUN_LAYERS) or within(t, ("torch",)))
        if chain:
            bad[name] = " -> ".join(chain)
    assert not bad, bad


def test_probes_import_neither_the_engine_nor_the_config(graph):
    bad = {}
    for name in sorted(n for n in graph if within(n, ("nndoctor.probes",))):
        chain = path_to(graph, name, lambda t: within(t, ("nndoctor.engine", "nndoctor.config")))
        if chain:
            bad[name] = " -> ".join(chain)
    assert not bad, bad


def test_a_chain_to_a_forbidden_module_would_be_found():
    fake = {name: Module(name, "", False, imports=imports) for name, imports in
            [("p.report", ["json", "p.util"]), ("p.util", ["torch.nn"])]}
    assert path_to(fake, "p.report", lambda t: within(t, ("torch",))) == ["p.report", "p.util", "torch.nn"]
    assert path_to(fake, "p.report", lambda t: within(t, ("p.engine",))) is None


def test_no_check_imports_another(graph):
    checks = {n for n in graph if n.startswith("nndoctor.checks.")}
    bad = {name: [t for t in edges(graph, name) if t in checks] for name in sorted(checks)}
    assert not {k: v for k, v in bad.items() if v}, bad


# -- importing the light entry points leaves torch out ---------------------------------------------------------------
EXPLAIN = ("from nndoctor.cli import main\n"  # what `python -m nndoctor explain ND601` runs, in this process
           "sys.argv = ['nndoctor', 'explain', 'ND601']\n"
           "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n")


@pytest.mark.parametrize("statement", ["import nndoctor.curve", "import nndoctor.report", "from nndoctor import Check",
                                       pytest.param(EXPLAIN, id="nndoctor explain ND601")])
def test_imported_without_torch(statement):
    assert not imports_torch(statement), f"{statement!r} imports torch"


def test_the_probe_sees_torch_where_it_is_imported():
    assert imports_torch("import nndoctor.api")


def imports_torch(statement: str) -> bool:
    """Whether running `statement` in a fresh interpreter leaves torch in sys.modules."""
    script = f"import sys\n{statement}\nprint('torch' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] == "True"
