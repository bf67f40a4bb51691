//! Helpers shared by the analysis tests, from the workspace's test kit.
#![allow(unused_imports)]

pub use census_testkit::planted::*;
