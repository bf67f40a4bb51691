"""neuron-census from Python: runs and analyses opened as polars DataFrames, read by the same
checked readers as the `neuron-census` command (the same checks, the same messages).

    import neuron_census as nc
    analysis = nc.open_analysis("out/default/model/analysis")
    analysis.layers.select("layer", "dead_share")
    run = nc.open_run("out/default/model/run")
    for part in run.activations(layer=1):   # one polars DataFrame per part
        ...
    nc.fired("data/model", "The cat sat on the mat.")

Tables cross from Rust as Arrow through the C data interface (pyarrow), without a copy
through Python objects. Every table of docs/SCHEMA.md is `Analysis.table(name)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import polars as pl

from neuron_census import _native
from neuron_census._native import CensusError
from neuron_census._progress import ProgressOption, callback

__all__ = [
    "Analysis",
    "CensusError",
    "PipelineOutputs",
    "Run",
    "TABLES",
    "analyze",
    "extract",
    "fired",
    "open_analysis",
    "open_run",
    "report",
    "run",
]
__version__: str = _native.__version__

#: The tables an analysis may hold, by name (`docs/SCHEMA.md`).
TABLES: tuple[str, ...] = tuple(_native.table_names())

PathLike = Union[str, Path]


def _frame(reader: Any) -> pl.DataFrame:
    """A polars DataFrame from a pyarrow RecordBatchReader, its columns shared."""
    return pl.from_arrow(reader.read_all(), rechunk=False)


class Analysis:
    """An analysis directory (`neuron-census analyze --out DIR`).

    Attributes:
        path: the directory.
        summary: `summary.json` as a dict.
        tables: the names of the tables this analysis holds.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.tables: list[str] = _native.analysis_tables(str(self.path))
        self.summary: dict[str, Any] = json.loads(_native.analysis_summary(str(self.path)))

    def __repr__(self) -> str:
        return f"Analysis({str(self.path)!r}, tables={self.tables})"

    def table(self, name: str) -> pl.DataFrame:
        """Table `name` (see `TABLES`), read and checked as the command reads it."""
        return _frame(_native.analysis_table(str(self.path), name))

    @property
    def neurons(self) -> pl.DataFrame:
        """One row per neuron: fires, frequency, dead, positional statistics."""
        return self.table("neurons")

    @property
    def layers(self) -> pl.DataFrame:
        """One row per layer: dead share, frequencies, detectors, coverage."""
        return self.table("layers")

    @property
    def detectors(self) -> pl.DataFrame:
        """Token and trigram detectors with their triggers."""
        return self.table("detectors")

    @property
    def positional(self) -> pl.DataFrame:
        """Positional neurons: mutual information with position, type and ranges."""
        return self.table("positional")

    def neuron(self, layer: int, index: int) -> dict[str, Any]:
        """Everything the analysis holds of one neuron: its statistics (`neurons`), its
        detector rows with triggers, its positional row, its vocabulary projection, its
        frequency-by-position curve and its example contexts (each None or empty where the
        analysis has none). Only this neuron's rows are read, whatever the tables' size."""

        def rows(name: str) -> list[dict[str, Any]]:
            if name not in self.tables:
                return []
            return _frame(_native.analysis_neuron(str(self.path), name, layer, index)).to_dicts()

        stats = rows("neurons")
        if not stats:
            raise CensusError(f"{self.path}: no neuron {index} in layer {layer}")
        positional = rows("positional")
        curve = rows("position_curves")
        projection = rows("projections")
        return {
            "statistics": stats[0],
            "detectors": rows("detectors"),
            "positional": positional[0] if positional else None,
            "projection": projection[0] if projection else None,
            "position_curve": curve[0] if curve else None,
            "contexts": rows("contexts"),
        }


class Run:
    """An extraction run directory (`neuron-census extract --out DIR`), read part by part so
    that a run of any size is never loaded at once.

    Attributes:
        path: the directory.
        manifest: `manifest.json` as a dict.
        parts: the committed parts' numbers, in order.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = json.loads(_native.run_manifest(str(self.path)))
        self.parts: list[int] = [p["index"] for p in self.manifest["parts"]]

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, parts={len(self.parts)})"

    @property
    def layers(self) -> range:
        """The layers the run recorded."""
        start, end = self.manifest["config"]["layers"]
        return range(start, end)

    @property
    def records_counts(self) -> bool:
        """Whether the run recorded counts (`--record counts`) rather than fired lists."""
        # Shards runs, the default, leave the key out.
        return self.manifest["config"].get("record", "shards") == "counts"

    def tokens(self) -> Iterator[pl.DataFrame]:
        """The token rows (`seq`, `pos`, `token`, `doc`, `domain`), one DataFrame per part."""
        for part in self.parts:
            yield _frame(_native.run_tokens(str(self.path), part))

    def activations(self, layer: int) -> Iterator[pl.DataFrame]:
        """The fired neurons of `layer` (`seq`, `pos`, `neurons`), one DataFrame per part."""
        for part in self.parts:
            yield _frame(_native.run_activations(str(self.path), layer, part))

    def counts(self, layer: int) -> Iterator[pl.DataFrame]:
        """The fire counts of `layer` in a counts run, one DataFrame per part."""
        for part in self.parts:
            yield _frame(_native.run_counts(str(self.path), layer, part))

    def scan_tokens(self) -> pl.LazyFrame:
        """`tokens()` as a polars LazyFrame: parts are read as the query pulls them."""
        return _scan(self.tokens, f"tokens of {self.path}")

    def scan_activations(self, layer: int) -> pl.LazyFrame:
        """`activations(layer)` as a polars LazyFrame."""
        return _scan(lambda: self.activations(layer), f"layer {layer} of {self.path}")

    def scan_counts(self, layer: int) -> pl.LazyFrame:
        """`counts(layer)` as a polars LazyFrame."""
        return _scan(lambda: self.counts(layer), f"counts of layer {layer} of {self.path}")


def _scan(parts: Callable[[], Iterator[pl.DataFrame]], name: str) -> pl.LazyFrame:
    """A LazyFrame over `parts()`, one DataFrame per run part, read only as the query pulls
    them: the projection, the filter and a row limit are applied part by part."""
    from polars.io.plugins import register_io_source

    def schema() -> Any:
        return next(iter(parts())).schema

    def source(
        with_columns: Optional[list[str]],
        predicate: Optional[pl.Expr],
        n_rows: Optional[int],
        _batch_size: Optional[int],
    ) -> Iterator[pl.DataFrame]:
        left = n_rows
        for frame in parts():
            if predicate is not None:
                frame = frame.filter(predicate)
            if with_columns is not None:
                frame = frame.select(with_columns)
            if left is not None:
                frame = frame.head(left)
                left -= frame.height
            yield frame
            if left is not None and left <= 0:
                return

    return register_io_source(source, schema=schema, explain_name="neuron-census run", explain_detail=name)


def open_analysis(path: PathLike) -> Analysis:
    """Opens an analysis directory; a damaged or foreign one raises `CensusError`."""
    return Analysis(path)


def open_run(path: PathLike) -> Run:
    """Opens a run directory; a damaged or foreign one raises `CensusError`."""
    return Run(path)


def fired(model: str, text: str, dtype: str = "f32") -> pl.DataFrame:
    """The FFN neurons of `model` (a directory, preset or hub id, as the command takes it)
    that fire on each token of `text`: one row per layer and position, with the token's id,
    its spelling and the neurons (ascending), as `neuron-census fired` prints them."""
    ids, tokens, _ffn, neurons = _native.fired(model, text, dtype)
    rows = [
        (layer, pos, ids[pos], tokens[pos], on)
        for layer, per_layer in enumerate(neurons)
        for pos, on in enumerate(per_layer)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "layer": pl.UInt16,
            "pos": pl.UInt16,
            "token_id": pl.UInt32,
            "token": pl.Utf8,
            "neurons": pl.List(pl.UInt16),
        },
        orient="row",
    )


def _flags(options: dict[str, Any]) -> list[str]:
    """A command's flags from keyword arguments, as a pipeline table gives them: `max_seq_len=256`
    is `--max-seq-len 256`, `True` a bare switch, `False` and `None` nothing, a list the flag
    repeated."""
    flags: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            flags.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                flags += [flag, str(item)]
        else:
            flags += [flag, str(value)]
    return flags


def _command(name: str, *args: str, progress: ProgressOption = True, **options: Any) -> None:
    _native.run_command(["neuron-census", name, *args, *_flags(options)], callback(progress))


def extract(
    model: str,
    data: Union[PathLike, list[PathLike]],
    out: PathLike,
    progress: ProgressOption = True,
    **options: Any,
) -> Run:
    """`neuron-census extract`: runs corpus `data` (one source spec or several) through `model`
    into run directory `out` (created, or resumed) and opens it. Other flags as keywords:
    `extract(..., max_seq_len=256, full_length=True, record="counts")`. `progress`: True draws
    the progress (a tqdm bar where tqdm is installed, in a notebook too), False nothing, or a
    function is called with the bars (see `neuron_census._progress`)."""
    sources = data if isinstance(data, list) else [data]
    _command(
        "extract",
        "--model",
        str(model),
        "--out",
        str(out),
        data=[str(s) for s in sources],
        progress=progress,
        **options,
    )
    return open_run(out)


def analyze(
    runs: Union[PathLike, list[PathLike]],
    out: PathLike,
    progress: ProgressOption = True,
    **options: Any,
) -> Analysis:
    """`neuron-census analyze`: the paper's statistics of one run (or several runs of one model)
    into analysis directory `out`, opened. Other flags as keywords: `analyze(..., contexts=5)`;
    `progress` as for `extract`."""
    dirs = runs if isinstance(runs, list) else [runs]
    _command("analyze", "--out", str(out), run=[str(d) for d in dirs], progress=progress, **options)
    return open_analysis(out)


def report(
    analyses: Union[PathLike, list[PathLike], Analysis],
    out: PathLike,
    progress: ProgressOption = True,
    **options: Any,
) -> Path:
    """`neuron-census report`: the HTML report of one analysis or several (one per model) into
    `out`; returns its `index.html`."""
    given = analyses if isinstance(analyses, list) else [analyses]
    dirs = [str(a.path if isinstance(a, Analysis) else a) for a in given]
    _command("report", "--out", str(out), analysis=dirs, progress=progress, **options)
    return Path(out) / "index.html"


class PipelineOutputs:
    """What `run()` left: the pipeline's directories, opened on demand.

    Attributes:
        out: the pipeline's output directory.
        index: the report's `index.html`.
        ran: the stages run (the others were up to date).
        skipped: the stages skipped as up to date.
        trained: the models the pipeline trained, by `[train.<name>]` name.
        jobs: with `slurm=True`, the Slurm job scripts written, in order.
        slugs: each model's place under `out` (`opt-125m`, `model/step-350`), in the report's
            order; a series' checkpoints each have their own.
    """

    def __init__(self, summary: dict[str, Any]) -> None:
        self.out = Path(summary["out"])
        self.index = Path(summary["index"])
        self.ran: int = summary["ran"]
        self.skipped: int = summary["skipped"]
        self.trained: dict[str, Path] = {k: Path(v) for k, v in summary["trained"].items()}
        self._models = {m["slug"]: m for m in summary["models"]}
        self.slugs: list[str] = list(self._models)
        #: With `slurm=True`, the job scripts written (`key`, the stage `keys` it runs, its task
        #: indices `array` for a job array, `script`, `after`, and `job_id`
        #: once submitted with `submit=True`), in order; nothing ran.
        self.jobs: list[dict[str, Any]] = summary["jobs"]

    def __repr__(self) -> str:
        return f"PipelineOutputs({str(self.out)!r}, models={self.slugs}, ran={self.ran}, skipped={self.skipped})"

    def model(self, slug: str) -> str:
        """The model `slug` was made from, as the stages were given it."""
        return self._entry(slug)["model"]

    def analysis(self, slug: str) -> Analysis:
        """The analysis of model `slug`, opened."""
        return open_analysis(self._entry(slug)["analysis"])

    def run(self, slug: str, name: Optional[str] = None) -> Union[Run, list[Run]]:
        """The `[extract]` run of model `slug`, or its `[runs.<name>]` run, opened; under the
        pipeline's `[split] extract`, the list of its shards, each a run, in order."""
        for entry in self._entry(slug)["runs"]:
            if entry["name"] == name:
                shards = [open_run(path) for path in entry["dirs"]]
                return shards[0] if len(shards) == 1 else shards
        names = [e["name"] for e in self._entry(slug)["runs"] if e["name"] is not None]
        raise KeyError(f"model {slug!r} has no run {name!r} (its named runs: {names})")

    @property
    def analyses(self) -> dict[str, Analysis]:
        """Every model's analysis, opened, by slug."""
        return {slug: self.analysis(slug) for slug in self.slugs}

    def _entry(self, slug: str) -> dict[str, Any]:
        if slug not in self._models:
            raise KeyError(f"no model {slug!r} in this pipeline (its models: {self.slugs})")
        return self._models[slug]


def run(
    pipeline: Optional[PathLike] = None, progress: ProgressOption = True, **options: Any
) -> PipelineOutputs:
    """`neuron-census run`: every stage of a pipeline file (relative paths in it are taken from
    its directory), each skipped when up to date; `run()` alone is the embedded default, from a
    clone's root. Other flags as keywords: `run("pipelines/paper.toml", out="out/paper")`.
    Returns where the outputs lie, each model's analysis and runs ready to open."""
    if pipeline is not None:
        options["pipeline"] = str(pipeline)
    summary = _native.run_pipeline(["neuron-census", "run", *_flags(options)], callback(progress))
    return PipelineOutputs(json.loads(summary))
