//! Where the model computes ([`Device`]), as the commands offer it, with one dispatch to its
//! backend for every command. The float type to compute in is census-format's
//! [`FloatType`](census_format::model::FloatType).

use burn::tensor::backend::Backend;

/// Where a command computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
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

#[cfg(all(test, feature = "clap"))]
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
        for float in census_format::model::FloatType::value_variants() {
            assert_eq!(float.to_possible_value().unwrap().get_name(), float.name());
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
