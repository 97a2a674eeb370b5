"""The layering of the packages (issue 21): imports go one way, down, and never round.

    counting  <  constructions  <  probes  <  paper_figs  <  counting_app

`counting` (language, data, models, training, engine, metrics, the CLI's contract) is the
bottom, `counting_app` (the `counting` command registry and `main`) the top. Every `.py` file
of these packages is parsed (nothing is imported), and EVERY import counts: module level,
inside functions, under `if TYPE_CHECKING` or `__main__`, absolute and relative. Checked:

- direction: no module imports a module of a package above its own;
- by name: no module names a module of a package above its own in a string that is exactly
  that module's name ("constructions.cli", "paper_figs.capacity:main"), as a registry that
  loads modules by name (`importlib.import_module`) would;
- no cycles: the graph module -> imported module has no strongly connected component of
  more than one module. `import a.b.c` and `from a.b.c import x` are edges to a.b.c (to
  a.b.c.x when that is a module); `from a.b import c` is an edge to a.b.c when c is a
  module, else to a.b. The packages' __init__ files that a dotted import runs on the way
  are not edges (Python handles a package importing its own submodules).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

# the layers, bottom first
LAYERS = ("counting", "constructions", "probes", "paper_figs", "counting_app")
ROOT = Path(os.environ.get("COUNTING_LAYERING_ROOT") or Path(__file__).resolve().parents[1])


def _modules(root: Path) -> dict[str, Path]:
    """{dotted module name: file} of every .py file of the layered packages under root."""
    found = {}
    for top in LAYERS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """[(imported module of the layered packages, line)] of every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if _is_package(path) else name.rpartition(".")[0]
    out = []

    def resolve(target: str) -> str | None:
        """The longest prefix of `target` that is one of our modules."""
        parts = target.split(".")
        for k in range(len(parts), 0, -1):
            candidate = ".".join(parts[:k])
            if candidate in modules:
                return candidate
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                hit = resolve(alias.name)
                if hit:
                    out.append((hit, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                hit = sub if sub in modules else resolve(base)
                if hit:
                    out.append((hit, node.lineno))
    return out


def _named(path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """[(module, line)] of every string constant that is exactly a module's name (or
    `module:attribute`): a module loaded by name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.split(":")[0]
            if text in modules and "." in text:
                out.append((text, node.lineno))
    return out


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def upward_imports(root: Path = ROOT) -> list[str]:
    modules = _modules(root)
    bad = []
    for name, path in modules.items():
        for target, line in _imports(name, path, modules):
            if _layer(target) > _layer(name):
                bad.append(f"{path.relative_to(root)}:{line}: {name} imports {target}")
        for target, line in _named(path, modules):
            if _layer(target) > _layer(name):
                bad.append(f"{path.relative_to(root)}:{line}: {name} names {target!r}")
    return bad


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = _modules(root)
    return {name: {t for t, _ in _imports(name, path, modules) if t != name}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
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


# ---------------------------------------------------------------------------- the tests


def test_the_packages_are_all_there():
    modules = _modules(ROOT)
    for top in LAYERS:
        assert top in modules, f"{top}/__init__.py not found under {ROOT}"
    assert "counting.cli" in modules and "counting_app.cli" in modules


def test_no_module_imports_a_package_above_its_own():
    bad = upward_imports()
    assert not bad, "imports against the layering " + " < ".join(LAYERS) + ":\n" + "\n".join(bad)


def test_there_are_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (function-level imports included):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_the_checks_see_function_level_relative_and_by_name_imports(tmp_path):
    """The checker itself, on a small tree: every kind of import it must see."""
    for top in LAYERS:
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    (tmp_path / "counting" / "low.py").write_text(
        "def f():\n    from constructions import high  # function level\n")
    (tmp_path / "constructions" / "high.py").write_text(
        "from . import other\n")  # relative
    (tmp_path / "constructions" / "other.py").write_text(
        "import constructions.high\nREGISTRY = ('probes.mod',)\n")  # a cycle; a name
    (tmp_path / "probes" / "mod.py").write_text("if __name__ == '__main__':\n    import os\n")
    bad = upward_imports(tmp_path)
    assert any("counting.low imports constructions.high" in b for b in bad), bad
    assert any("constructions.other names 'probes.mod'" in b for b in bad), bad
    assert len(bad) == 2, bad
    assert cycles(import_graph(tmp_path)) == [["constructions.high", "constructions.other"]]
