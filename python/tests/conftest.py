"""A shards run, a counts run and an analysis of the pre-LN test fixture, made once by the
installed `neuron-census` command."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "tests" / "fixtures" / "opt" / "pre-ln"
CORPUS = REPO / "tests" / "fixtures" / "corpus" / "sample.jsonl"


def command(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs the installed `neuron-census` command."""
    # Beside this interpreter: the environment the wheel was installed into.
    exe = shutil.which("neuron-census", path=str(Path(sys.executable).parent))
    assert exe, "the wheel installs the neuron-census command"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, check=check, env={**os.environ, "NO_COLOR": "1"}
    )


@pytest.fixture(scope="session")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("census")
    run, counts, analysis = root / "run", root / "counts", root / "analysis"
    common = ["--model", str(MODEL), "--data", str(CORPUS), "--max-seq-len", "48", "--quiet"]
    command("extract", *common, "--out", str(run), "--part-tokens", "600")
    command("extract", *common, "--out", str(counts), "--record", "counts", "--full-length")
    command("analyze", "--run", str(run), "--out", str(analysis), "--quiet")
    return {"run": run, "counts": counts, "analysis": analysis, "model": MODEL}
