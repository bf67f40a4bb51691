"""The Python API against pyarrow's reading of the same files and the command's output."""

import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import neuron_census as nc
from conftest import command


def test_every_table_equals_pyarrows_read_of_its_file(outputs):
    analysis = nc.open_analysis(outputs["analysis"])
    assert {"neurons", "layers", "detectors"} <= set(analysis.tables)
    assert set(analysis.tables) <= set(nc.TABLES)
    for name in analysis.tables:
        ours = analysis.table(name)
        theirs = pl.from_arrow(pq.read_table(outputs["analysis"] / f"{name}.parquet"))
        assert ours.schema == theirs.schema, name
        assert ours.equals(theirs), name
    assert analysis.summary["dead"]["total"] == analysis.neurons["dead"].sum()
    assert analysis.layers.height == analysis.neurons["layer"].n_unique()


def test_one_neuron_gathers_its_rows(outputs):
    analysis = nc.open_analysis(outputs["analysis"])
    row = analysis.neurons.filter(~pl.col("dead")).row(0, named=True)
    neuron = analysis.neuron(row["layer"], row["neuron"])
    assert neuron["statistics"] == row
    assert neuron["contexts"] and all(c["neuron"] == row["neuron"] for c in neuron["contexts"])
    with pytest.raises(nc.CensusError, match="no neuron 99999"):
        analysis.neuron(0, 99999)


def test_one_neurons_rows_equal_the_whole_tables_filtered(outputs):
    """`neuron()` reads only the neuron's rows (a row filter in the Parquet reader); each part
    of it equals the whole table read by pyarrow and filtered by polars."""
    analysis = nc.open_analysis(outputs["analysis"])

    def whole(name, layer, index):
        table = pl.from_arrow(pq.read_table(outputs["analysis"] / f"{name}.parquet"))
        return table.filter((pl.col("layer") == layer) & (pl.col("neuron") == index)).to_dicts()

    detectors = analysis.detectors.select("layer", "neuron").unique().rows()
    positional = analysis.positional.select("layer", "neuron").unique().rows()
    dead = analysis.neurons.filter(pl.col("dead")).select("layer", "neuron").rows()
    chosen = sorted(set(detectors[:3] + positional[:3] + dead[:2]))
    assert len(chosen) >= 4 and detectors
    for layer, index in chosen:
        neuron = analysis.neuron(layer, index)
        assert [neuron["statistics"]] == whole("neurons", layer, index)
        assert neuron["detectors"] == whole("detectors", layer, index)
        assert neuron["contexts"] == whole("contexts", layer, index)
        for key, name in [
            ("positional", "positional"),
            ("projection", "projections"),
            ("position_curve", "position_curves"),
        ]:
            if name in analysis.tables:
                rows = whole(name, layer, index)
                assert neuron[key] == (rows[0] if rows else None), (key, layer, index)
    with pytest.raises(nc.CensusError, match="no rows per neuron"):
        nc._native.analysis_neuron(str(outputs["analysis"]), "layers", 0, 0)


def test_a_damaged_table_is_refused_with_the_commands_message(outputs, tmp_path):
    damaged = tmp_path / "analysis"
    shutil.copytree(outputs["analysis"], damaged)
    table = damaged / "neurons.parquet"
    table.write_bytes(table.read_bytes()[:-40])
    with pytest.raises(nc.CensusError) as refused:
        nc.open_analysis(damaged).table("neurons")
    python_message = str(refused.value)
    assert str(table) in python_message
    report = command("report", "--analysis", str(damaged), "--out", str(tmp_path / "r"), check=False)
    assert report.returncode != 0
    # The command prints the same error: its chain, one cause a line.
    assert str(table) in report.stderr
    for cause in python_message.split(": ")[1:]:
        assert cause in report.stderr, (cause, report.stderr)


def test_a_damaged_part_is_refused_with_the_commands_message(outputs, tmp_path):
    damaged = tmp_path / "run"
    shutil.copytree(outputs["run"], damaged)
    part = damaged / "activations" / "layer=00" / "part-00000.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(nc.CensusError) as refused:
        list(nc.open_run(damaged).activations(0))
    python_message = str(refused.value)
    assert str(part) in python_message
    analyze = command("analyze", "--run", str(damaged), "--out", str(tmp_path / "a"), check=False)
    assert analyze.returncode != 0
    assert str(part) in analyze.stderr
    assert python_message.split(": ")[-1] in analyze.stderr


def test_runs_give_the_documented_columns_part_by_part(outputs):
    run = nc.open_run(outputs["run"])
    assert len(run.parts) > 1 and not run.records_counts
    tokens = list(run.tokens())
    assert len(tokens) == len(run.parts)
    assert tokens[0].columns == ["seq", "pos", "token", "doc", "domain"]
    assert sum(t.height for t in tokens) == sum(p["rows"] for p in run.manifest["parts"])
    activations = list(run.activations(1))
    assert activations[0].columns == ["seq", "pos", "neurons"]
    assert [a.height for a in activations] == [t.height for t in tokens]
    with pytest.raises(nc.CensusError, match="read its activations"):
        next(run.counts(0))

    counts = nc.open_run(outputs["counts"])
    assert counts.records_counts
    frame = pl.concat(list(counts.counts(0)))
    assert frame.columns == ["domain", "neuron", "fires", "fires_bos", "position_fires"]
    with pytest.raises(nc.CensusError, match="read its counts"):
        next(counts.activations(0))


def test_fired_equals_the_commands_output(outputs):
    text = "The cat sat on the mat."
    frame = nc.fired(str(outputs["model"]), text)
    printed = command("fired", "--model", str(outputs["model"]), "--show", "100000", text).stdout
    rows = []
    layer = None
    for line in printed.splitlines()[1:]:
        if line.startswith("layer "):
            layer = int(line.split(":")[0].split()[1])
            continue
        head, _, ids = line.partition("[")
        pos = int(head.split()[0])
        ids = ids.rstrip("]").split()
        rows.append((layer, pos, [int(i) for i in ids]))
    assert len(rows) == frame.height
    ours = [(r["layer"], r["pos"], r["neurons"]) for r in frame.iter_rows(named=True)]
    assert ours == rows


def test_the_command_is_installed_with_the_module():
    help_text = command("--help").stdout
    for name in ["run", "extract", "analyze", "report", "train", "fired"]:
        assert name in help_text
    assert nc.__version__


def test_the_stages_from_python_equal_the_commands(outputs, tmp_path):
    from conftest import CORPUS, MODEL

    run = nc.extract(str(MODEL), str(CORPUS), tmp_path / "run", max_seq_len=48, part_tokens=600, quiet=True)
    assert run.parts == nc.open_run(outputs["run"]).parts
    for ours, theirs in zip(run.activations(1), nc.open_run(outputs["run"]).activations(1)):
        assert ours.equals(theirs)
    analysis = nc.analyze(run.path, tmp_path / "analysis", quiet=True)
    for name in ["neurons", "layers", "detectors"]:
        assert analysis.table(name).equals(nc.open_analysis(outputs["analysis"]).table(name)), name
    index = nc.report(analysis, tmp_path / "report", no_png=True)
    assert index.is_file()
    with pytest.raises(nc.CensusError, match="--bogus"):
        nc.analyze(run.path, tmp_path / "other", bogus=1)
    with pytest.raises(nc.CensusError, match="no manifest.json|not a run|manifest"):
        nc.analyze(tmp_path / "nothing", tmp_path / "other2", quiet=True)


def test_a_run_scans_lazily_part_by_part(outputs):
    run = nc.open_run(outputs["run"])
    eager = pl.concat(list(run.activations(1)))
    lazy = run.scan_activations(1)
    assert lazy.collect().equals(eager)
    fires = lazy.select(pl.col("neurons").list.len().sum()).collect().item()
    assert fires == eager["neurons"].list.len().sum()
    late = lazy.filter(pl.col("seq") >= eager["seq"].max()).select("seq", "pos").collect()
    assert late.equals(eager.filter(pl.col("seq") >= eager["seq"].max()).select("seq", "pos"))
    assert run.scan_tokens().head(5).collect().equals(pl.concat(list(run.tokens())).head(5))
    counts = nc.open_run(outputs["counts"])
    assert counts.scan_counts(0).collect().equals(pl.concat(list(counts.counts(0))))


def test_ctrl_c_stops_an_extraction_between_parts_and_the_same_call_resumes(tmp_path):
    import signal
    import threading

    from conftest import REPO

    model, corpus = str(REPO / "data" / "model"), str(REPO / "data" / "corpus" / "census.jsonl")
    out = tmp_path / "run"
    options = {"max_seq_len": 256, "part_tokens": 8192, "quiet": True}
    # About ten seconds of work on two cores: Ctrl-C comes well before its end.
    timer = threading.Timer(1.5, signal.raise_signal, args=(signal.SIGINT,))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        nc.extract(model, corpus, out, **options)
    timer.cancel()
    stopped = nc.open_run(out)
    assert not stopped.manifest["complete"]
    kept = stopped.parts
    resumed = nc.extract(model, corpus, out, **options)
    assert resumed.manifest["complete"]
    assert resumed.parts[: len(kept)] == kept and len(resumed.parts) > len(kept)


def test_progress_reaches_python_bar_by_bar(outputs, tmp_path):
    """The stage's bars are handed to Python as they advance, and once finished."""
    from conftest import CORPUS, MODEL

    seen = []
    run = nc.extract(
        str(MODEL), str(CORPUS), tmp_path / "run", max_seq_len=48, part_tokens=600, progress=seen.extend
    )
    extracting = [b for b in seen if b[1] == "extracting"]
    assert extracting, seen
    ids = {b[0] for b in extracting}
    assert len(ids) == 1
    positions = [b[3] for b in extracting]
    assert positions == sorted(positions)
    _, label, unit, position, length, _, finished = extracting[-1]
    tokens = run.manifest["counts"]["tokens"]
    assert (unit, position, length, finished) == ("tokens", tokens, tokens, True)
    # A finished bar is reported once.
    assert [b[6] for b in extracting].count(True) == 1

    counted = []
    nc.analyze(run.path, tmp_path / "analysis", progress=counted.extend)
    last = [b for b in counted if b[1] == "counting"][-1]
    assert last[2] == "token-layers" and last[3] == last[4] > 0 and last[6]


def test_the_default_display_draws_the_progress(outputs, tmp_path, capsys):
    from conftest import CORPUS, MODEL

    nc.extract(str(MODEL), str(CORPUS), tmp_path / "run", max_seq_len=48)
    err = capsys.readouterr().err
    # tqdm's bar where tqdm is installed, else the display's own lines: both end at 100%.
    assert "extracting" in err and "100%" in err, err
    nc.extract(str(MODEL), str(CORPUS), tmp_path / "quiet", max_seq_len=48, progress=False)
    assert "extracting" not in capsys.readouterr().err


def test_a_pipeline_run_from_python_says_where_its_outputs_lie(tmp_path):
    from conftest import CORPUS, MODEL

    pipeline = tmp_path / "small.toml"
    pipeline.write_text(
        f"""name = "small"
description = "the pre-LN fixture on the sample corpus"
models = ["{MODEL}"]

[extract]
data = ["{CORPUS}"]
max-seq-len = 48

[analyze]

[report]
contexts = 2
"""
    )
    out = tmp_path / "out"
    done = nc.run(pipeline, out=out)
    assert done.out == out.resolve() and done.index.is_file()
    assert (done.ran, done.skipped) == (3, 0)
    assert done.trained == {} and done.jobs == []
    planned = nc.run(pipeline, out=tmp_path / "jobs", slurm=True, progress=False)
    assert [j["key"] for j in planned.jobs] == [f"extract/{done.slugs[0]}", f"analyze/{done.slugs[0]}", "report"]
    assert planned.jobs[2]["after"] == [f"analyze/{done.slugs[0]}"]
    assert all(Path(j["script"]).is_file() and j["job_id"] is None for j in planned.jobs)
    assert planned.ran == 0 and not (tmp_path / "jobs" / done.slugs[0] / "run").exists()
    (slug,) = done.slugs
    assert done.model(slug) == str(MODEL)
    analysis = done.analysis(slug)
    assert analysis.path.parent == done.run(slug).path.parent
    assert done.run(slug).manifest["complete"]
    assert analysis.neurons.height == analysis.summary["neurons_per_layer"] * analysis.layers.height
    again = nc.run(pipeline, out=out, progress=False)
    assert (again.ran, again.skipped) == (0, 3)
    with pytest.raises(KeyError, match="no model"):
        done.analysis("nothing")


def test_without_tqdm_the_display_prints_a_line_per_bar_now_and_then(capsys):
    from neuron_census._progress import Display

    display = Display(every=3600.0)
    display._tqdm = None
    display([(7, "counting", "token-layers", 10, 400, "", False)])
    display([(7, "counting", "token-layers", 200, 400, "", False)])  # within the interval
    display([(7, "counting", "token-layers", 400, 400, "layer 3", True)])
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "counting: 10/400 token-layers (2%)",
        "counting: 400/400 token-layers (100%) · layer 3",
    ]
