//! Several devices of one backend for one job (`--devices`): `cpu,cpu` (two workers on the
//! CPU), `cuda:0,cuda:1`, or `cuda:all` (one worker per visible GPU), each worker named where
//! its work is recorded.

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::Device as _;
use burn::tensor::backend::{Backend, DeviceId};

use crate::choices::{Device, UnavailableDevice};

/// The devices a job spreads over, all of one backend.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceSet {
    /// The backend.
    pub kind: Device,
    /// Its devices.
    pub workers: Workers,
}

/// Which devices of the backend.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workers {
    /// These device indices, one worker each (the CPU's workers are numbered in order and
    /// share it).
    Indices(Vec<usize>),
    /// Every device the backend sees (`cuda:all`).
    All,
}

/// A `--devices` list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--devices {list}: {reason}")]
pub struct DeviceListError {
    /// The list as given.
    pub list: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One device of a job, with the name its work is recorded under (`cpu:1`, `cuda:3`).
pub struct Worker<B: Backend> {
    /// The device.
    pub device: B::Device,
    /// Its name.
    pub name: String,
}

/// Work generic over the backend, run by [`DeviceSet::run`] on one or more of its devices.
pub trait ParallelJob {
    /// What the work gives.
    type Output;

    /// Does the work on `workers` (at least one), all of backend `B`, described as `label`.
    fn run<B: Backend>(self, workers: Vec<Worker<B>>, label: String) -> Self::Output;
}

impl DeviceSet {
    /// The single device `--device` names: the CPU, or GPU 0.
    pub fn one(kind: Device) -> Self {
        Self {
            kind,
            workers: Workers::Indices(vec![0]),
        }
    }

    /// Runs `job` on these devices, or says that this build has no backend for them.
    pub fn run<J: ParallelJob>(&self, job: J) -> Result<J::Output, UnavailableDevice> {
        match self.kind {
            Device::Cpu => Ok(self.run_on::<crate::CpuBackend, J>(job, "burn flex")),
            #[cfg(feature = "cuda")]
            Device::Cuda => Ok(self.run_on::<crate::CudaBackend, J>(job, "burn cuda")),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda => {
                drop(job);
                Err(UnavailableDevice(self.kind.name()))
            }
        }
    }

    /// The same devices with `cuda:all` resolved to the indices of the GPUs this host has.
    pub fn resolved(&self) -> Result<Self, UnavailableDevice> {
        struct Count;
        impl ParallelJob for Count {
            type Output = usize;
            fn run<B: Backend>(self, workers: Vec<Worker<B>>, _label: String) -> usize {
                workers.len()
            }
        }
        match &self.workers {
            Workers::Indices(_) => Ok(self.clone()),
            Workers::All => Ok(Self {
                kind: self.kind,
                workers: Workers::Indices((0..self.run(Count)?).collect()),
            }),
        }
    }

    /// These devices, [resolved](Self::resolved), in groups of `size` (the last may be
    /// smaller): each group runs one job while the others run theirs.
    pub fn groups(&self, size: usize) -> Result<Vec<Self>, UnavailableDevice> {
        let Workers::Indices(indices) = self.resolved()?.workers else {
            unreachable!("resolved sets list their indices")
        };
        Ok(indices
            .chunks(size.max(1))
            .map(|chunk| Self {
                kind: self.kind,
                workers: Workers::Indices(chunk.to_vec()),
            })
            .collect())
    }

    /// The names its workers' work is recorded under (`cpu:0,cpu:1`, `cuda:2`, `cuda:all`).
    pub fn names(&self) -> String {
        match &self.workers {
            Workers::All => format!("{}:all", self.kind.name()),
            Workers::Indices(indices) => {
                let names: Vec<String> = (indices.iter())
                    .map(|i| format!("{}:{i}", self.kind.name()))
                    .collect();
                names.join(",")
            }
        }
    }

    fn run_on<B: Backend, J: ParallelJob>(&self, job: J, backend: &str) -> J::Output {
        let indices = match &self.workers {
            Workers::Indices(indices) => indices.clone(),
            Workers::All => (0..B::device_count(0).max(1)).collect(),
        };
        let workers: Vec<Worker<B>> = indices
            .iter()
            .map(|&i| Worker {
                device: match self.kind {
                    Device::Cpu => B::Device::default(),
                    Device::Cuda => B::Device::from_id(DeviceId {
                        type_id: 0,
                        index_id: i as u16,
                    }),
                },
                name: format!("{}:{i}", self.kind.name()),
            })
            .collect();
        // One device keeps the label --device gives it.
        let label = match (self.kind, workers.as_slice()) {
            (Device::Cpu, [_]) => format!("cpu ({backend})"),
            (_, [one]) => one.name.clone(),
            _ => {
                let names: Vec<&str> = workers.iter().map(|w| w.name.as_str()).collect();
                format!("{} ({backend})", names.join(","))
            }
        };
        job.run(workers, label)
    }
}

impl FromStr for DeviceSet {
    type Err = DeviceListError;

    /// `cpu,cpu`, `cuda:0,cuda:1`, `cuda`, `cuda:all`: one backend's devices, none twice.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| DeviceListError {
            list: list.to_string(),
            reason,
        };
        let mut kind = None;
        let mut indices = Vec::new();
        let mut all = false;
        for item in list.split(',').map(str::trim) {
            let (name, index) = item.split_once(':').unwrap_or((item, ""));
            let this = match name {
                "cpu" => Device::Cpu,
                "cuda" => Device::Cuda,
                other => return Err(bad(format!("unknown device '{other}' (cpu or cuda)"))),
            };
            if *kind.get_or_insert(this) != this {
                return Err(bad(
                    "devices of one backend only (all cpu, or all cuda)".to_string()
                ));
            }
            match (this, index) {
                (Device::Cuda, "all") => all = true,
                // The CPU's workers share it: each `cpu` is one more worker.
                (Device::Cpu, "") => indices.push(indices.len()),
                (Device::Cuda, "") => indices.push(0),
                (Device::Cuda, number) => indices.push(number.parse().map_err(|_| {
                    bad(format!(
                        "'{item}': a GPU is cuda:N, N its index, or cuda:all"
                    ))
                })?),
                (Device::Cpu, _) => {
                    return Err(bad(format!(
                        "'{item}': the CPU is named `cpu`, once per worker"
                    )));
                }
            }
        }
        let kind = kind.ok_or_else(|| bad("no device".to_string()))?;
        if all && !indices.is_empty() {
            return Err(bad("cuda:all names every GPU; give it alone".to_string()));
        }
        let mut seen = indices.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("a GPU named twice".to_string()));
        }
        Ok(Self {
            kind,
            workers: if all {
                Workers::All
            } else {
                Workers::Indices(indices)
            },
        })
    }
}

impl fmt::Display for DeviceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.workers, self.kind) {
            (Workers::All, kind) => write!(f, "{}:all", kind.name()),
            (Workers::Indices(indices), Device::Cpu) => {
                write!(f, "{}", vec!["cpu"; indices.len()].join(","))
            }
            (Workers::Indices(indices), kind) => {
                let names: Vec<String> = indices
                    .iter()
                    .map(|i| format!("{}:{i}", kind.name()))
                    .collect();
                write!(f, "{}", names.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_their_workers_and_print_back() {
        for (list, kind, workers) in [
            ("cpu", Device::Cpu, Workers::Indices(vec![0])),
            ("cpu,cpu", Device::Cpu, Workers::Indices(vec![0, 1])),
            ("cuda", Device::Cuda, Workers::Indices(vec![0])),
            ("cuda:0,cuda:3", Device::Cuda, Workers::Indices(vec![0, 3])),
            ("cuda:all", Device::Cuda, Workers::All),
        ] {
            let set: DeviceSet = list.parse().unwrap();
            assert_eq!(set, DeviceSet { kind, workers }, "{list}");
            let again: DeviceSet = set.to_string().parse().unwrap();
            assert_eq!(again, set, "{list}");
        }
    }

    #[test]
    fn bad_lists_are_named() {
        for (list, reason) in [
            ("cpu,cuda", "one backend"),
            ("tpu", "unknown device 'tpu'"),
            ("cuda:x", "cuda:N"),
            ("cuda:1,cuda:1", "named twice"),
            ("cuda:all,cuda:0", "alone"),
            ("cpu:1", "once per worker"),
        ] {
            let e = list.parse::<DeviceSet>().unwrap_err().to_string();
            assert!(e.contains(reason) && e.contains(list), "{list}: {e}");
        }
    }

    #[test]
    fn two_cpu_workers_are_named_apart() {
        struct Names;
        impl ParallelJob for Names {
            type Output = (Vec<String>, String);
            fn run<B: Backend>(self, workers: Vec<Worker<B>>, label: String) -> Self::Output {
                (workers.into_iter().map(|w| w.name).collect(), label)
            }
        }
        let set: DeviceSet = "cpu,cpu".parse().unwrap();
        assert_eq!(
            set.run(Names).unwrap(),
            (
                vec!["cpu:0".to_string(), "cpu:1".to_string()],
                "cpu:0,cpu:1 (burn flex)".to_string()
            )
        );
        assert_eq!(
            DeviceSet::one(Device::Cpu).run(Names).unwrap().1,
            "cpu (burn flex)"
        );
    }

    #[test]
    fn devices_split_into_groups_in_order() {
        let set: DeviceSet = "cpu,cpu,cpu".parse().unwrap();
        let groups: Vec<String> = set
            .groups(2)
            .unwrap()
            .iter()
            .map(DeviceSet::names)
            .collect();
        assert_eq!(groups, ["cpu:0,cpu:1", "cpu:2"]);
        let gpus: DeviceSet = "cuda:3,cuda:5".parse().unwrap();
        let groups: Vec<String> = gpus
            .groups(1)
            .unwrap()
            .iter()
            .map(DeviceSet::names)
            .collect();
        assert_eq!(groups, ["cuda:3", "cuda:5"]);
        assert_eq!("cuda:all".parse::<DeviceSet>().unwrap().names(), "cuda:all");
    }
}
