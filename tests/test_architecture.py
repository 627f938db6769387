"""The import graph of `src/ratecard` has no cycles: the layers read one way.

The graph is read from the source with `ast`, without importing anything. A module is a file
under src/ratecard (`ratecard.engine.journal`; a package is its `__init__`). An edge A → B is an
import in A that names B:

- `import ratecard.x.y`, `from ratecard.x import y` (y a module: an edge to `ratecard.x.y`;
  otherwise to the package `ratecard.x`, whose `__init__` defines y), relative imports resolved,
  and `importlib.import_module("ratecard.x")` with a literal name;
- wherever it is written: at module level, and also inside a function or a method. An import
  inside a function still runs, only later, and a function-level import is how a cycle usually
  hides; moving it into a function does not break a cycle, moving the shared piece to a lower
  module does;
- except under `if TYPE_CHECKING:` (`typing.TYPE_CHECKING` too): those imports never run, and an
  annotation may name a type from any layer (`from __future__ import annotations` everywhere).

Not edges: imports of modules outside ratecard, and the implicit import of a module's parent
packages (importing `ratecard.engine.pricebook` runs `ratecard/__init__.py` first; counting
that would put the package's `__init__`, which re-exports the API, in a cycle with everything).
`import_module` with a computed name (the package's lazy `__getattr__`) cannot be read and is
not counted.

Beside the cycles, two layering rules (the ones the cycles were about): the engine
(`ratecard.engine.*`) imports nothing of the front end (parsing, checking, compiling, the
command line, the language server, rendering, the warehouse), and nothing imports the command
line but `ratecard.__main__`. The graph reader is tested on a small package of its own too, so
that a test that passes is not a reader that sees nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.conftest import ROOT

SRC = ROOT / "src"

#: Where an import is written: the file (relative to the source root, "/"-separated), the line.
Where = tuple[str, int]
Graph = dict[str, dict[str, list[Where]]]


def modules(src: Path, package: str) -> dict[str, Path]:
    """Every module of `package` under `src` by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_module_call(node: ast.AST) -> bool:
    """`importlib.import_module("…")` or `import_module("…")`, with a literal name."""
    if not (isinstance(node, ast.Call) and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id == "import_module")


def _running_imports(tree: ast.AST) -> Iterator[ast.stmt | ast.Call]:
    """Every import statement and `import_module("…")` call, anywhere but under
    `if TYPE_CHECKING:` (its `else:` branch runs, so it is read)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom) or _import_module_call(node):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(module: str, is_package: bool, node: ast.stmt | ast.Call,
             known: Mapping[str, Path]) -> list[str]:
    """The modules of `known` an import names (nearest known module for a dotted name)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            here = module.split(".") if is_package else module.split(".")[:-1]
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module
                                                                  else []))
        else:
            base = node.module or ""
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                 for alias in node.names]
    elif isinstance(node, ast.Call):
        first = node.args[0]
        assert isinstance(first, ast.Constant) and isinstance(first.value, str)
        names = [first.value]
    targets = []
    for name in names:
        while name and name not in known:  # `import a.b.c` of a name inside a module
            name = name.rpartition(".")[0]
        if name and name != module:
            targets.append(name)
    return targets


def import_graph(src: Path, package: str) -> Graph:
    """Each module's imports of other modules of the package that run, with where they are."""
    known = modules(src, package)
    graph: Graph = {name: {} for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _running_imports(tree):
            for target in _targets(name, path.name == "__init__.py", node, known):
                places = graph[name].setdefault(target, [])
                where = (path.relative_to(src).as_posix(), node.lineno)
                if where not in places:  # `from m import a, b`: one import, one place
                    places.append(where)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without
    recursion), each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def describe(graph: Graph, component: list[str]) -> str:
    """A cycle's imports, one per line, with where each is written."""
    lines = [f"import cycle among {', '.join(component)}:"]
    for module in component:
        for target, places in sorted(graph[module].items()):
            if target in component:
                where = ", ".join(f"{path}:{line}" for path, line in places)
                lines.append(f"  {module} -> {target} ({where})")
    return "\n".join(lines)


def test_no_import_cycles() -> None:
    graph = import_graph(SRC, "ratecard")
    assert len(graph) > 40 and sum(map(len, graph.values())) > 100  # it read the real package
    found = cycles(graph)
    assert not found, "\n".join(describe(graph, component) for component in found)


FRONT_END = ("ratecard.api", "ratecard.check", "ratecard.cli", "ratecard.compile",
             "ratecard.console", "ratecard.fmt", "ratecard.lsp", "ratecard.parser",
             "ratecard.render", "ratecard.transform", "ratecard.versions", "ratecard.warehouse")


def test_the_engine_does_not_import_the_front_end() -> None:
    """The evaluator is the lower layer: what parses, checks, compiles and presents rules sits
    on it (a contract is compiled for `PriceBook.with_contract` through engine.contracts)."""
    graph = import_graph(SRC, "ratecard")
    upward = [(module, target) for module, targets in sorted(graph.items())
              if module.startswith("ratecard.engine.") for target in sorted(targets)
              if target.startswith(FRONT_END) or target == "ratecard"]
    assert upward == []


def test_only_main_imports_the_command_line() -> None:
    graph = import_graph(SRC, "ratecard")
    assert [module for module, targets in sorted(graph.items())
            if "ratecard.cli" in targets] == ["ratecard.__main__"]


def _package(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_reader_finds_cycles_through_functions_and_relative_imports(tmp_path: Path) -> None:
    """pkg.a imports pkg.sub.b at module level; pkg.sub.b imports pkg.a inside a function, by a
    relative import: a cycle. pkg.c and pkg.a import each other, but c only under
    TYPE_CHECKING: no cycle. pkg.d reaches pkg.e through `import_module("pkg.e")`, and e imports
    d by `from pkg import d`: a cycle."""
    _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import os\nfrom pkg.sub import b\nfrom pkg.c import THING\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def f():\n    from .. import a\n    return a\n",
        "pkg/c.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from pkg.a import X\nelse:\n    import json\nTHING = 1\n"),
        "pkg/d.py": "import importlib\nE = importlib.import_module('pkg.e')\n",
        "pkg/e.py": "from pkg import d\n",
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b": [("pkg/a.py", 2)],
                              "pkg.c": [("pkg/a.py", 3)]}
    assert graph["pkg.sub.b"] == {"pkg.a": [("pkg/sub/b.py", 2)]}
    assert graph["pkg.c"] == {}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"], ["pkg.d", "pkg.e"]]
    assert describe(graph, ["pkg.a", "pkg.sub.b"]) == (
        "import cycle among pkg.a, pkg.sub.b:\n"
        "  pkg.a -> pkg.sub.b (pkg/a.py:2)\n"
        "  pkg.sub.b -> pkg.a (pkg/sub/b.py:2)")


def test_the_reader_counts_a_package_import_as_its_init(tmp_path: Path) -> None:
    """`from pkg import name` (name not a module) is an edge to pkg's `__init__`, and
    `import pkg.m.Name`-style dotted names fall back to the nearest module."""
    _package(tmp_path, {
        "pkg/__init__.py": "from pkg.m import VALUE\n",
        "pkg/m.py": "def f():\n    from pkg import VALUE\n    return VALUE\nVALUE = 1\n",
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph == {"pkg": {"pkg.m": [("pkg/__init__.py", 1)]},
                     "pkg.m": {"pkg": [("pkg/m.py", 2)]}}
    assert cycles(graph) == [["pkg", "pkg.m"]]
