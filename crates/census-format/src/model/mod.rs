//! The model a run used, as data: its family and its hyper-parameters, family-aware, in one
//! [`ModelConfig`] that the model crate builds its decoder from and every manifest records.

mod config;
mod family;
mod identity;

pub use config::{Biases, ModelConfig, coarser_than_checkpoint};
pub use family::{Activation, Family, RopeScaling, Rotary};
pub use identity::{HUB_RUN, TrainingPoint, model_name, training_point};
