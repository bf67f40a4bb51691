//! Extraction: a corpus through an OPT model into Parquet shards of fired neurons (stage 1 of the pipeline; its format is specified in `docs/SCHEMA.md` once written).
