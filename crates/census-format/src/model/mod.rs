//! The model a run used, as data: its family and its hyper-parameters, family-aware, in one
//! [`ModelConfig`] that the model crate builds its decoder from and every manifest records.

mod config;
mod family;
mod float_type;
mod identity;

pub use config::{Biases, ModelConfig};
pub use family::{Activation, Family, RopeScaling, Rotary};
pub use float_type::FloatType;
pub use identity::{TrainingPoint, TrainingRun, model_name, training_point};
