"""The package layout: `data_tools` may import `l3net`, never the reverse.

`l3net` is the library (models, training, tools, and the one PyAV decode/encode code in
`l3net.media_decode` / `l3net.media_encode`); `data_tools` makes datasets with it. A cycle between
the two would tie every l3net tool to the converter and the synthetic generator. The sources are
read with `ast`, nothing is imported, so every import counts: module level, inside functions, and
`importlib.import_module("...")` / `__import__("...")` with a literal name.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("l3net", "data_tools")
# The only allowed direction between the two top-level packages.
ALLOWED = {("data_tools", "l3net")}


def imports_of(source: str, package: str, filename: str = "<string>") -> List[Tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, at any depth.

    `package` is the dotted package the source belongs to (for `from . import x`). `from a import b`
    counts as importing `a` (enough to know which package a file depends on).
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, _absolute(node, package)))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                found.append((node.lineno, name.value))
    return sorted(found)


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[:len(parts) - (node.level - 1)] if node.level - 1 < len(parts) else []
    return ".".join(base + ([node.module] if node.module else []))


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def offending_imports(source: str, package: str, forbidden: str, filename: str = "<string>") -> List[str]:
    """"<filename>:<line>: imports <module>" for every import of `forbidden` or a module in it."""
    return [f"{filename}:{line}: imports {module}" for line, module in imports_of(source, package, filename)
            if module == forbidden or module.startswith(forbidden + ".")]


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of `graph` (node -> nodes it depends on) as [a, b, ..., a], or None."""
    state: Dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for succ in sorted(graph.get(node, ())):
            if state.get(succ) == 1:
                return path[path.index(succ):] + [succ]
            if succ not in state:
                cycle = visit(succ)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def package_graph(modules: Sequence[Tuple[str, str, str]], packages: Sequence[str]) -> Dict[str, Set[str]]:
    """Top-level package -> the other packages of `packages` its modules import.

    modules: (dotted package of the file, file name, source).
    """
    graph: Dict[str, Set[str]] = {p: set() for p in packages}
    for package, filename, source in modules:
        top = package.split(".")[0]
        for _, module in imports_of(source, package, filename):
            target = module.split(".")[0]
            if target in graph and target != top:
                graph[top].add(target)
    return graph


def _sources(top: str) -> Iterator[Tuple[str, str, str]]:
    """(dotted package, path relative to the repository, source) of every .py file under `top`/."""
    for directory, subdirs, files in os.walk(os.path.join(ROOT, top)):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        package = os.path.relpath(directory, ROOT).replace(os.sep, ".")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    yield package, os.path.relpath(path, ROOT), f.read()


def test_no_l3net_module_imports_data_tools():
    sources = list(_sources("l3net"))
    assert len(sources) > 20  # the walk found the package
    offending = [line for package, filename, source in sources
                 for line in offending_imports(source, package, "data_tools", filename)]
    assert not offending, "l3net must not import data_tools:\n" + "\n".join(offending)


def test_no_import_cycle_between_l3net_and_data_tools():
    graph = package_graph([m for top in PACKAGES for m in _sources(top)], PACKAGES)
    assert graph["data_tools"] == {"l3net"}  # the graph sees real imports
    assert find_cycle(graph) is None, f"package import cycle: {' -> '.join(find_cycle(graph))}"
    assert {(a, b) for a, targets in graph.items() for b in targets} <= ALLOWED


OFFENDING = {  # source -> (line, module) the checker must report
    "import data_tools": (1, "data_tools"),
    "import os, data_tools.convert as convert": (1, "data_tools.convert"),
    "from data_tools import cli": (1, "data_tools"),
    "from data_tools.media_decode import MediaError": (1, "data_tools.media_decode"),
    "def f():\n    if True:\n        from data_tools.synthetic import generate_videos\n": (3, "data_tools.synthetic"),
    "import importlib\nm = importlib.import_module('data_tools.cli')": (2, "data_tools.cli"),
    "m = __import__('data_tools')": (1, "data_tools"),
}
CLEAN = [
    '"""Docstrings may name data_tools.convert."""',
    "import data_toolsx\nfrom l3net import data_tools_like",
    "from l3net.media_decode import decode_clip",
    "from . import data_tools\nfrom ... import data_tools",  # l3net.a.b.data_tools, l3net.data_tools
    "import importlib\nm = importlib.import_module(name)",
]


@pytest.mark.parametrize("source,expected", OFFENDING.items())
def test_checker_flags_every_form_of_import(source, expected):
    line, module = expected
    assert offending_imports(source, "l3net.a.b", "data_tools", "x.py") == [f"x.py:{line}: imports {module}"]


@pytest.mark.parametrize("source", CLEAN)
def test_checker_accepts_other_imports(source):
    assert offending_imports(source, "l3net.a.b", "data_tools") == []


def test_relative_imports_resolve_against_the_package():
    assert imports_of("from . import x\nfrom ..c import y\nfrom .d.e import z", "l3net.a.b") == [
        (1, "l3net.a.b"), (2, "l3net.a.c"), (3, "l3net.a.b.d.e")]


def test_cycle_detection():
    assert find_cycle({"l3net": {"data_tools"}, "data_tools": {"l3net"}}) == ["data_tools", "l3net", "data_tools"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    modules = [("l3net.embed", "l3net/embed/media.py", "from data_tools.media_decode import strerror"),
               ("data_tools", "data_tools/convert.py", "def f():\n    import l3net.media_decode")]
    graph = package_graph(modules, PACKAGES)
    assert graph == {"l3net": {"data_tools"}, "data_tools": {"l3net"}}
    assert find_cycle(graph) is not None
