//! The `f64` methods the engine uses that `core` lacks: without `std` (the Wasm package) they come
//! from here (`trunc` and `fract` by [`trunc`], `exp` by `libm`), under the same names, so call
//! sites read the same in both builds. With `std` the inherent methods are used; the tests below
//! hold the two equal (`exp` within an ulp).

/// `trunc`, `fract` and `exp` for builds without `std`.
#[cfg(not(feature = "std"))]
pub(crate) trait F64Ext {
    /// [`f64::trunc`].
    fn trunc(self) -> f64;
    /// [`f64::fract`].
    fn fract(self) -> f64;
    /// [`f64::exp`].
    fn exp(self) -> f64;
}

#[cfg(not(feature = "std"))]
impl F64Ext for f64 {
    fn trunc(self) -> f64 {
        trunc(self)
    }
    // As std defines it.
    fn fract(self) -> f64 {
        self - trunc(self)
    }
    fn exp(self) -> f64 {
        libm::exp(self)
    }
}

/// [`f64::trunc`] by the integer conversion, which wasm32 has as one instruction (libm's portable
/// `trunc` works on the bits, and `core::arch::wasm32::f64_trunc` is unstable): below 2^52 the
/// conversion truncates exactly and `copysign` keeps `-0.0`; from 2^52 up every `f64` is whole
/// already, and NaN and the infinities fail the comparison and stay as they are.
#[cfg(any(not(feature = "std"), test))]
fn trunc(x: f64) -> f64 {
    if x.abs() < 4_503_599_627_370_496.0 {
        (x as i64 as f64).copysign(x)
    } else {
        x
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::trunc;
    use proptest::prelude::*;

    /// Bit-for-bit equality, with every NaN equal to every NaN.
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    const EDGES: [f64; 14] = [
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.0,
        -1.5,
        4_503_599_627_370_495.5,
        9_007_199_254_740_993.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];

    #[test]
    fn truncates_as_std_on_edges() {
        for x in EDGES {
            assert!(same(trunc(x), x.trunc()), "trunc({x})");
            assert!(same(x - trunc(x), x.fract()), "fract({x})");
        }
    }

    proptest! {
        #[test]
        fn truncates_as_std(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assert!(same(trunc(x), x.trunc()));
            prop_assert!(same(x - trunc(x), x.fract()));
        }

        // Around 2^52, where the conversion stops being needed.
        #[test]
        fn truncates_as_std_near_two_to_the_52(x in 4.0e15..5.0e15f64, negative: bool) {
            let x = if negative { -x } else { x };
            prop_assert!(same(trunc(x), x.trunc()));
        }

        // The logistic score's `exp`. Not bit for bit: std's is the platform's (glibc here), and
        // libm's differs from it in the last place for some arguments (42.40164140545021). On
        // wasm32 std's `exp` was libm's already (compiler-builtins), so the package's scores are
        // what they were; native and Wasm may differ by an ulp, as before.
        #[test]
        fn libm_exp_is_std_exp_within_an_ulp(x in -750.0..750.0f64) {
            let (a, b) = (libm::exp(x), x.exp());
            prop_assert!(same(a, b) || a.to_bits().abs_diff(b.to_bits()) == 1, "exp({x}): {a} against {b}");
        }
    }
}
