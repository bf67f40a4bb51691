//! The HTML report that redraws the paper's figures from the statistics stage (stage 3 of the pipeline).
