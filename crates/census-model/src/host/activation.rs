//! The MLP activation functions over slices, in `f32`, written as plain arithmetic so the
//! compiler vectorises them: GELU's tanh form and SiLU as `x · sigmoid(z)` on one exponential,
//! the erf GELU with the erf approximation PyTorch's vectorised CPU kernel uses (Abramowitz and
//! Stegun 7.1.26, absolute error below 1.5e-7), and the exponential by range reduction and a
//! polynomial (Cephes' `expf`, within 2 ulp), which attention's softmax uses too. Each pass is
//! compiled three times, for AVX-512, AVX2 and the baseline, and runs the widest the CPU has;
//! the arithmetic is the same in each (no contraction into fused multiply-adds), so are the
//! results.

use census_format::model::Activation;

/// Runs `$pass($args)` compiled for the widest vector instructions this CPU has.
macro_rules! widest {
    ($pass:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, the one feature the function is compiled for.
                #[allow(unsafe_code)]
                return unsafe { x86::avx512::$pass($($arg),*) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, the one feature the function is compiled for.
                #[allow(unsafe_code)]
                return unsafe { x86::avx2::$pass($($arg),*) };
            }
        }
        $pass($($arg),*)
    }};
}

/// The passes compiled for wider vector instructions.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use census_format::model::Activation;

    /// Compiled for AVX-512F.
    pub(super) mod avx512 {
        use super::Activation;

        #[target_feature(enable = "avx512f")]
        pub(in super::super) fn activate(function: Activation, values: &mut [f32]) {
            super::super::activate(function, values)
        }

        #[target_feature(enable = "avx512f")]
        pub(in super::super) fn exp_affine(values: &mut [f32], scale: f32, shift: f32) {
            super::super::exp_affine(values, scale, shift)
        }
    }

    /// Compiled for AVX2.
    pub(super) mod avx2 {
        use super::Activation;

        #[target_feature(enable = "avx2")]
        pub(in super::super) fn activate(function: Activation, values: &mut [f32]) {
            super::super::activate(function, values)
        }

        #[target_feature(enable = "avx2")]
        pub(in super::super) fn exp_affine(values: &mut [f32], scale: f32, shift: f32) {
            super::super::exp_affine(values, scale, shift)
        }
    }
}

/// Applies `function` to every element of `values` in place.
pub(crate) fn activate_in_place(function: Activation, values: &mut [f32]) {
    widest!(activate(function, values))
}

/// `values[i] = e^(values[i] · scale - shift)` for every element (a softmax's numerators).
pub(crate) fn exp_affine_in_place(values: &mut [f32], scale: f32, shift: f32) {
    widest!(exp_affine(values, scale, shift))
}

/// [`exp_affine_in_place`], compiled where it is inlined.
#[inline(always)]
fn exp_affine(values: &mut [f32], scale: f32, shift: f32) {
    values.iter_mut().for_each(|x| *x = exp(*x * scale - shift));
}

/// [`activate_in_place`], compiled where it is inlined.
#[inline(always)]
fn activate(function: Activation, values: &mut [f32]) {
    match function {
        Activation::Relu => values.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::Gelu => values.iter_mut().for_each(|x| *x = gelu(*x)),
        Activation::GeluTanh => values.iter_mut().for_each(|x| *x = gelu_tanh(*x)),
        Activation::Silu => values.iter_mut().for_each(|x| *x = silu(*x)),
    }
}

/// `e^x`, clamped to the finite normal range: Cody–Waite reduction to `r` in `[-ln2/2, ln2/2]`
/// and Cephes' degree-6 polynomial, scaled by `2^k` through the exponent bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and removing 1.5 · 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let k = (x * LOG2E + ROUND) - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    f32::from_bits(((k as i32 + 127) as u32) << 23) * y
}

/// `x · sigmoid(z)` = `x / (1 + e^-z)`.
#[inline(always)]
fn times_sigmoid(x: f32, z: f32) -> f32 {
    x / (1.0 + exp(-z))
}

/// SiLU: `x · sigmoid(x)`.
#[inline(always)]
fn silu(x: f32) -> f32 {
    times_sigmoid(x, x)
}

/// GELU's tanh form, `0.5 x (1 + tanh(u))` with `u = √(2/π) (x + 0.044715 x³)`, computed as
/// `x · sigmoid(2u)`, which it equals and which keeps its precision where `tanh(u)` nears -1.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    times_sigmoid(x, 2.0 * u)
}

/// The exact GELU, `0.5 x (1 + erf(x / √2))`, with `1 - erf(a)` for `a ≥ 0` as
/// `t (a1 + t (a2 + …)) e^{-a²}`, `t = 1 / (1 + p a)`.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152,
        1.061_405_4,
    ];
    let a = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    // 1 - erf(a), and so 1 + erf(x / √2) on either side of zero.
    let tail = poly * exp(-a * a);
    let one_plus_erf = if x >= 0.0 { 2.0 - tail } else { tail };
    0.5 * x * one_plus_erf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compiled_pass_gives_the_same_bits() {
        let xs: Vec<f32> = (-3000..3000).map(|i| i as f32 * 0.0041).collect();
        for function in [Activation::Gelu, Activation::GeluTanh, Activation::Silu] {
            let mut widest = xs.clone();
            activate_in_place(function, &mut widest);
            let mut baseline = xs.clone();
            activate(function, &mut baseline);
            assert_eq!(widest, baseline, "{function:?}");
        }
        let mut widest = xs.clone();
        exp_affine_in_place(&mut widest, 0.5, 1.0);
        let mut baseline = xs.clone();
        exp_affine(&mut baseline, 0.5, 1.0);
        assert_eq!(widest, baseline);
    }

    #[test]
    fn the_exponential_is_within_two_ulp_over_its_range() {
        for i in -8700..=8800 {
            let x = i as f32 * 0.01;
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 2.5e-7,
                "exp({x}) = {got}, not {want}"
            );
        }
    }

    /// Each activation against its definition in `f64` over [-12, 12].
    #[test]
    fn activations_match_their_definitions() {
        fn erf(x: f64) -> f64 {
            libm::erf(x)
        }
        type Definition = fn(f64) -> f64;
        let cases: [(Activation, Definition); 4] = [
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::Gelu, |x| {
                0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
            }),
            (Activation::GeluTanh, |x| {
                let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
                0.5 * x * (1.0 + u.tanh())
            }),
            (Activation::Silu, |x| x / (1.0 + (-x).exp())),
        ];
        let xs: Vec<f32> = (-1200..=1200).map(|i| i as f32 * 0.01).collect();
        for (function, definition) in cases {
            let mut got = xs.clone();
            activate_in_place(function, &mut got);
            for (&x, &y) in xs.iter().zip(&got) {
                let want = definition(x as f64);
                // Relative, plus the erf approximation's absolute 1.5e-7 times 0.5 |x|
                // (PyTorch's own kernel is 4e-8 off at -4.85).
                let bound = 4e-6 * want.abs() + 1e-7 * (x as f64).abs();
                assert!(
                    (y as f64 - want).abs() <= bound,
                    "{function:?}({x}) = {y}, not {want}"
                );
            }
        }
    }
}
