//! Expected order statistics of i.i.d. standard normal samples: the theory the latency benchmark
//! compares its measurements with. A coordinator that waits for `k` of `n` replies whose round
//! trips are i.i.d. `N(mu, sigma)` waits, in expectation, `mu + sigma * E[X_(k:n)]`, where
//! `X_(k:n)` is the `k`-th smallest of `n` standard normals.
//!
//! Method: the density of `X_(k:n)` is
//! `f_(k:n)(x) = n! / ((k-1)! (n-k)!) * Phi(x)^(k-1) * (1 - Phi(x))^(n-k) * phi(x)`,
//! so `E[X_(k:n)]` is the integral of `x * f_(k:n)(x)`. We integrate over `[-10, 10]` (outside it
//! `phi` is below `1e-22`) with composite Simpson's rule on 4000 intervals. The coefficient is a
//! product in `f64`; `1 - Phi(x)` is evaluated as `Phi(-x)` so the right tail keeps its precision.
//! `Phi(x) = erfc(-x / sqrt 2) / 2`, with `erfc` accurate to about `1e-15` (absolute): for
//! `|z| < 3` it comes from the series with terms all of one sign
//! `erf z = 2/sqrt(pi) * e^(-z^2) * sum_j (2z^2)^j z / (1*3*...*(2j+1))`, beyond from Laplace's
//! continued fraction `erfc z = e^(-z^2)/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...))))`,
//! evaluated with Lentz's method. The results match the tables of Teichroew (1956) and Harter
//! (1961) to `1e-7`.
//!
//! For the maximum, `sqrt(2 ln n)` is the classical asymptotic; it overestimates at small `n`.

/// Most samples `expected_normal_order_statistic` accepts: beyond this the binomial coefficient
/// approaches the `f64` range and the density's peak becomes too narrow for the fixed grid.
pub const MAX_SAMPLES: usize = 1000;

/// Integration range: `[-INTEGRATION_BOUND, INTEGRATION_BOUND]`.
const INTEGRATION_BOUND: f64 = 10.0;
/// Simpson intervals over the range (even).
const SIMPSON_INTERVALS: usize = 4000;
/// Below this `|z|` erfc comes from the erf series, above it from the continued fraction.
const SERIES_LIMIT: f64 = 3.0;
/// Cap on series terms and continued-fraction steps; both converge in far fewer.
const MAX_ITERATIONS: usize = 500;

const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3; // 1 / sqrt(pi)

/// E[X_(k:n)] for n i.i.d. standard normals, 1 <= k <= n.
pub fn expected_normal_order_statistic(k: usize, n: usize) -> f64 {
    assert!(
        1 <= k && k <= n,
        "order statistic k={k} of n={n} needs 1 <= k <= n"
    );
    assert!(n <= MAX_SAMPLES, "n={n} exceeds MAX_SAMPLES={MAX_SAMPLES}");
    if n == 1 {
        return 0.0;
    }
    // n! / ((k-1)! (n-k)!) = n * C(n-1, k-1).
    let coefficient = n as f64 * binomial(n - 1, k - 1);
    let below = i32::try_from(k - 1).expect("k <= MAX_SAMPLES");
    let above = i32::try_from(n - k).expect("n <= MAX_SAMPLES");
    let integrand = |x: f64| {
        x * coefficient * normal_cdf(x).powi(below) * normal_cdf(-x).powi(above) * normal_pdf(x)
    };
    simpson(
        integrand,
        -INTEGRATION_BOUND,
        INTEGRATION_BOUND,
        SIMPSON_INTERVALS,
    )
}

/// The asymptotic approximation of E[max of n] = sqrt(2 ln n) (0 for n <= 1).
pub fn max_normal_asymptotic(n: usize) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    (2.0 * (n as f64).ln()).sqrt()
}

/// `C(m, j)` as a product in `f64`, exact for the sizes used here up to rounding.
fn binomial(m: usize, j: usize) -> f64 {
    debug_assert!(j <= m);
    let j = j.min(m - j);
    (1..=j).fold(1.0, |acc, i| acc * (m - j + i) as f64 / i as f64)
}

/// Composite Simpson's rule over `[a, b]` with `intervals` (even) sub-intervals.
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, intervals: usize) -> f64 {
    assert!(
        intervals >= 2 && intervals.is_multiple_of(2),
        "Simpson needs an even interval count"
    );
    assert!(a < b);
    let h = (b - a) / intervals as f64;
    let inner: f64 = (1..intervals)
        .map(|i| {
            let weight = if i % 2 == 1 { 4.0 } else { 2.0 };
            weight * f(a + i as f64 * h)
        })
        .sum();
    (f(a) + inner + f(b)) * h / 3.0
}

/// The standard normal density `phi`.
fn normal_pdf(x: f64) -> f64 {
    FRAC_1_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2 * (-0.5 * x * x).exp()
}

/// The standard normal distribution function `Phi`.
fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// The complementary error function: absolute error about `1e-15`, relative error at most about
/// `1e-13` (from `1 - erf` just below `SERIES_LIMIT`), `1e-15` in the tails.
fn erfc(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z.abs() < SERIES_LIMIT {
        1.0 - erf_series(z)
    } else if z > 0.0 {
        erfc_continued_fraction(z)
    } else {
        2.0 - erfc_continued_fraction(-z)
    }
}

/// `erf z` for `|z| < SERIES_LIMIT`, from a series whose terms all have `z`'s sign (no
/// cancellation).
fn erf_series(z: f64) -> f64 {
    debug_assert!(z.abs() < SERIES_LIMIT);
    let two_z2 = 2.0 * z * z;
    let mut term = z;
    let mut sum = z;
    for j in 1..MAX_ITERATIONS {
        term *= two_z2 / (2 * j + 1) as f64;
        sum += term;
        if term.abs() <= sum.abs() * f64::EPSILON * 0.5 {
            return 2.0 * FRAC_1_SQRT_PI * (-z * z).exp() * sum;
        }
    }
    unreachable!("erf series did not converge for z={z}");
}

/// `erfc z` for `z >= SERIES_LIMIT`, from Laplace's continued fraction (modified Lentz).
fn erfc_continued_fraction(z: f64) -> f64 {
    debug_assert!(z >= SERIES_LIMIT);
    const TINY: f64 = 1e-300;
    // f = z + a_1/(z + a_2/(z + ...)), a_j = j/2.
    let mut f = z;
    let mut c = z;
    let mut d = 0.0;
    for j in 1..MAX_ITERATIONS {
        let a = j as f64 * 0.5;
        d = z + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        d = 1.0 / d;
        c = z + a / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() <= f64::EPSILON {
            return FRAC_1_SQRT_PI * (-z * z).exp() / f;
        }
    }
    unreachable!("erfc continued fraction did not converge for z={z}");
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCE: f64 = 1e-6;

    fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{what}: got {actual}, expected {expected} (tolerance {tolerance})"
        );
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values to 16 digits (Abramowitz & Stegun; mpmath).
        assert_close(erfc(0.0), 1.0, 1e-15, "erfc(0)");
        assert_close(erfc(0.5), 0.479_500_122_186_953_5, 1e-15, "erfc(0.5)");
        assert_close(erfc(1.0), 0.157_299_207_050_285_1, 1e-15, "erfc(1)");
        assert_close(erfc(2.0), 0.004_677_734_981_047_266, 1e-15, "erfc(2)");
        assert_close(erfc(-1.0), 1.842_700_792_949_715, 1e-15, "erfc(-1)");
        let at_3 = 2.209_049_699_858_544e-5;
        assert!(
            (erfc(3.0) - at_3).abs() <= at_3 * 1e-12,
            "erfc(3) = {}",
            erfc(3.0)
        );
        let at_5 = 1.537_459_794_428_035e-12;
        assert!(
            (erfc(5.0) - at_5).abs() <= at_5 * 1e-12,
            "erfc(5) = {}",
            erfc(5.0)
        );
        // Continuity across the switch between series and continued fraction.
        let below = erfc(SERIES_LIMIT - 1e-12);
        let above = erfc(SERIES_LIMIT);
        assert!((below - above).abs() <= above * 1e-9, "{below} vs {above}");
    }

    #[test]
    fn normal_cdf_matches_reference_values() {
        assert_close(normal_cdf(0.0), 0.5, 1e-15, "Phi(0)");
        assert_close(normal_cdf(1.0), 0.841_344_746_068_542_9, 1e-15, "Phi(1)");
        assert_close(
            normal_cdf(-1.959_963_984_540_054),
            0.025,
            1e-15,
            "Phi(-1.96)",
        );
        assert_close(
            normal_cdf(1.0) + normal_cdf(-1.0),
            1.0,
            1e-15,
            "Phi(x) + Phi(-x)",
        );
    }

    #[test]
    fn expected_maximum_matches_published_tables() {
        // Harter (1961), Teichroew (1956); E[max of 2] = 1/sqrt(pi), E[max of 3] = 3/(2 sqrt(pi)).
        let cases = [
            (2, 0.564_189_6),
            (3, 0.846_284_4),
            (5, 1.162_964_5),
            (10, 1.538_752_7),
        ];
        for (n, expected) in cases {
            let got = expected_normal_order_statistic(n, n);
            assert_close(got, expected, TOLERANCE, &format!("E[max of {n}]"));
        }
        assert_close(
            expected_normal_order_statistic(2, 2),
            FRAC_1_SQRT_PI,
            1e-9,
            "E[max of 2] = 1/sqrt(pi)",
        );
    }

    #[test]
    fn inner_order_statistic_matches_published_table() {
        assert_close(
            expected_normal_order_statistic(4, 5),
            0.495_019_7,
            TOLERANCE,
            "E[X_(4:5)]",
        );
    }

    #[test]
    fn minimum_mirrors_maximum() {
        for n in [2, 3, 5, 10, 50, 100] {
            let min = expected_normal_order_statistic(1, n);
            let max = expected_normal_order_statistic(n, n);
            assert_close(min, -max, 1e-9, &format!("E[min of {n}] = -E[max of {n}]"));
        }
    }

    #[test]
    fn median_of_odd_sample_is_zero() {
        for n in [1usize, 3, 5, 11, 101] {
            let median = expected_normal_order_statistic(n.div_ceil(2), n);
            assert_close(median, 0.0, 1e-9, &format!("E[median of {n}]"));
        }
    }

    #[test]
    fn order_statistics_sum_to_zero_and_increase() {
        for n in [2, 5, 10, 100] {
            let values: Vec<f64> = (1..=n)
                .map(|k| expected_normal_order_statistic(k, n))
                .collect();
            let sum: f64 = values.iter().sum();
            assert_close(sum, 0.0, 1e-8, &format!("sum of E[X_(k:{n})]"));
            assert!(
                values.windows(2).all(|w| w[0] < w[1]),
                "not increasing for n={n}"
            );
        }
    }

    #[test]
    fn asymptotic_maximum_overestimates_at_small_n() {
        assert_eq!(max_normal_asymptotic(0), 0.0);
        assert_eq!(max_normal_asymptotic(1), 0.0);
        for n in 2..=10 {
            let exact = expected_normal_order_statistic(n, n);
            let asymptotic = max_normal_asymptotic(n);
            assert!(
                asymptotic > exact,
                "n={n}: sqrt(2 ln n) = {asymptotic} <= exact {exact}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "needs 1 <= k <= n")]
    fn rank_out_of_range_panics() {
        expected_normal_order_statistic(6, 5);
    }
}
