#!/usr/bin/env python3
"""Recomputes an analysis with DuckDB SQL straight from the run's Parquet shards and compares it
with the analysis tables: per-neuron fire counts, dead neurons, unigram/bigram/trigram coverage
counts, token and trigram detectors with their triggers, the mutual information with
position, every alive neuron's binned frequency-by-position curve, and each token's top neurons
(most fires on it, largest share of their fires). Exits 1 and prints the differences if anything disagrees.

    python duckdb_check.py RUN_DIR ANALYSIS_DIR
"""

import json
import math
import os
import sys

import duckdb

SHARE = 0.95  # coverage and trigger shares (the analysis defaults)
MAX_TOKENS, MAX_TRIGRAMS = 5, 50


def main(run, analysis):
    # Dead neurons and fire counts include the </s> prefix unless the analysis left it out.
    with open(os.path.join(analysis, "manifest.json")) as f:
        manifest = json.load(f)
    options, tables = manifest["options"], manifest["tables"]
    # Sequences start with a BOS at position 0 (the text at 1) unless the run says they start
    # with text (families whose tokenizer adds none).
    with open(os.path.join(run, "manifest.json")) as f:
        start = json.load(f)["config"].get("sequence_start", "bos")
    ts = 1 if start == "bos" else 0
    counts_bos = options["count_bos"]
    # What coverage is a share of: every fire outside the prefix, or only where the n-gram exists
    # (analyses written before the choice recorded none: windowed).
    denominator = options["detectors"].get("ngram_denominator", "windowed")
    counted = "TRUE" if counts_bos else f"pos >= {ts}"
    con = duckdb.connect()
    con.execute(f"""
        CREATE VIEW acts AS SELECT layer::INTEGER AS layer, seq, pos, neurons
        FROM read_parquet('{run}/activations/*/*.parquet', hive_partitioning = true)""")
    con.execute(f"CREATE VIEW toks AS SELECT seq, pos, token FROM read_parquet('{run}/tokens/*.parquet')")
    con.execute(f"CREATE VIEW ours AS SELECT * FROM read_parquet('{analysis}/neurons.parquet')")
    con.execute(f"CREATE VIEW our_detectors AS SELECT * FROM read_parquet('{analysis}/detectors.parquet')")
    # N-grams of each token row: never across a sequence start, never including the BOS.
    con.execute(f"""
        CREATE TABLE grams AS SELECT seq, pos, token,
          CASE WHEN pos >= {ts + 1} AND lag(pos, 1) OVER w = pos - 1
               THEN [lag(token, 1) OVER w, token] END AS bigram,
          CASE WHEN pos >= {ts + 2} AND lag(pos, 2) OVER w = pos - 2
               THEN [lag(token, 2) OVER w, lag(token, 1) OVER w, token] END AS trigram
        FROM toks WINDOW w AS (PARTITION BY seq ORDER BY pos)""")
    con.execute("""
        CREATE TABLE fired AS SELECT a.layer, a.neuron, g.pos, g.token, g.bigram, g.trigram
        FROM (SELECT layer, seq, pos, unnest(neurons)::INTEGER AS neuron FROM acts) a
        JOIN grams g USING (seq, pos)""")
    failures = []

    def check(name, sql):
        rows = con.execute(sql).fetchall()
        if rows:
            failures.append(f"{name}: {len(rows)} differences, e.g. {rows[:5]}")
        else:
            print(f"ok  {name}")

    check("fire counts", f"""
        WITH f AS (SELECT layer, neuron, count(*) AS fires FROM fired WHERE {counted} GROUP BY ALL)
        SELECT o.layer, o.neuron, o.fires, f.fires FROM ours o
        LEFT JOIN f ON o.layer = f.layer AND o.neuron = f.neuron
        WHERE o.fires != coalesce(f.fires, 0)""")
    check("fires on </s>", f"""
        WITH f AS (SELECT layer, neuron, count(*) AS fires FROM fired WHERE pos < {ts} GROUP BY ALL)
        SELECT o.layer, o.neuron FROM ours o LEFT JOIN f ON o.layer = f.layer AND o.neuron = f.neuron
        WHERE o.fires_bos != coalesce(f.fires, 0)""")
    check("dead neurons", f"""
        WITH alive AS (SELECT DISTINCT layer, neuron FROM fired WHERE {counted})
        SELECT o.layer, o.neuron, o.dead FROM ours o
        LEFT JOIN alive a ON o.layer = a.layer AND o.neuron = a.neuron
        WHERE o.dead != (a.neuron IS NULL)""")
    con.execute(f"CREATE TABLE layer_rows AS SELECT * FROM read_parquet('{analysis}/layers.parquet')")
    check("dead under both readings of </s>", f"""
        WITH anywhere AS (SELECT DISTINCT layer, neuron FROM fired),
        outside AS (SELECT DISTINCT layer, neuron FROM fired WHERE pos >= {ts}),
        c AS (SELECT o.layer,
                count(*) FILTER (WHERE a.neuron IS NULL) AS with_bos,
                count(*) FILTER (WHERE x.neuron IS NULL) AS without_bos
              FROM ours o
              LEFT JOIN anywhere a ON o.layer = a.layer AND o.neuron = a.neuron
              LEFT JOIN outside x ON o.layer = x.layer AND o.neuron = x.neuron
              GROUP BY o.layer)
        SELECT l.layer, l.dead_with_bos, c.with_bos, l.dead_without_bos, c.without_bos
        FROM layer_rows l JOIN c ON l.layer = c.layer
        WHERE l.dead_with_bos != c.with_bos OR l.dead_without_bos != c.without_bos""")

    con.execute(f"""
        CREATE TABLE fires_outside AS SELECT layer, neuron, count(*) AS all_fires
        FROM fired WHERE pos >= {ts} GROUP BY ALL""")
    for gram, column in [("token", "unigram"), ("bigram", "bigram"), ("trigram", "trigram")]:
        con.execute(f"""
            CREATE TABLE counts_{column} AS SELECT layer, neuron, {gram} AS gram, count(*) AS c
            FROM fired WHERE pos >= {ts} AND {gram} IS NOT NULL GROUP BY ALL""")
        con.execute(f"""
            CREATE TABLE totals_{column} AS
            SELECT layer, neuron, {'all_fires' if denominator == 'all' else 'windowed'} AS total
            FROM (SELECT layer, neuron, sum(c) AS windowed FROM counts_{column} GROUP BY ALL)
            FULL JOIN fires_outside USING (layer, neuron)""")
        con.execute(f"""
            CREATE TABLE coverage_{column} AS
            WITH ranked AS (
              SELECT layer, neuron,
                sum(c) OVER (PARTITION BY layer, neuron ORDER BY c DESC, gram
                             ROWS UNBOUNDED PRECEDING) AS cum,
                row_number() OVER (PARTITION BY layer, neuron ORDER BY c DESC, gram) AS rn
              FROM counts_{column})
            SELECT layer, neuron, min(rn) AS m FROM ranked JOIN totals_{column} USING (layer, neuron)
            WHERE cum::DOUBLE >= {SHARE}::DOUBLE * total GROUP BY ALL""")
        # Every alive neuron of the layers the order was counted in has a count where one
        # exists, and none where it does not (no n-gram, or, under `all`, too few).
        check(f"{column} coverage counts", f"""
            WITH counted AS (SELECT DISTINCT layer FROM ours WHERE {column}_coverage IS NOT NULL)
            SELECT o.layer, o.neuron, o.{column}_coverage, c.m FROM ours o
            JOIN counted USING (layer)
            LEFT JOIN coverage_{column} c ON o.layer = c.layer AND o.neuron = c.neuron
            WHERE NOT o.dead AND o.{column}_coverage IS DISTINCT FROM c.m""")

    for gram, column, kind, limit in [("token", "unigram", "token", MAX_TOKENS),
                                      ("trigram", "trigram", "trigram", MAX_TRIGRAMS)]:
        layers = [r[0] for r in con.execute(
            f"SELECT DISTINCT layer FROM ours WHERE {column}_coverage IS NOT NULL").fetchall()]
        if not layers:
            continue
        in_layers = ",".join(map(str, layers))

        def detectors_sql(min_occurrences):
            return f"""
            WITH occ AS (SELECT {gram} AS gram, count(*) AS n FROM grams
                         WHERE pos >= {ts} AND {gram} IS NOT NULL GROUP BY ALL),
            candidates AS (SELECT layer, neuron FROM coverage_{column}
                           WHERE m BETWEEN 1 AND {limit} AND layer IN ({in_layers})),
            per AS (SELECT c.layer, c.neuron, c.gram, c.c,
                      c.c::DOUBLE >= {SHARE}::DOUBLE * occ.n AND occ.n >= {min_occurrences}
                        AS covered
                    FROM counts_{column} c JOIN candidates USING (layer, neuron)
                    JOIN occ USING (gram)),
            agg AS (SELECT layer, neuron, any_value(t.total) AS total,
                      sum(CASE WHEN covered THEN c ELSE 0 END) AS cov,
                      list(gram ORDER BY gram) FILTER (WHERE covered) AS triggers
                    FROM per JOIN totals_{column} t USING (layer, neuron) GROUP BY ALL)
            SELECT layer, neuron, triggers FROM agg
            WHERE cov > 0 AND cov::DOUBLE >= {SHARE}::DOUBLE * total"""

        minimum = options["detectors"]["min_occurrences"]
        con.execute(f"CREATE TABLE detectors_{kind} AS {detectors_sql(minimum)}")
        if "detector_sensitivity.parquet" in tables:
            # Every layer's detectors under each minimum of occurrences the table holds.
            for (least,) in con.execute(f"""
                    SELECT DISTINCT min_occurrences FROM
                    read_parquet('{analysis}/detector_sensitivity.parquet')""").fetchall():
                check(f"{kind} detectors with triggers of at least {least} occurrences", f"""
                    WITH theirs AS (SELECT l.layer, count(d.neuron) AS n
                                    FROM (SELECT unnest([{in_layers}]) AS layer) l
                                    LEFT JOIN ({detectors_sql(least)}) d USING (layer)
                                    GROUP BY ALL),
                    ours AS (SELECT layer::INTEGER AS layer, detectors AS n FROM
                             read_parquet('{analysis}/detector_sensitivity.parquet')
                             WHERE kind = '{kind}' AND min_occurrences = {least})
                    SELECT * FROM theirs FULL JOIN ours USING (layer)
                    WHERE theirs.n IS DISTINCT FROM ours.n""")
        trig = "[t[1]] " if kind == "token" else ""
        ours_sql = f"""
            SELECT layer::INTEGER AS layer, neuron::INTEGER AS neuron,
              list_sort([{'t[1]' if kind == 'token' else 't'} FOR t IN trigger_ids]) AS triggers
            FROM our_detectors WHERE kind = '{kind}'"""
        check(f"{kind} detectors and their triggers", f"""
            (SELECT layer, neuron, triggers::VARCHAR FROM detectors_{kind}
             EXCEPT SELECT layer, neuron, triggers::VARCHAR FROM ({ours_sql}))
            UNION ALL
            (SELECT layer, neuron, triggers::VARCHAR FROM ({ours_sql})
             EXCEPT SELECT layer, neuron, triggers::VARCHAR FROM detectors_{kind})""")
        count = con.execute(f"SELECT count(*) FROM detectors_{kind}").fetchone()[0]
        print(f"    {count} {kind} detectors")

    has_mi = con.execute("SELECT count(*) FROM ours WHERE position_mi IS NOT NULL").fetchone()[0]
    if has_mi:
        con.execute("CREATE TABLE rows_at AS SELECT pos, count(*)::DOUBLE AS n FROM toks GROUP BY ALL")
        total = con.execute("SELECT sum(n) FROM rows_at").fetchone()[0]
        con.execute(f"""
            CREATE TABLE mi AS
            WITH f AS (SELECT layer, neuron, pos, count(*)::DOUBLE AS c FROM fired GROUP BY ALL),
            fr AS (SELECT layer, neuron, sum(c) / {total} AS fr FROM f GROUP BY ALL),
            terms AS (
              SELECT f.layer, f.neuron, r.n,
                r.n / {total} * (
                  (f.c / r.n) * ln((f.c / r.n) / fr.fr)
                  + CASE WHEN f.c < r.n THEN (1 - f.c / r.n) * ln((1 - f.c / r.n) / (1 - fr.fr)) ELSE 0 END
                ) AS t
              FROM f JOIN rows_at r USING (pos) JOIN fr USING (layer, neuron))
            SELECT t.layer, t.neuron,
              sum(t.t) + ({total} - sum(t.n)) / {total} * -ln(1 - any_value(fr.fr)) AS mi
            FROM terms t JOIN fr USING (layer, neuron) WHERE fr.fr < 1 GROUP BY ALL""")
        check("mutual information with position", """
            SELECT o.layer, o.neuron, o.position_mi, m.mi FROM ours o
            LEFT JOIN mi m ON o.layer = m.layer AND o.neuron = m.neuron
            WHERE o.position_mi IS NOT NULL
              AND abs(o.position_mi - coalesce(m.mi, 0)) > 1e-9 * greatest(1, abs(o.position_mi))""")

    if "token_neurons.parquet" in tables:
        k = options["token_neurons"]
        con.execute(f"""
            CREATE TABLE token_expected AS
            WITH layers AS (SELECT DISTINCT layer FROM ours WHERE unigram_coverage IS NOT NULL),
            c AS (SELECT u.layer, u.neuron, u.gram AS token, u.c AS fires,
                    sum(u.c) OVER (PARTITION BY u.layer, u.neuron) AS neuron_fires
                  FROM counts_unigram u JOIN layers USING (layer)),
            occ AS (SELECT token, count(*) AS occurrences FROM grams WHERE pos >= {ts} GROUP BY ALL),
            ranked AS (SELECT *,
                row_number() OVER (PARTITION BY token ORDER BY fires DESC, layer, neuron) AS by_fires,
                row_number() OVER (PARTITION BY token ORDER BY fires::DOUBLE / neuron_fires DESC,
                                   fires DESC, layer, neuron) AS by_share
              FROM c)
            SELECT token, layer, neuron, fires, occurrences, neuron_fires
            FROM ranked JOIN occ USING (token) WHERE by_fires <= {k} OR by_share <= {k}""")
        ours_sql = f"""SELECT token_id::BIGINT AS token, layer::INTEGER, neuron::INTEGER, fires,
                         occurrences, neuron_fires FROM read_parquet('{analysis}/token_neurons.parquet')"""
        check("neurons of each token", f"""
            (SELECT * FROM token_expected EXCEPT SELECT * FROM ({ours_sql}))
            UNION ALL (SELECT * FROM ({ours_sql}) EXCEPT SELECT * FROM token_expected)""")
        count = con.execute("SELECT count(*) FROM token_expected").fetchone()[0]
        print(f"    {count} (token, neuron) rows")

    if "dead_saturation.parquet" in tables:
        # Each layer's dead neurons among the first `tokens` rows, read in part order (parts
        # hold consecutive sequences): the neurons whose first fire comes later, or never.
        con.execute(f"""
            CREATE TABLE saturation_ours AS SELECT layer::INTEGER AS layer, tokens, dead
            FROM read_parquet('{analysis}/dead_saturation.parquet')""")
        check("dead neurons after each doubling of the tokens read", f"""
            WITH ranked AS (SELECT seq, pos, row_number() OVER (ORDER BY seq, pos) AS r
                            FROM toks),
            first_fire AS (SELECT a.layer, a.neuron, min(k.r) AS first
                           FROM (SELECT layer, seq, pos, unnest(neurons)::INTEGER AS neuron
                                 FROM acts) a
                           JOIN ranked k USING (seq, pos) WHERE {counted} GROUP BY ALL),
            width AS (SELECT layer::INTEGER AS layer, count(*) AS ffn FROM ours GROUP BY ALL),
            theirs AS (SELECT s.layer, s.tokens, any_value(w.ffn) - count(f.neuron) AS dead
                       FROM saturation_ours s JOIN width w USING (layer)
                       LEFT JOIN first_fire f ON f.layer = s.layer AND f.first <= s.tokens
                       GROUP BY ALL)
            SELECT * FROM saturation_ours s JOIN theirs t USING (layer, tokens)
            WHERE s.dead != t.dead""")
        check("saturation points: after the first part, each doubling, and the last", """
            WITH points AS (SELECT layer, tokens,
                              lag(tokens) OVER (PARTITION BY layer ORDER BY tokens) AS before,
                              lead(tokens) OVER (PARTITION BY layer ORDER BY tokens) AS after
                            FROM saturation_ours)
            SELECT * FROM points
            WHERE (after IS NULL AND tokens != (SELECT count(*) FROM toks))
               OR (before IS NOT NULL AND after IS NOT NULL AND tokens < 2 * before)""")

    if "position_curves.parquet" in tables:
        first = 1 if options["positional"]["skip_bos"] else 0
        bins = options["positional"]["curve_bins"]
        end = con.execute("SELECT max(pos) + 1 FROM toks").fetchone()[0]
        width = max(1, -(-(end - first) // bins))
        con.execute(f"""
            CREATE TABLE curve_expected AS
            WITH alive AS (SELECT layer, neuron FROM ours
                           WHERE NOT dead AND position_mi IS NOT NULL),
            rows_in AS (SELECT (pos - {first}) // {width} AS bin, sum(n) AS n FROM rows_at
                        WHERE pos >= {first} GROUP BY ALL),
            f AS (SELECT layer, neuron, (pos - {first}) // {width} AS bin, count(*)::DOUBLE AS c
                  FROM fired WHERE pos >= {first} GROUP BY ALL)
            SELECT a.layer, a.neuron, r.bin, coalesce(f.c, 0) / r.n AS frequency
            FROM alive a CROSS JOIN rows_in r
            LEFT JOIN f ON f.layer = a.layer AND f.neuron = a.neuron AND f.bin = r.bin""")
        con.execute(f"""
            CREATE TABLE curve_ours AS
            SELECT layer::INTEGER AS layer, neuron::INTEGER AS neuron, first_position, bin_width,
              generate_subscripts(frequency, 1) - 1 AS bin, unnest(frequency) AS frequency
            FROM read_parquet('{analysis}/position_curves.parquet')""")
        check("binned frequency-by-position curves", f"""
            SELECT e.layer, e.neuron, e.bin, e.frequency, o.frequency FROM curve_expected e
            FULL JOIN curve_ours o USING (layer, neuron, bin)
            WHERE o.frequency IS NULL OR e.frequency IS NULL
              OR abs(e.frequency - o.frequency) > 1e-6
              OR o.first_position != {first} OR o.bin_width != {width}""")

    if failures:
        print("\n".join(["MISMATCH " + f for f in failures]))
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
