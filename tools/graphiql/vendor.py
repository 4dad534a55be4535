#!/usr/bin/env python3
"""Copy the pinned GraphiQL playground assets into cdp/static/graphiql/vendor/.

The playground page (cdp/app/playground.py) loads only local assets, because the
machines cdp runs on have no internet access apart from package registries.
The assets come from the npm packages pinned in tools/graphiql/package.json:

    npm ci --prefix tools/graphiql --no-audit --no-fund
    python tools/graphiql/vendor.py

The script copies exactly the files listed in ASSETS (nothing else), removes
stale files from the vendor folder, and is idempotent: files whose content is
already identical are left untouched.  It exits non-zero with a clear message
when node_modules (or one of the expected files) is missing.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
NODE_MODULES = HERE / "node_modules"
VENDOR_DIR = REPO_ROOT / "cdp" / "static" / "graphiql" / "vendor"

# destination file name -> (npm package, path inside the package)
# Keep in sync with cdp/app/playground.py (VENDOR_FILES).
ASSETS: dict[str, tuple[str, str]] = {
    "react.production.min.js": ("react", "umd/react.production.min.js"),
    "react-dom.production.min.js": ("react-dom", "umd/react-dom.production.min.js"),
    # graphiql 3.9 ships a self-contained UMD bundle (graphql, codemirror, ...
    # included) that expects window.React / window.ReactDOM and defines
    # window.GraphiQL (with GraphiQL.createFetcher).
    "graphiql.min.js": ("graphiql", "dist/index.umd.js"),
    "graphiql.min.css": ("graphiql", "dist/style.css"),
}

INSTALL_HINT = "run: npm ci --prefix tools/graphiql --no-audit --no-fund   (or `make install`)"


def fail(message: str) -> int:
    print(f"vendor.py: error: {message}", file=sys.stderr)
    return 1


def package_version(package: str) -> str:
    manifest = NODE_MODULES / package / "package.json"
    return json.loads(manifest.read_text(encoding="utf-8"))["version"]


def main() -> int:
    if not NODE_MODULES.is_dir():
        return fail(f"{NODE_MODULES} does not exist; {INSTALL_HINT}")

    expected = json.loads((HERE / "package.json").read_text(encoding="utf-8"))["dependencies"]
    sources: dict[str, Path] = {}
    for dest_name, (package, rel_path) in ASSETS.items():
        pkg_dir = NODE_MODULES / package
        if not (pkg_dir / "package.json").is_file():
            return fail(f"npm package {package!r} is not installed in {NODE_MODULES}; {INSTALL_HINT}")
        installed = package_version(package)
        if package in expected and installed != expected[package]:
            return fail(
                f"{package} {installed} is installed but package.json pins {expected[package]}; {INSTALL_HINT}"
            )
        src = pkg_dir / rel_path
        if not src.is_file():
            return fail(f"{src} is missing from {package} {installed}; is the pin in package.json right?")
        sources[dest_name] = src

    VENDOR_DIR.mkdir(parents=True, exist_ok=True)

    # Remove anything in the vendor folder that we do not ship (stale files).
    for entry in VENDOR_DIR.iterdir():
        if entry.name not in ASSETS:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            print(f"removed stale {entry.relative_to(REPO_ROOT)}")

    total = 0
    for dest_name, src in sources.items():
        dest = VENDOR_DIR / dest_name
        size = src.stat().st_size
        total += size
        if dest.is_file() and filecmp.cmp(src, dest, shallow=False):
            status = "up to date"
        else:
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dest)
            status = "copied"
        print(f"{status:>10}  {dest.relative_to(REPO_ROOT)}  ({size:,} bytes)  <- {src.relative_to(HERE)}")

    versions = ", ".join(f"{p} {package_version(p)}" for p in sorted({p for p, _ in ASSETS.values()}))
    print(f"vendored {len(sources)} files, {total:,} bytes ({versions})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
