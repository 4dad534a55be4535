"""``tests/`` mirrors ``cdp/`` (issue 22, item 4): every domain module ``cdp/<package>/<module>.py``
is imported by at least one test in ``tests/<package>/``, so each module is exercised by a test
of its own package and a newcomer finds its tests where the tree says.

Read from the source with ``ast`` (nothing is imported). A test imports a module when it writes
``import cdp.<package>.<module>``, ``from cdp.<package>.<module> import ...`` or
``from cdp.<package> import <module>``; a name re-exported by the package's ``__init__``
(``from cdp.app import build_app``) does not count, since it does not say which module it tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CDP = ROOT / "cdp"
TESTS = ROOT / "tests"

#: Modules no test of their own package imports yet. Each entry is a debt, not a design:
#: add one only with a comment saying why and when it will be covered, and remove it when its
#: test lands (the check below also fails when an entry is no longer needed, so the list can
#: only shrink). Empty since issue 22 item 4: every domain module has a test of its own package.
NOT_YET_COVERED: set[str] = set()


def domain_modules() -> set[str]:
    """Every ``<package>.<module>`` of ``cdp/`` (not ``__init__`` or ``__main__``)."""
    return {f"{p.parent.name}.{p.stem}" for p in CDP.glob("*/*.py")
            if (p.parent / "__init__.py").exists() and p.stem not in {"__init__", "__main__"}}


def imported_by_tests(package: str) -> set[str]:
    """The modules of ``cdp.<package>`` that some ``tests/<package>/*.py`` imports (as ``<package>.<module>``)."""
    found: set[str] = set()
    modules = {p.stem for p in (CDP / package).glob("*.py")}
    for path in (TESTS / package).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                dotted = [alias.name.split(".") for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                base = node.module.split(".")
                dotted = [base] + [base + [alias.name] for alias in node.names]
            else:
                continue
            for parts in dotted:
                if parts[:2] == ["cdp", package] and len(parts) > 2 and parts[2] in modules:
                    found.add(f"{package}.{parts[2]}")
    return found


def uncovered() -> set[str]:
    """The domain modules imported by no test of their own package."""
    modules = domain_modules()
    covered = set().union(*(imported_by_tests(p) for p in {m.split(".")[0] for m in modules}))
    return modules - covered


def test_every_domain_module_is_imported_by_a_test_of_its_package() -> None:
    missing = sorted(uncovered() - NOT_YET_COVERED)
    assert missing == [], ("modules imported by no test in tests/<package>/ (add a test there): "
                           + ", ".join(missing))


def test_the_allow_list_only_holds_modules_still_uncovered() -> None:
    stale = sorted(NOT_YET_COVERED - uncovered())
    assert stale == [], "now covered or gone, remove from NOT_YET_COVERED: " + ", ".join(stale)


def test_the_check_sees_a_test_importing_its_module() -> None:
    """The check itself: a module known to be tested is seen, an unrelated package's is not."""
    assert "segments.definition" in domain_modules()
    assert "segments.definition" not in uncovered()
    assert "transport.pagination" in imported_by_tests("transport")
    assert not any(m.startswith("transport.") for m in imported_by_tests("segments"))
