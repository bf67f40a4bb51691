//! Numbers that must be finite and inside a meaningful range: every float flag is parsed
//! through one of these, so `NaN`, `inf` and out-of-range values are refused where they are
//! typed, and the same bounds check values built in code.

/// A closed or half-open interval of finite numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Lower end.
    pub low: f64,
    /// Whether `low` itself is allowed.
    pub low_inclusive: bool,
    /// Upper end (`f64::INFINITY`: no upper end; the value must still be finite).
    pub high: f64,
    /// Whether `high` itself is allowed.
    pub high_inclusive: bool,
}

/// `[0, 1]`.
pub const SHARE: Bounds = Bounds {
    low: 0.0,
    low_inclusive: true,
    high: 1.0,
    high_inclusive: true,
};
/// `(0, 1]`.
pub const POSITIVE_SHARE: Bounds = Bounds {
    low_inclusive: false,
    ..SHARE
};
/// `[0, 0.5]`: a distance from 0 or from 1 that keeps the two apart.
pub const HALF_SHARE: Bounds = Bounds { high: 0.5, ..SHARE };
/// `[0, ∞)`, finite.
pub const NON_NEGATIVE: Bounds = Bounds {
    low: 0.0,
    low_inclusive: true,
    high: f64::INFINITY,
    high_inclusive: false,
};
/// `(0, ∞)`, finite.
pub const POSITIVE: Bounds = Bounds {
    low_inclusive: false,
    ..NON_NEGATIVE
};

impl Bounds {
    /// `value`, or why it is refused.
    pub fn check(&self, value: f64) -> Result<f64, String> {
        if !value.is_finite() {
            return Err(format!("{value} is not a finite number"));
        }
        let above = if self.low_inclusive {
            value >= self.low
        } else {
            value > self.low
        };
        let below = if self.high_inclusive {
            value <= self.high
        } else {
            value < self.high
        };
        if above && below {
            Ok(value)
        } else {
            Err(format!("{value} is outside {self}"))
        }
    }

    /// The number `text` holds, checked.
    pub fn parse(&self, text: &str) -> Result<f64, String> {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a number"))?;
        self.check(value)
    }
}

impl std::fmt::Display for Bounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = if self.low_inclusive { '[' } else { '(' };
        if self.high.is_infinite() {
            write!(f, "{open}{}, ∞)", self.low)
        } else {
            let close = if self.high_inclusive { ']' } else { ')' };
            write!(f, "{open}{}, {}{close}", self.low, self.high)
        }
    }
}

/// Flag parser: a share in `[0, 1]`.
pub fn share(text: &str) -> Result<f64, String> {
    SHARE.parse(text)
}

/// Flag parser: a share in `(0, 1]`.
pub fn positive_share(text: &str) -> Result<f64, String> {
    POSITIVE_SHARE.parse(text)
}

/// Flag parser: a number in `[0, 0.5]`.
pub fn half_share(text: &str) -> Result<f64, String> {
    HALF_SHARE.parse(text)
}

/// Flag parser: a finite number `≥ 0`.
pub fn non_negative(text: &str) -> Result<f64, String> {
    NON_NEGATIVE.parse(text)
}

/// Flag parser: a finite number `> 0`.
pub fn positive(text: &str) -> Result<f64, String> {
    POSITIVE.parse(text)
}

/// Flag parser: a count of at least one.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_and_out_of_range_values_are_refused_with_the_range() {
        for text in ["NaN", "nan", "inf", "-inf", "infinity"] {
            for parse in [share, positive_share, half_share, non_negative, positive] {
                let e = parse(text).unwrap_err();
                assert!(e.contains("not a finite number"), "{text}: {e}");
            }
        }
        assert_eq!(share("0").unwrap(), 0.0);
        assert_eq!(share(" 1 ").unwrap(), 1.0);
        assert!(positive_share("0").unwrap_err().contains("(0, 1]"));
        assert!(share("1.5").unwrap_err().contains("[0, 1]"));
        assert!(half_share("0.6").unwrap_err().contains("[0, 0.5]"));
        assert!(non_negative("-1").unwrap_err().contains("[0, ∞)"));
        assert_eq!(non_negative("1e300").unwrap(), 1e300);
        assert!(positive("0").is_err());
        assert!(positive("x").unwrap_err().contains("`x` is not a number"));
        assert_eq!(at_least_one("3").unwrap(), 3);
        assert!(at_least_one("0").unwrap_err().contains("at least 1"));
        assert!(at_least_one("-2").is_err());
    }
}
