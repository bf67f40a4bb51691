#!/usr/bin/env python3
"""Reads an extraction run directory with DuckDB and prints, as JSON, what the Rust test compares:
row counts of the token parts and of each layer (seen through Hive partitioning), and the fired
neurons of the first rows of every layer ordered by (seq, pos).

Usage: duckdb_read.py RUN_DIR
"""

import json
import sys

import duckdb

run = sys.argv[1]
con = duckdb.connect()
tokens = con.execute(f"SELECT count(*) FROM read_parquet('{run}/tokens/*.parquet')").fetchone()[0]
activations = f"read_parquet('{run}/activations/*/*.parquet', hive_partitioning = true)"
per_layer = con.execute(
    f"SELECT CAST(layer AS INTEGER) AS layer, count(*) FROM {activations} GROUP BY layer ORDER BY layer"
).fetchall()
samples = con.execute(
    f"""SELECT CAST(layer AS INTEGER), seq, pos, neurons FROM (
            SELECT *, row_number() OVER (PARTITION BY layer ORDER BY seq, pos) AS r FROM {activations}
        ) WHERE r <= 5 ORDER BY layer, seq, pos"""
).fetchall()
fires = con.execute(
    f"""SELECT CAST(layer AS INTEGER), n, count(*) FROM (SELECT layer, unnest(neurons) AS n FROM {activations})
        GROUP BY ALL ORDER BY 1, 2"""
).fetchall()
print(
    json.dumps(
        {
            "tokens": tokens,
            "layers": {str(l): c for l, c in per_layer},
            "samples": [[l, s, p, list(n)] for l, s, p, n in samples],
            "fires": [[l, n, c] for l, n, c in fires],
        }
    )
)
