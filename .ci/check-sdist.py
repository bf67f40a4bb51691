"""Checks that the source distribution holds what a build of the wheel needs: the lock file,
the Python package, and every crate of the workspace that census-py depends on.

Usage: check-sdist.py SDIST.tar.gz
"""

import json
import subprocess
import sys
import tarfile
from pathlib import Path

sdist = Path(sys.argv[1])
with tarfile.open(sdist) as archive:
    names = {Path(*Path(n).parts[1:]).as_posix() for n in archive.getnames()}

metadata = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--offline"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
root = Path(metadata["workspace_root"])
workspace = {p["id"]: p for p in metadata["packages"] if p["id"] in metadata["workspace_members"]}
nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
start = next(i for i, p in workspace.items() if p["name"] == "census-py")
needed, todo = set(), [start]
while todo:
    package = todo.pop()
    if package in needed:
        continue
    needed.add(package)
    todo += [d["pkg"] for d in nodes[package]["deps"] if d["pkg"] in workspace]

required = {"Cargo.lock", "Cargo.toml", "pyproject.toml", "python/neuron_census/__init__.py"}
for package in needed:
    crate = Path(workspace[package]["manifest_path"]).parent.relative_to(root)
    required |= {f"{crate}/Cargo.toml", f"{crate}/src/lib.rs"}
    for source in (root / crate / "src").rglob("*"):
        if source.is_file():
            required.add(source.relative_to(root).as_posix())
missing = sorted(required - names)
if missing:
    sys.exit(f"{sdist.name} lacks {len(missing)} file(s) a build needs: {missing[:10]}")
crates = sorted(workspace[p]["name"] for p in needed)
print(f"{sdist.name}: {len(names)} files; every source file of {len(crates)} crates: {', '.join(crates)}")
