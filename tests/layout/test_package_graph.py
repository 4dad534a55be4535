"""The layout of ``cdp/`` (issue 22): domain packages, each owning what its docstring says,
whose imports between each other form no circle.

Read from the source with ``ast`` (nothing is imported): every ``import`` counts, at module
level, inside functions and under ``TYPE_CHECKING`` alike, because a circle held by an import
inside a function is still a circle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

CDP = Path(__file__).resolve().parents[2] / "cdp"
#: The shared foundations every package may import, kept at the top of cdp/.
ROOT_MODULES = {"errors", "settings", "store"}
#: The packages that assemble the others (composition roots), the only ones that import
#: the API layer above them (``schema``): the web app, and the CLI (``cdp schema export``).
ASSEMBLERS = {"app", "cli"}


def _packages() -> list[str]:
    return sorted(p.name for p in CDP.iterdir() if (p / "__init__.py").exists())


def _imports(path: Path) -> set[str]:
    """Every dotted module ``path`` imports (``from a.b import c`` counts as ``a.b.c`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _owner(dotted: str) -> str | None:
    """The package (or ``<root>``) of a ``cdp.`` module name, None outside cdp."""
    parts = dotted.split(".")
    if parts[0] != "cdp" or len(parts) < 2:
        return None
    return "<root>" if parts[1] in ROOT_MODULES else parts[1]


def package_graph() -> dict[str, dict[str, set[str]]]:
    """package -> package it imports -> the importing modules (for the failure message)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in CDP.rglob("*.py"):
        rel = path.relative_to(CDP)
        here = "<root>" if len(rel.parts) == 1 else rel.parts[0]
        for dotted in _imports(path):
            there = _owner(dotted)
            if there is not None and there != here and (there == "<root>" or (CDP / there).is_dir()):
                graph[here][there].add(str(rel))
    return graph


def _circle(graph: dict[str, dict[str, set[str]]]) -> list[str] | None:
    """One circle of the graph as a path of packages, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None
    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_circle_between_packages() -> None:
    graph = package_graph()
    circle = _circle(graph)
    assert circle is None, "packages import each other in a circle: " + " -> ".join(circle) + "\n" + "\n".join(
        f"  {a} -> {b}: {', '.join(sorted(graph[a][b]))}" for a, b in zip(circle, circle[1:], strict=False))


def test_the_shared_foundations_import_no_package() -> None:
    assert dict(package_graph().get("<root>", {})) == {}


def test_only_the_assemblers_import_the_api_layer() -> None:
    offenders = sorted(
        str(path.relative_to(CDP)) for path in CDP.rglob("*.py")
        if path.relative_to(CDP).parts[0] not in ASSEMBLERS
        and any(d.split(".")[0] in {"schema", "resolvers"} for d in _imports(path)))
    assert offenders == []


def test_cdp_holds_packages_and_its_foundations_only() -> None:
    flat = sorted(p.stem for p in CDP.glob("*.py") if p.stem != "__init__")
    assert flat == sorted(ROOT_MODULES)


def test_every_package_says_what_it_owns_and_lists_its_surface() -> None:
    packages = _packages()
    assert len(packages) >= 10
    for name in packages:
        tree = ast.parse((CDP / name / "__init__.py").read_text())
        doc = ast.get_docstring(tree)
        assert doc and len(doc) > 40, f"cdp/{name}/__init__.py has no docstring saying what it owns"
        surface = [n for n in tree.body if isinstance(n, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)]
        assert surface, f"cdp/{name}/__init__.py has no __all__"
        names = ast.literal_eval(surface[0].value)
        modules = {p.stem for p in (CDP / name).glob("*.py")} | {
            p.name for p in (CDP / name).iterdir() if (p / "__init__.py").exists()}
        for listed in names:  # a listed name is a module of the package or bound in __init__
            assert listed in modules or f" {listed}" in ast.unparse(tree), f"cdp.{name} lists {listed!r}"
        for module in modules - {"__init__", "__main__"}:  # every module is described in the docstring
            assert f"``{module}``" in doc, f"cdp/{name}/__init__.py does not describe {module}"


def test_a_circle_is_found_when_there_is_one() -> None:
    """The check itself: a made-up graph with a circle is caught, one without is not."""
    assert _circle({"a": {"b": set()}, "b": {"c": set()}, "c": {"a": set()}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b": set()}, "b": {"c": set()}}) is None


def module_graph() -> dict[str, dict[str, set[str]]]:
    """cdp module -> cdp module it imports (both dotted), for the circle check between modules."""
    modules = {".".join(("cdp", *p.relative_to(CDP).with_suffix("").parts)).removesuffix(".__init__"): p
               for p in CDP.rglob("*.py")}
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for name, path in modules.items():
        for dotted in _imports(path):
            if dotted in modules and dotted != name and path.name != "__init__.py" \
                    and modules[dotted].name != "__init__.py":
                graph[name][dotted].add(name)
    return graph


def test_no_circle_between_modules() -> None:
    """Not even inside a package (a circle held by an import inside a function included)."""
    circle = _circle(module_graph())
    assert circle is None, "modules import each other in a circle: " + " -> ".join(circle)
