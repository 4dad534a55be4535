"""The codemod of issue 22's layout: move flat ``cdp`` modules and tests into their packages,
and rewrite every reference to them across the repository.

    python tools/layout/rewrite.py move        # git mv what still sits at an old path
    python tools/layout/rewrite.py refs        # rewrite imports, dotted names and paths
    python tools/layout/rewrite.py refs --check   # list files that would change (exit 1 if any)
    python tools/layout/rewrite.py inits       # refresh each package __init__'s module list and __all__
    python tools/layout/rewrite.py resolve     # during a merge: settle conflicts the move alone caused

Every step reads ``tools/layout/mapping.py`` and may be run again at any time: ``move`` skips
files already moved, ``refs`` leaves new-style references alone (running it twice changes
nothing). A flat module or test the tables do not know is reported: add a row to
``mapping.py`` and run again.

Merging a branch written against the flat layout (either way round):

1. ``git merge <branch>``: git's rename detection carries the branch's edits of a moved
   file to its new path; the import lines both sides changed conflict.
2. ``rewrite.py resolve``: a conflicted file whose one side is its base with only this
   move's rewrites becomes the other side, rewritten. What is left is listed "by hand":
   the split modules (``cdp/ingest.py`` became ``cdp/ingest/{read,convert,write,run}.py``,
   ``cdp/segments.py`` became ``cdp/segments/{definition,evaluation,engine}.py``: apply the
   branch's diff of the old file to the stage module that now holds each hunk, then
   ``git rm`` the old file) and the few files the move edited beyond references.
3. ``rewrite.py move`` (modules and tests the branch added at flat paths), ``rewrite.py refs``,
   ``rewrite.py inits``; then ``pytest tests/layout`` and the suite.

What ``refs`` rewrites, in Python, Markdown, TOML, Makefile and shell text outside .venv:
``from cdp.x import ...``, ``from cdp import x``, ``import cdp.x``; dotted names ``cdp.x``
and ``cdp.x.name`` (monkeypatch targets, docstrings, docs); paths ``cdp/x.py`` and
``tests/test_x.py``; ``tests.test_x``. Logger names (``getLogger("cdp.jobs")``) are kept.
In moved tests, ``Path(__file__)``'s ``parents[n]`` gains one level.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mapping import KEEP, MODULES, SPLITS, TESTS  # noqa: E402

MOVED = {old: new for old, new in MODULES.items() if new != old}
PACKAGES = {new.split(".")[0] for new in MODULES.values() if "." in new}
#: data files that live beside a module and move with it
DATA_FILES = {"identity_rules.toml": "identity", "profile_policy.toml": "customers"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".txt", ".sh", ".lua", ".yml", ".yaml", ".json"}
SKIP_DIRS = {".venv", ".git", "node_modules", "__pycache__", "vendor", ".mypy_cache", ".ruff_cache",
             ".pytest_cache", "data", "target"}
#: this tool's own files name the old layout on purpose
SKIP_FILES = {Path("tools/layout/mapping.py"), Path("tools/layout/rewrite.py")}


def submodules(package: str) -> set[str]:
    """Leaf names of ``package``'s modules: from the table, and from disk (modules added later)."""
    names = {new.split(".", 1)[1] for new in MODULES.values() if new.startswith(package + ".")}
    folder = ROOT / "cdp" / package
    if folder.is_dir():
        names |= {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        names |= {p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return names


SUBMODULES = {package: submodules(package) for package in PACKAGES}


def _top_level_names(module: str) -> set[str]:
    path = ROOT / "cdp" / (module.replace(".", "/") + ".py")
    if not path.exists():
        return set()
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


#: for a split module: name -> the module that now defines it
LEFT: dict[str, dict[str, str]] = {
    origin: {name: part for part in parts for name in _top_level_names(part) - _top_level_names(origin)}
    for origin, parts in SPLITS.items()
}


def target(old: str, name: str | None) -> str:
    """New dotted module (under cdp) of ``name`` from old module ``old``."""
    return routed(MOVED[old], name)


def routed(module: str, name: str | None) -> str:
    """Where ``name`` of ``module`` (new dotted, under cdp) lives: a split took some names away."""
    return LEFT.get(module, {}).get(name or "", module)


def is_new_style(first: str, rest: str | None) -> bool:
    """True when ``cdp.<first>[.<rest>]`` already names the new layout."""
    if first not in PACKAGES:
        return False
    keep = KEEP.get(first, set())
    if rest is None:
        return "" in keep
    return rest in SUBMODULES[first] or rest in keep


_SPLIT_DOTTED = re.compile(r"(?<![\w./-])cdp\.([a-z_]\w*\.[a-z_]\w*)\.([A-Za-z_]\w*)(?![\w-])")


def rewrite_split(text: str) -> str:
    """``cdp.pkg.mod.name`` where a split moved ``name`` to another module of the package."""
    return _SPLIT_DOTTED.sub(lambda m: f"cdp.{routed(m.group(1), m.group(2))}.{m.group(2)}"
                             if m.group(1) in LEFT else m.group(0), text)


_DOTTED = re.compile(r"(?<![\w./-])cdp\.([a-z_][a-z0-9_]*)(?:\.([A-Za-z_]\w*))?(?![\w-])")


def rewrite_dotted(text: str) -> str:
    """``cdp.x`` and ``cdp.x.name`` in free text, to the new layout."""
    def swap(m: re.Match[str]) -> str:
        first, rest = m.group(1), m.group(2)
        if first not in MOVED or is_new_style(first, rest):
            return m.group(0)
        return "cdp." + target(first, rest) + (f".{rest}" if rest else "")
    return rewrite_split(_DOTTED.sub(swap, text))


_PATH = re.compile(r"(?<![\w/.-])cdp/([a-z_][a-z0-9_]*)\.(py|toml)\b")
_TEST_PATH = re.compile(r"(?<![\w/.-])tests/(test_\w+)\.py\b")
_TEST_DOTTED = re.compile(r"(?<![\w.])tests\.(test_\w+)\b")


def rewrite_paths(text: str) -> str:
    """``cdp/x.py``, ``tests/test_x.py`` and ``tests.test_x`` to the new layout."""
    def module_path(m: re.Match[str]) -> str:
        name, suffix = m.group(1), m.group(2)
        if suffix == "toml":
            folder = DATA_FILES.get(f"{name}.toml")
            return f"cdp/{folder}/{name}.toml" if folder else m.group(0)
        if name not in MOVED:
            return m.group(0)
        return "cdp/" + MOVED[name].replace(".", "/") + ".py"
    text = _PATH.sub(module_path, text)
    text = _TEST_PATH.sub(lambda m: f"tests/{TESTS[m.group(1)]}/{m.group(1)}.py" if m.group(1) in TESTS
                          else m.group(0), text)
    return _TEST_DOTTED.sub(lambda m: f"tests.{TESTS[m.group(1)]}.{m.group(1)}" if m.group(1) in TESTS
                            else m.group(0), text)


def _logger_names(text: str) -> set[str]:
    return set(re.findall(r"getLogger\(\s*[\"'](cdp\.[\w.]+)[\"']", text))


LOGGERS: set[str] = set()


def rewrite_text(text: str) -> str:
    """Dotted names and paths in any text, logger names kept."""
    kept: list[str] = []

    def hide(m: re.Match[str]) -> str:
        kept.append(m.group(0))
        return f"\x00{len(kept) - 1}\x00"
    if LOGGERS:
        text = re.sub("|".join(rf"([\"']){re.escape(n)}\1" for n in sorted(LOGGERS)), hide, text)
    text = rewrite_paths(rewrite_dotted(text))
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def _alias(name: str, asname: str | None) -> str:
    return f"{name} as {asname}" if asname and asname != name else name


def _emit(indent: str, module: str, names: list[str]) -> str:
    line = f"{indent}from {module} import {', '.join(names)}"
    if len(line) <= 110:
        return line
    inner = ",\n".join(f"{indent}    {n}" for n in names)
    return f"{indent}from {module} import (\n{inner},\n{indent})"


def rewrite_import(node: ast.stmt, source: str, indent: str) -> str | None:
    """New text of one import statement, or None to keep it."""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        parts = node.module.split(".")
        if parts[0] != "cdp":  # tests.test_x and the like: a path rewrite of the module only
            text = ast.get_source_segment(source, node, padded=False) or ""
            module = rewrite_paths(node.module)
            return None if module == node.module else indent + text.replace(node.module, module, 1)
        if len(parts) == 1:  # from cdp import x, y as z
            if not any(a.name in MOVED for a in node.names):
                return None
            lines = []
            for a in node.names:
                if a.name in MOVED:
                    package, _, leaf = MOVED[a.name].rpartition(".")
                    lines.append(_emit(indent, f"cdp.{package}", [_alias(leaf, a.asname or a.name)]))
                else:
                    lines.append(_emit(indent, "cdp", [_alias(a.name, a.asname)]))
            return "\n".join(lines)
        first = parts[1]
        if len(parts) == 3 and ".".join(parts[1:]) in LEFT:  # from cdp.pkg.split_module import ...
            module = ".".join(parts[1:])
            groups: dict[str, list[str]] = {}
            for a in node.names:
                groups.setdefault("cdp." + routed(module, a.name), []).append(_alias(a.name, a.asname))
            if list(groups) == [node.module]:
                return None
            return "\n".join(_emit(indent, m, names) for m, names in groups.items())
        if len(parts) > 2 or first not in MOVED:
            return None
        groups = {}
        for a in node.names:
            if is_new_style(first, a.name):
                groups.setdefault(f"cdp.{first}", []).append(_alias(a.name, a.asname))
            else:
                groups.setdefault("cdp." + target(first, a.name), []).append(_alias(a.name, a.asname))
        if len(groups) == 1:
            (module,) = groups
            if module == node.module:
                return None
            text = ast.get_source_segment(source, node, padded=False) or ""
            return indent + text.replace(node.module, module, 1)
        return "\n".join(_emit(indent, m, names) for m, names in groups.items())
    if isinstance(node, ast.Import):
        text = ast.get_source_segment(source, node) or ""
        new = rewrite_paths(rewrite_dotted(text))
        return None if new == text else indent + new
    return None


def rewrite_python(source: str) -> str:
    """Imports (by their syntax tree), then dotted names and paths in the rest of the text."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return rewrite_text(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            first = lines[node.lineno - 1]
            indent = first[: len(first) - len(first.lstrip())]
            if first.strip().startswith(("from ", "import ")) and node.col_offset == len(indent):
                edits.append((node.lineno - 1, node.end_lineno or node.lineno, rewrite_import(node, source, indent)))
    edits.sort()
    out: list[str] = []
    at = 0
    for start, end, new in edits:
        if start < at:
            continue
        out.append(rewrite_text("".join(lines[at:start])))
        if new is None:
            out.append("".join(lines[start:end]))
        else:
            tail = lines[end - 1][len(lines[end - 1].rstrip("\r\n")):]
            out.append(new + (tail or ""))
        at = end
    out.append(rewrite_text("".join(lines[at:])))
    return "".join(out)


def moved_test_levels(source: str) -> str:
    """In a test moved one folder down: ``parents[n]`` -> ``parents[n+1]``, ``.parent.parent`` -> ``.parents[2]``."""
    source = re.sub(r"(Path\(__file__\)(?:\.resolve\(\))?)\.parent\.parent\b", r"\1.parents[1]", source)
    return re.sub(r"(Path\(__file__\)(?:\.resolve\(\))?\.parents)\[(\d)\]",
                  lambda m: f"{m.group(1)}[{int(m.group(2)) + 1}]", source)


def rewrite_file(rel: str, text: str, old_layout: bool = False) -> str:
    """``text`` of the file at ``rel`` (relative to the repository) in the new layout;
    ``old_layout``: the text is a version from before the move (a merge's base or other side),
    so a moved test's ``Path(__file__)`` levels are shifted too."""
    if not rel.endswith(".py"):
        return rewrite_text(text)
    text = rewrite_python(text)
    parts = Path(rel).parts
    if old_layout and len(parts) == 3 and parts[0] == "tests" and TESTS.get(Path(rel).stem) == parts[1]:
        text = moved_test_levels(text)
    if len(Path(rel).parts) == 3 and rel.startswith("cdp/"):  # a module one folder down: cdp/static is one up
        text = text.replace('Path(__file__).resolve().parent / "static"', 'Path(__file__).resolve().parents[1] / "static"')
    return text


def files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS for part in rel.parts) or rel in SKIP_FILES or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in {"Makefile", "README", "Dockerfile"}:
            found.append(path)
    return found


def refs(check: bool) -> int:
    """Rewrite (or with ``check``, list) every file whose references name the old layout."""
    LOGGERS.update(*(_logger_names(p.read_text(errors="replace")) for p in files() if p.suffix == ".py"))
    changed = []
    for path in files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        new = rewrite_file(str(path.relative_to(ROOT)), text)
        if new != text:
            changed.append(path.relative_to(ROOT))
            if not check:
                path.write_text(new)
    for rel in changed:
        print(("would rewrite " if check else "rewrote ") + str(rel))
    return 1 if check and changed else 0


def git_mv(old: Path, new: Path) -> None:
    if new.exists():  # a merge brought back an old file (e.g. one a split replaced): port it by hand
        print(f"by hand: {old.relative_to(ROOT)} and {new.relative_to(ROOT)} both exist")
        return
    new.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "mv", str(old), str(new)], cwd=ROOT, check=True)
    print(f"moved {old.relative_to(ROOT)} -> {new.relative_to(ROOT)}")


def move() -> int:
    """git mv every module, data file and test still at its old path; report unknown flat ones."""
    for old, new in MOVED.items():
        src = ROOT / "cdp" / f"{old}.py"
        if src.exists():
            git_mv(src, ROOT / "cdp" / (new.replace(".", "/") + ".py"))
    for name, package in DATA_FILES.items():
        if (ROOT / "cdp" / name).exists():
            git_mv(ROOT / "cdp" / name, ROOT / "cdp" / package / name)
    for stem, folder in TESTS.items():
        src = ROOT / "tests" / f"{stem}.py"
        if src.exists():
            dest = ROOT / "tests" / folder / f"{stem}.py"
            git_mv(src, dest)
            dest.write_text(moved_test_levels(dest.read_text()))
            init = dest.parent / "__init__.py"
            if not init.exists():
                init.write_text(f'"""Tests of {folder}/ (``tests/{folder}``)."""\n')
                subprocess.run(["git", "add", str(init)], cwd=ROOT, check=True)
    unknown = [p.name for p in (ROOT / "cdp").glob("*.py")
               if p.stem not in MODULES and p.stem != "__init__"]
    unknown += [f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py") if p.stem not in TESTS]
    for name in unknown:
        print(f"not in tools/layout/mapping.py: {name} (add a row, run again)")
    return 1 if unknown else 0


def inits() -> int:
    """Refresh each package ``__init__``'s "Modules:" list and ``__all__`` from its modules'
    first docstring paragraphs (after a merge added modules, or a split)."""
    for init in sorted((ROOT / "cdp").glob("*/__init__.py")):
        folder = init.parent
        text = init.read_text()
        tree = ast.parse(text)
        doc = ast.get_docstring(tree, clean=False) or ""
        modules = sorted(p.stem for p in folder.glob("*.py") if p.stem not in {"__init__", "__main__"})
        lines = []
        for module in modules:
            first = (ast.get_docstring(ast.parse((folder / f"{module}.py").read_text())) or "").split("\n\n")[0]
            lines.append(f"- ``{module}``: " + " ".join(first.split()))
        head = doc.split("\n\nModules:\n")[0]
        new_doc = head + "\n\nModules:\n\n" + "\n".join(lines) + "\n"
        bound = [n for n in ast.literal_eval(next(
            node.value for node in tree.body if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)))
            if n not in modules and (folder / f"{n}.py").exists() is False and f" {n}" in text.split('"""', 2)[2]]
        body = text.split('"""', 2)[2]
        start = body.index("__all__ = [")
        end = body.index("]\n", start) + 2
        listing = "__all__ = [\n" + "".join(f'    "{n}",\n' for n in bound + modules) + "]\n"
        new = f'"""{new_doc}"""' + body[:start] + listing + body[end:]
        if new != text:
            init.write_text(new)
            print(f"refreshed {init.relative_to(ROOT)}")
    return 0


def _stage(number: int, path: str) -> str | None:
    shown = subprocess.run(["git", "show", f":{number}:{path}"], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def resolve() -> int:
    """Settle the merge conflicts this move causes: where one side of a conflicted file is
    exactly the other's base put through ``refs`` (the move's side changed references only),
    the resolution is the other side put through ``refs``. Anything else is listed, to resolve
    by hand (the split modules, whose old files one side deleted, among them)."""
    listed = subprocess.run(["git", "diff", "--name-only", "--diff-filter=U"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    LOGGERS.update(*(_logger_names(p.read_text(errors="replace")) for p in files() if p.suffix == ".py"))
    by_hand = []
    for path in listed:
        base, ours, theirs = _stage(1, path), _stage(2, path), _stage(3, path)
        settled = None
        if base is not None and ours is not None and theirs is not None:
            moved = rewrite_file(path, base, old_layout=True)
            if moved == ours:
                settled = rewrite_file(path, theirs, old_layout=True)
            elif moved == theirs:
                settled = rewrite_file(path, ours, old_layout=True)
        if settled is None:
            by_hand.append(path)
            continue
        (ROOT / path).write_text(settled)
        subprocess.run(["git", "add", path], cwd=ROOT, check=True)
        print(f"resolved {path}")
    for path in by_hand:
        print(f"by hand: {path}")
    return 1 if by_hand else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["move", "refs", "inits", "resolve"])
    parser.add_argument("--check", action="store_true", help="refs: only list what would change")
    args = parser.parse_args()
    return {"move": move, "inits": inits, "resolve": resolve}[args.step]() if args.step != "refs" else refs(args.check)


if __name__ == "__main__":
    sys.exit(main())
