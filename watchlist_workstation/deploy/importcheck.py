"""Before measuring, every module that ships is checked for imports the Lambda environment cannot satisfy
(a workstation package, pandas, click, a module lib does not ship, ...), so such a mistake fails the build
here instead of the first invocation in AWS. tests/test_layout.py also proves that no module outside lib
is reachable from a handler."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from watchlist_workstation.deploy.build_errors import BuildError
from watchlist_workstation.deploy.bundles import LAMBDA_REQUIREMENTS

# What the Lambda Python runtime itself puts on sys.path: the AWS SDK and its dependencies
# (Lambda developer guide, "Python runtimes": the runtime includes the SDK for Python, boto3).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"})

# The standard library of the *target* Python: sys.stdlib_module_names is the workstation's
# (3.11), which still has these, removed by PEP 594 / PEP 632 in the version named.
_REMOVED_FROM_STDLIB = {
    (3, 12): {"asynchat", "asyncore", "distutils", "imp", "smtpd"},
    (3, 13): {
        "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "lib2to3", "mailcap", "msilib",
        "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
    },
}  # fmt: skip


def check_imports(
    out: Path,
    root: Path,
    function_dirs: dict[str, Path],
    layer_dirs: dict[str, Path],
    layer_refs: dict[str, list[str]],
    python_version: str,
) -> None:
    """Fail when shipped code imports something neither the runtime, its layers nor its own folder has."""
    target = tuple(int(part) for part in python_version.split("."))
    stdlib = set(sys.stdlib_module_names)
    for version, removed in _REMOVED_FROM_STDLIB.items():
        if target >= version:
            stdlib -= removed
    problems: list[str] = []
    for logical_id, function_dir in function_dirs.items():
        # What this function sees on sys.path in Lambda: its own folder, the runtime, its layers.
        available = stdlib | RUNTIME_PROVIDED | _top_level_names(function_dir)
        lib_names: set[str] = set()  # what `lib.<name>` and `from lib import <name>` can find in the layers
        files = sorted(function_dir.rglob("*.py"))
        for layer_id in layer_refs[logical_id]:
            python_dir = layer_dirs[layer_id] / "python"
            available |= _top_level_names(python_dir)
            lib_names |= _lib_names(python_dir / "lib")
            files += sorted((python_dir / "lib").rglob("*.py"))
        for path in files:
            for line, module, names in _imports(path):
                parts = module.split(".")
                missing = parts[0] not in available or (parts[0] == "lib" and not _resolves(parts[1:], lib_names))
                # `from lib import local` names a module the layer does not ship.
                if module == "lib":
                    missing = missing or any(name not in lib_names for name in names)
                if missing:
                    shown = ", ".join(f"{module}.{n}" for n in names) if module == "lib" else module
                    problems.append(f"{path.relative_to(out).as_posix()}:{line} imports {shown}")
    if problems:
        unique = list(dict.fromkeys(problems))
        raise BuildError(
            "shipped code imports what neither the Lambda runtime nor the layers provide "
            f"(workstation-only, or missing from {LAMBDA_REQUIREMENTS}): {'; '.join(unique)}"
        )


def _lib_names(lib_dir: Path) -> set[str]:
    """Dotted names under lib that the shipped copy provides: its modules and packages ("state",
    "a.b"), and the names bound at the top of lib/__init__.py ("__version__")."""
    if not lib_dir.is_dir():
        return set()
    names = {".".join(p.relative_to(lib_dir).with_suffix("").parts) for p in lib_dir.rglob("*.py")}
    names = {n.removesuffix(".__init__") for n in names if n != "__init__"}
    init = lib_dir / "__init__.py"
    if init.is_file():
        for node in ast.parse(init.read_bytes()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
    return names


def _resolves(parts: list[str], lib_names: set[str]) -> bool:
    """Whether `lib.<parts>` is a shipped module (or a package of it); `lib` alone always is."""
    return not parts or ".".join(parts) in lib_names


def _top_level_names(directory: Path) -> set[str]:
    """Importable top-level names in a sys.path entry: packages, modules and extension modules."""
    if not directory.is_dir():
        return set()
    names = set()
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.name.endswith((".dist-info", ".data")) and entry.name != "__pycache__":
            names.add(entry.name)
        elif entry.suffix in (".py", ".so", ".pyd"):
            names.add(entry.name.split(".")[0])
    return names


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every absolute import that runs (not under TYPE_CHECKING)."""
    for node in _runtime_nodes(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Walk the tree, skipping `if TYPE_CHECKING:` bodies (type-only imports never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
