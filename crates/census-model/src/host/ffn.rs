//! The FFN block on the host and the neurons it records: `fc2(act(fc1(x)))`, or, gated,
//! `fc2(act(gate(x)) · up(x))`. A neuron fires when its activation's input is above zero.
//! Where the activation is a ReLU without a gate (OPT), a neuron that did not fire adds
//! nothing, so fc2 sums the fired neurons' rows only; GELU and SiLU are not zero below zero,
//! so their fc2 runs dense.

use census_format::model::Activation;
use rayon::prelude::*;

use super::activation::activate_in_place;
use super::linear::HostLinear;
use super::sparse_fc2::add_fired_updates;
use crate::fired::FiredNeurons;

/// Tokens per parallel task of the element-wise passes.
const TOKENS_PER_TASK: usize = 32;

/// fc2 as the activation allows.
#[derive(Debug, Clone)]
enum Fc2 {
    /// ReLU without a gate: row `n` of `rows` (`[ffn, hidden]`) is neuron `n`'s update vector,
    /// summed over the fired neurons only.
    FiredOnly {
        rows: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
    /// Every neuron's activation times fc2.
    Dense(HostLinear),
}

/// A layer's FFN in host memory.
#[derive(Debug, Clone)]
pub(crate) struct HostFfn {
    /// fc1, or a gated MLP's gate and up projections stacked (`[gate | up]` outputs).
    fc1: HostLinear,
    fc2: Fc2,
    activation: Activation,
    gated: bool,
    /// Neurons.
    width: usize,
}

impl HostFfn {
    /// The FFN of `fc1` (gate and up stacked when `gated`) and `fc2`.
    pub(crate) fn new(
        fc1: HostLinear,
        fc2: HostLinear,
        activation: Activation,
        gated: bool,
    ) -> Self {
        let width = fc2.inputs;
        assert_eq!(
            fc1.outputs,
            width * (1 + gated as usize),
            "fc1 outputs per neuron"
        );
        let fc2 = if activation == Activation::Relu && !gated {
            Fc2::FiredOnly {
                rows: fc2.weight,
                bias: fc2.bias,
            }
        } else {
            Fc2::Dense(fc2)
        };
        Self {
            fc1,
            fc2,
            activation,
            gated,
            width,
        }
    }

    /// Neurons.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// `out += fc2(act(fc1(x)))` (gated: `fc2(act(gate(x)) · up(x))`); returns the neurons
    /// that fired. `pre` is a scratch buffer.
    ///
    /// # Shapes
    /// - `x`: `[tokens, hidden]` (normalised where the model normalises)
    /// - `out`: `[tokens, hidden]`, updated in place
    pub(crate) fn forward(&self, x: &[f32], out: &mut [f32], pre: &mut Vec<f32>) -> FiredNeurons {
        let tokens = x.len() / self.fc1.inputs;
        pre.resize(tokens * self.fc1.outputs, 0.0);
        let pre = &mut pre[..tokens * self.fc1.outputs];
        self.fc1.forward(x, pre, false);
        match &self.fc2 {
            Fc2::FiredOnly { rows, bias } => {
                add_fired_updates(pre, self.width, rows, bias.as_deref(), out)
            }
            Fc2::Dense(fc2) => {
                let fired = self.activate(pre);
                // Each token's activations lie in place of its gates.
                fc2.forward_strided(pre, self.fc1.outputs, out, true);
                fired
            }
        }
    }

    /// Each token's gates become its activations in place, `act_fn(gate)` (times `up` when
    /// gated); returns the neurons whose gate is above zero.
    ///
    /// # Shapes
    /// - `pre`: `[tokens, fc1 outputs]`, the first `ffn` of each row rewritten
    fn activate(&self, pre: &mut [f32]) -> FiredNeurons {
        let (stride, width) = (self.fc1.outputs, self.width);
        let function = self.activation;
        let chunks = pre
            .par_chunks_mut(stride * TOKENS_PER_TASK)
            .map(|pre| {
                let mut neurons = Vec::new();
                let mut counts = Vec::with_capacity(TOKENS_PER_TASK);
                for token in pre.chunks_exact_mut(stride) {
                    let (gate, up) = token.split_at_mut(width);
                    let before = neurons.len();
                    push_fired(gate, &mut neurons);
                    activate_in_place(function, gate);
                    if self.gated {
                        gate.iter_mut().zip(up.iter()).for_each(|(a, &u)| *a *= u);
                    }
                    counts.push(neurons.len() - before);
                }
                (neurons, counts)
            })
            .collect();
        FiredNeurons::from_chunks(chunks)
    }
}

/// Appends the indices of the positive entries of `gate`, ascending: a word of comparison
/// bits per 32 entries, then its set bits.
fn push_fired(gate: &[f32], neurons: &mut Vec<u16>) {
    for (word, chunk) in gate.chunks(32).enumerate() {
        let mut bits = 0u32;
        for (i, &g) in chunk.iter().enumerate() {
            bits |= ((g > 0.0) as u32) << i;
        }
        while bits != 0 {
            neurons.push((word * 32 + bits.trailing_zeros() as usize) as u16);
            bits &= bits - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(outputs: usize, inputs: usize, seed: usize) -> HostLinear {
        HostLinear {
            weight: (0..outputs * inputs)
                .map(|i| (((i + seed) * 37 % 23) as f32 - 11.0) / 9.0)
                .collect(),
            bias: Some((0..outputs).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect()),
            inputs,
            outputs,
        }
    }

    /// Every activation, gated and not, against the definition computed neuron by neuron.
    #[test]
    fn each_activation_and_gate_equals_the_definition() {
        let (tokens, hidden, width) = (40, 6, 9);
        let x: Vec<f32> = (0..tokens * hidden)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 6.0)
            .collect();
        for function in [
            Activation::Relu,
            Activation::Gelu,
            Activation::GeluTanh,
            Activation::Silu,
        ] {
            for gated in [false, true] {
                let fc1 = linear(width * (1 + gated as usize), hidden, 1);
                let fc2 = linear(hidden, width, 2);
                let ffn = HostFfn::new(fc1.clone(), fc2.clone(), function, gated);
                let mut out = vec![1.0; tokens * hidden];
                let fired = ffn.forward(&x, &mut out, &mut Vec::new());
                for t in 0..tokens {
                    let row = &x[t * hidden..][..hidden];
                    let project = |l: &HostLinear, o: usize, input: &[f32]| {
                        l.bias.as_ref().unwrap()[o]
                            + (0..l.inputs)
                                .map(|i| l.weight[i * l.outputs + o] * input[i])
                                .sum::<f32>()
                    };
                    let gate: Vec<f32> = (0..width).map(|n| project(&fc1, n, row)).collect();
                    let act: Vec<f32> = (0..width)
                        .map(|n| {
                            let up = if gated {
                                project(&fc1, width + n, row)
                            } else {
                                1.0
                            };
                            let mut a = [gate[n]];
                            activate_in_place(function, &mut a);
                            a[0] * up
                        })
                        .collect();
                    let want: Vec<u16> = (0..width as u16)
                        .filter(|&n| gate[n as usize] > 0.0)
                        .collect();
                    assert_eq!(fired.of(t), want.as_slice(), "{function:?} gated {gated}");
                    for h in 0..hidden {
                        let expected = 1.0 + project(&fc2, h, &act);
                        let got = out[t * hidden + h];
                        assert!(
                            (got - expected).abs() < 1e-4,
                            "{function:?} gated {gated} token {t}: {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}
