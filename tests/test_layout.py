"""The code's shape, checked as a test (``make lint`` runs this file alone): no import
circle between the project's modules, and no module longer than the size limit.

Imports are read from the source (every ``import`` statement, also those inside
functions, which run later but still tie two modules together), not executed; a module
importing its own package (``from . import run``) is not a circle, since a package is
imported before its modules. Tests are not held to the size limit.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runtime", "export", "train", "bench")
MAX_LINES = 300
# Modules over the limit (the reason each is allowed); each entry is a debt to pay. None now.
LONGER: dict[str, str] = {}


def modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package) of every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imports(name: str, path: Path, is_package: bool, known) -> set[str]:
    """The project's modules that ``name`` imports, anywhere in its source."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            wanted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = name.split(".") if is_package else name.split(".")[:-1]
            if node.level:
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            wanted = [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in wanted:
            while target and target not in known:  # an attribute, or a module's parent
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                targets.add(target)
    return targets


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(name, path, is_package, known) for name, (path, is_package) in known.items()}


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_the_allowed_long_modules_are_still_long():
    """An entry of LONGER whose module has shrunk (or gone) must be dropped from it."""
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
               for path, _ in modules().values()}
    assert {name for name in LONGER if lengths.get(name, 0) <= MAX_LINES} == set()


def test_no_module_over_the_size_limit():
    over = {str(path.relative_to(ROOT)): lines for path, _ in modules().values()
            if (lines := len(path.read_text().splitlines())) > MAX_LINES and
            str(path.relative_to(ROOT)) not in LONGER}
    assert over == {}


def test_the_runtime_imports_none_of_train_export_or_bench():
    graph = import_graph()
    crossing = {name: sorted(t for t in targets if t.split(".")[0] in ("train", "export", "bench"))
                for name, targets in graph.items() if name.split(".")[0] == "runtime"}
    assert {name: t for name, t in crossing.items() if t} == {}


def test_the_checks_see_a_circle_and_an_over_long_module(tmp_path):
    """The checks themselves can fail: a made-up project with both faults."""
    package = tmp_path / "runtime"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("def f():\n    from runtime import a\n" + "\n" * MAX_LINES)
    assert circles(import_graph(tmp_path)) == [["runtime.a", "runtime.b"]]
    assert len((package / "b.py").read_text().splitlines()) > MAX_LINES



def test_the_readme_names_every_module_and_only_those():
    """"How the code is laid out" has one line per module (a package's __init__ where it
    owns something), and no line for a module that is gone."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### How the code is laid out"):]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```")]
    listed = {line.split()[0] for line in block.splitlines() if line.split()
              and line.split()[0].endswith(".py")}
    files = {str(path.relative_to(ROOT)) for path, _ in modules().values()}
    assert {f for f in files if not f.endswith("__init__.py")} - listed == set()
    assert {name for name in listed if not (ROOT / name).is_file()} == set()
