//! The choices the commands offer, as types: where the model computes ([`Device`], with one
//! dispatch to its backend for every command) and in which float type ([`FloatType`]).

use burn::tensor::DType;
use burn::tensor::backend::Backend;

/// Where a command computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// The CPU (burn's flex backend).
    Cpu,
    /// GPU 0 (a build with `--features cuda`).
    Cuda,
}

/// Work generic over the backend, run by [`Device::run`] on the backend a device names.
pub trait BackendJob {
    /// What the work gives.
    type Output;

    /// Does the work on backend `B`'s default device, described as `label`.
    fn run<B: Backend>(self, device: &B::Device, label: &'static str) -> Self::Output;
}

/// A device this build has no backend for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--device {0}: this build has no CUDA backend; rebuild with --features cuda")]
pub struct UnavailableDevice(pub &'static str);

impl Device {
    /// The flag's spelling (`cpu`, `cuda`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        }
    }

    /// Runs `job` on this device's backend, or says that this build has none.
    pub fn run<J: BackendJob>(self, job: J) -> Result<J::Output, UnavailableDevice> {
        match self {
            Self::Cpu => Ok(job.run::<crate::CpuBackend>(&Default::default(), "cpu (burn flex)")),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(job.run::<crate::CudaBackend>(&Default::default(), "cuda:0")),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda => {
                drop(job);
                Err(UnavailableDevice(self.name()))
            }
        }
    }
}

/// A float type to compute in or to store weights in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloatType {
    /// 32-bit IEEE float.
    F32,
    /// 16-bit IEEE float (OPT's released dtype).
    F16,
    /// bfloat16 (8-bit exponent, 7-bit mantissa).
    Bf16,
}

impl FloatType {
    /// The tensor dtype.
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
    }

    /// The flag's spelling (`f32`, `f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn names_are_the_flags_spellings_and_dtypes_match_them() {
        for device in Device::value_variants() {
            assert_eq!(
                device.to_possible_value().unwrap().get_name(),
                device.name()
            );
        }
        for float in FloatType::value_variants() {
            assert_eq!(float.to_possible_value().unwrap().get_name(), float.name());
            assert_eq!(crate::float_dtype(float.name()), Some(float.dtype()));
        }
    }

    #[test]
    fn a_job_runs_on_the_cpu_and_cuda_is_named_when_missing() {
        struct Zeros;
        impl BackendJob for Zeros {
            type Output = (usize, &'static str);
            fn run<B: Backend>(self, device: &B::Device, label: &'static str) -> Self::Output {
                let t = burn::tensor::Tensor::<B, 1>::zeros([3], device);
                (t.dims()[0], label)
            }
        }
        assert_eq!(Device::Cpu.run(Zeros).unwrap(), (3, "cpu (burn flex)"));
        #[cfg(not(feature = "cuda"))]
        assert!(
            Device::Cuda
                .run(Zeros)
                .unwrap_err()
                .to_string()
                .contains("--features cuda")
        );
    }
}
