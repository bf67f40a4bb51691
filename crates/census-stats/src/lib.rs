//! Statistics over extraction shards: dead neurons, n-gram coverage, token and trigram detectors, vocabulary projections and positional neurons (stage 2 of the pipeline).
