"""The layout rules, pinned: files and classes small enough to read, the handlers' code apart from the
workstation's, subpackages without import cycles, and private names kept private.

Everything is read with ast from the files git tracks; nothing here imports the code it judges.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 500
MAX_CLASS_LINES = 300
HANDLERS = ("ProducerAI/lambda_function.py", "ServerlessProducer/lambda_function.py")
# What a handler may reach besides lib and the standard library: the AWS SDK the Lambda runtime provides
# (boto3, botocore, and urllib3, botocore's own HTTP client, which lib/webclient.py uses directly) and the
# one package requirements-lambda.txt puts in the deps layer.
HANDLER_THIRD_PARTY = frozenset({"boto3", "botocore", "urllib3", "pythonjsonlogger"})
# The workstation's own code and tools; never in the Lambda layer (docs/design.md, "Layout").
WORKSTATION_ONLY = ("watchlist_workstation", "ddb_ops", "cfcli")
PRIVATE_RULE_SCOPE = ("lib/", "watchlist_workstation/", "bench/", "cfcli.py", "ddb_ops.py")


def _git_ls_files() -> tuple[str, ...]:
    git = shutil.which("git") or "git"
    listing = subprocess.run([git, "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return tuple(path for path in listing.stdout.splitlines() if (ROOT / path).is_file())


# Listed when pytest collects this module, before any test runs: git is a process of its own, which a test
# without the `servers` marker may not start (tests/conftest.py), and these tests are about the files, not git.
TRACKED = _git_ls_files()


@cache
def parse(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_bytes(), filename=path)


def module_name(path: str) -> str:
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, str]:
    """Dotted module name -> path, for every tracked module that is importable by that name."""
    return {module_name(path): path for path in TRACKED}


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # absolute dotted name of what the statement imports from
    names: tuple[str, ...]  # for `from module import a, b`; empty for `import module`


def package_of(path: str) -> str:
    name = module_name(path)
    return name if path.endswith("__init__.py") else name.rpartition(".")[0]


def absolute(node: ast.ImportFrom, package: str) -> str:
    """The module a `from ... import` names, a relative one resolved against `package`."""
    if not node.level:
        return node.module or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_in(tree: ast.Module, package: str) -> Iterator[Import]:
    """Every import in the tree, wherever it is (a function-level import runs too), relative ones made absolute."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            yield Import(node.lineno, absolute(node, package), tuple(alias.name for alias in node.names))


def imports(path: str) -> Iterator[Import]:
    return imports_in(parse(path), package_of(path))


def imported_modules(found: Import) -> list[str]:
    """The modules an import loads: `from lib import clients` loads lib.clients when that is a module."""
    loaded = [found.module]
    loaded += [f"{found.module}.{name}" for name in found.names if f"{found.module}.{name}" in modules()]
    return loaded


def top(module: str) -> str:
    return module.partition(".")[0]


# ---------------------------------------------------------------------------------------------- (a) sizes


def test_no_python_file_is_over_500_lines():
    # GIVEN every Python file git tracks  WHEN its lines are counted  THEN none has more than 500
    long = {
        path: lines
        for path in TRACKED
        if (lines := len((ROOT / path).read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert long == {}, f"split these into modules that each do one job (at most {MAX_FILE_LINES} lines)"


def test_no_class_is_over_300_lines():
    # GIVEN every class in a tracked Python file  WHEN its lines are counted  THEN none has more than 300
    long = {
        f"{path}:{node.lineno} {node.name}": node.end_lineno - node.lineno + 1
        for path in TRACKED
        for node in ast.walk(parse(path))
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES
    }
    assert long == {}, f"split these classes (at most {MAX_CLASS_LINES} lines)"


# ---------------------------------------------------------------------------------------------- (b), (c) what ships


def reachable_from(start: str) -> dict[str, str]:
    """Every module a handler imports, following lib's own imports transitively -> where it is first imported."""
    seen: dict[str, str] = {}
    queue = [start]
    visited = set()
    while queue:
        path = queue.pop()
        if path in visited:
            continue
        visited.add(path)
        for found in imports(path):
            for module in imported_modules(found):
                seen.setdefault(module, f"{path}:{found.line}")
                if top(module) == "lib" and module in modules():
                    queue.append(modules()[module])
    return seen


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_reaches_only_lib_the_standard_library_and_the_runtimes_sdk(handler):
    # GIVEN a handler and every module its lib imports bring in, transitively
    reached = reachable_from(handler)
    # THEN each is lib itself, the standard library, the AWS SDK or the deps layer's logger
    outside = {
        module: where
        for module, where in reached.items()
        if top(module) != "lib" and top(module) not in sys.stdlib_module_names | HANDLER_THIRD_PARTY
    }
    assert outside == {}
    # AND in particular nothing of the workstation, pandas, flask, moto or click
    assert not {top(m) for m in reached} & {*WORKSTATION_ONLY, "pandas", "flask", "moto", "click"}
    # AND every lib module it names is one lib ships (a typo would pass the first check)
    assert [module for module in reached if top(module) == "lib" and module not in modules()] == []


def test_lib_never_imports_the_workstation():
    # GIVEN every module of lib  THEN none imports watchlist_workstation, ddb_ops or cfcli, not even inside a function
    found = [
        f"{path}:{imported.line} imports {imported.module}"
        for path in TRACKED
        if path.startswith("lib/")
        for imported in imports(path)
        if top(imported.module) in WORKSTATION_ONLY
    ]
    assert found == []


# ---------------------------------------------------------------------------------------------- (d) cycles


def subpackage(module: str) -> str | None:
    """`watchlist_workstation.<name>`'s <name> for a module inside it (a subpackage or a top-level module)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "watchlist_workstation" and len(parts) > 1 else None


def package_edges() -> dict[tuple[str, str], str]:
    """(importing subpackage, imported subpackage) -> the first import that makes the edge."""
    edges: dict[tuple[str, str], str] = {}
    for path in TRACKED:
        source = subpackage(module_name(path))
        if source is None:
            continue
        for found in imports(path):
            for module in imported_modules(found):
                target = subpackage(module)
                if target is not None and target != source:
                    edges.setdefault((source, target), f"{path}:{found.line}")
    return edges


def cycles(edges: dict[tuple[str, str], str]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    graph: dict[str, list[str]] = {}
    for source, target in edges:
        graph.setdefault(source, []).append(target)
        graph.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_cycle_finder_finds_a_cycle_and_only_a_cycle():
    # GIVEN a -> b -> c -> a and c -> d  WHEN cycles are looked for  THEN a, b, c are one and d is in none
    edges = {("a", "b"): "", ("b", "c"): "", ("c", "a"): "", ("c", "d"): ""}
    assert cycles(edges) == [["a", "b", "c"]]


def test_the_workstations_subpackages_import_each_other_without_a_cycle():
    # GIVEN the subpackages of watchlist_workstation and who imports whom (lazy imports included)
    edges = package_edges()
    # THEN no group of them imports each other round in a circle
    found = {
        " <-> ".join(group): sorted(f"{a} -> {b} ({where})" for (a, b), where in edges.items() if {a, b} <= set(group))
        for group in cycles(edges)
    }
    assert found == {}


# ---------------------------------------------------------------------------------------------- (e) private names


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


def defined_private_names(tree: ast.Module) -> frozenset[str]:
    """The private names a module defines: its functions, classes, module and class attributes, and the
    attributes its methods set on self or cls."""
    defined = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            defined.add(node.attr)
    return frozenset(name for name in defined if is_private(name))


@cache
def private_name_owners() -> dict[str, frozenset[str]]:
    """Private name -> the project's modules that define it."""
    owners: dict[str, set[str]] = {}
    for path in TRACKED:
        for name in defined_private_names(parse(path)):
            owners.setdefault(name, set()).add(path)
    return {name: frozenset(paths) for name, paths in owners.items()}


def project_module_names(tree: ast.Module, package: str) -> set[str]:
    """Names the module binds to a project module by importing it (`import lib.x` binds lib)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound |= {alias.asname or top(alias.name) for alias in node.names if top(alias.name) in project_packages()}
        elif isinstance(node, ast.ImportFrom):
            module = absolute(node, package)
            bound |= {alias.asname or alias.name for alias in node.names if f"{module}.{alias.name}" in modules()}
    return bound


@cache
def project_packages() -> frozenset[str]:
    return frozenset(top(module) for module in modules())


def private_reaches(path: str, tree: ast.Module, owners: dict[str, frozenset[str]]) -> list[str]:
    """Where the module at `path` reaches a private name of another project module: importing it, reading it
    off an imported module, or off an object whose private name only other modules define."""
    package = package_of(path)
    found = [
        f"{path}:{imported.line} imports {imported.module}.{name}"
        for imported in imports_in(tree, package)
        if top(imported.module) in project_packages()
        for name in imported.names
        if is_private(name)
    ]
    bound, own = project_module_names(tree, package), defined_private_names(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        receiver = ast.unparse(node.value)
        if receiver in ("self", "cls") or receiver.startswith("super("):
            continue
        if receiver.partition(".")[0] in bound:
            found.append(f"{path}:{node.lineno} reaches {receiver}.{node.attr}")
        elif node.attr not in own and owners.get(node.attr, frozenset()) - {path}:
            defined_by = ", ".join(sorted(owners[node.attr]))
            found.append(f"{path}:{node.lineno} reaches {receiver}.{node.attr} (private to {defined_by})")
    return found


def test_the_private_name_finder_sees_each_kind_of_reach():
    # GIVEN a module that imports a private name, reads one off an imported module, one off an object whose
    # private name another module defines, and one through self
    code = "from lib.clients import _cache\nimport lib.clients\nlib.clients._cache\nstate._cache\nself._cache\n"
    owners = {"_cache": frozenset({"lib/clients.py"})}
    # WHEN its reaches are looked for
    found = private_reaches("bench/example.py", ast.parse(code), owners)
    # THEN the first three are found, the one through self is not
    assert found == [
        "bench/example.py:1 imports lib.clients._cache",
        "bench/example.py:3 reaches lib.clients._cache",
        "bench/example.py:4 reaches state._cache (private to lib/clients.py)",
    ]


def test_no_module_reaches_another_modules_private_name():
    # GIVEN lib, the workstation, the benches and the two tools at the root
    scope = [path for path in TRACKED if path.startswith(PRIVATE_RULE_SCOPE)]
    # THEN none imports a private name of another project module, or reads one off a module or an object
    found = [reach for path in scope for reach in private_reaches(path, parse(path), private_name_owners())]
    assert found == []
