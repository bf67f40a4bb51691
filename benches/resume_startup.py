#!/usr/bin/env python3
"""Benchmark: how long a resumed extraction takes to start, with the run's sequence table and
without it (tokenising the corpus again, as every resume did before the table existed).

The corpus is the bundled one (data/corpus/train.jsonl), its documents repeated until the run
holds --tokens tokens of the embedded default model's tokenizer. The run records counts of
layer 0 only, so the first extraction is short; it is then complete, and re-running the same
command is a resume that finds nothing left to compute: its wall time is the start-up alone
(reading the corpus or the table, cutting sequences, checking the digest and the parts).

    cargo build --release -p census-cli --bin neuron-census
    python benches/resume_startup.py [--tokens 20000000]

Only the standard library is needed.
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"


def write_corpus(path: Path, tokens: int) -> None:
    """Repeats the bundled training documents until there are clearly more than `tokens` tokens
    (the default tokenizer takes about 3 bytes a token on this text; --max-tokens cuts exactly)."""
    lines = (ROOT / "data/corpus/train.jsonl").read_text().splitlines()
    wanted_bytes = tokens * 4
    written = 0
    with path.open("w") as out:
        copy = 0
        while written < wanted_bytes:
            for line in lines:
                doc = json.loads(line)
                # Vary each copy a little, so no two documents are identical.
                doc["text"] = f"[{copy}] " + doc["text"]
                text = json.dumps(doc) + "\n"
                out.write(text)
                written += len(text)
                if written >= wanted_bytes:
                    break
            copy += 1


def timed(command: list) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=20_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    binary = TARGET / "neuron-census"
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: cargo build --release -p census-cli")
    work = Path(tempfile.mkdtemp(prefix="resume-startup-"))
    try:
        corpus = work / "corpus.jsonl"
        write_corpus(corpus, args.tokens)
        run = work / "run"
        command = [
            str(binary), "extract", "--model", str(ROOT / "data/model"), "--data", str(corpus),
            "--out", str(run), "--max-tokens", str(args.tokens), "--layers", "0..1",
            "--record", "counts", "--part-tokens", "2000000", "--quiet",
        ]
        first = timed(command)
        manifest_path = run / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        tokens = manifest["counts"]["tokens"]
        table = run / "sequences.parquet"
        with_table = [timed(command) for _ in range(3)]
        # As before the table: no table recorded, so the resume reads and tokenises the corpus.
        without_table = []
        for _ in range(3):
            manifest = json.loads(manifest_path.read_text())
            manifest.pop("sequence_table", None)
            manifest_path.write_text(json.dumps(manifest, indent=2))
            table.unlink()
            without_table.append(timed(command))
        best_with, best_without = min(with_table), min(without_table)
        print(f"corpus: {corpus.stat().st_size / 1e6:.1f} MB of JSONL, {tokens:,} tokens "
              f"({manifest['counts']['sequences']:,} sequences); sequence table "
              f"{table.stat().st_size / 1e6:.1f} MB")
        print(f"first run (tokenise, count layer 0, write): {first:.2f} s")
        print()
        print("| resume start-up | best of 3 |")
        print("|---|---|")
        print(f"| reading sequences.parquet | {best_with:.2f} s |")
        print(f"| tokenising the corpus again (and rewriting the table) | {best_without:.2f} s |")
        print(f"| ratio | {best_without / best_with:.1f}x |")
        print(f"\ncores: {os.cpu_count()}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
