//! Order statistics over per-round samples and per-round ratios between runtimes.

/// Median (mean of the two middle values for an even count); None when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Smallest finite value.
pub fn min(xs: &[f64]) -> Option<f64> {
    xs.iter()
        .copied()
        .filter(|x| x.is_finite())
        .reduce(f64::min)
}

/// Largest finite value.
pub fn max(xs: &[f64]) -> Option<f64> {
    xs.iter()
        .copied()
        .filter(|x| x.is_finite())
        .reduce(f64::max)
}

/// Per-round `a[i] / b[i]`, for the rounds where both ran.
pub fn ratios(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter_map(|(x, y)| match (x, y) {
            (Some(x), Some(y)) if *y > 0.0 => Some(x / y),
            _ => None,
        })
        .collect()
}

/// Median over rounds of `a[i] / b[i]`, using only rounds where both ran.
pub fn median_ratio(a: &[Option<f64>], b: &[Option<f64>]) -> Option<f64> {
    median(&ratios(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn ratio_is_taken_per_round_then_the_median() {
        // Round-wise ratios 0.5, 2.0, 1.0 (the round b ran alone is skipped).
        let a = [Some(1.0), Some(4.0), Some(3.0), None];
        let b = [Some(2.0), Some(2.0), Some(3.0), Some(9.0)];
        assert_eq!(median_ratio(&a, &b), Some(1.0));
        // The median of per-round ratios is not the ratio of the medians.
        let a = [Some(1.0), Some(2.0), Some(10.0)];
        let b = [Some(2.0), Some(1.0), Some(20.0)];
        assert_eq!(median_ratio(&a, &b), Some(0.5));
    }
}
