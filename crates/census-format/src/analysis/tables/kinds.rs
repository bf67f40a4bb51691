//! The named kinds an analysis assigns to neurons: detector kinds and positional types.

use serde::{Deserialize, Serialize};

/// Order of an n-gram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// The current token.
    Unigram,
    /// The previous and the current token.
    Bigram,
    /// The two previous tokens and the current one.
    Trigram,
}

impl Order {
    /// All orders.
    pub const ALL: [Order; 3] = [Order::Unigram, Order::Bigram, Order::Trigram];

    /// `n`.
    pub fn n(self) -> usize {
        match self {
            Self::Unigram => 1,
            Self::Bigram => 2,
            Self::Trigram => 3,
        }
    }

    /// `unigram`, `bigram` or `trigram`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unigram => "unigram",
            Self::Bigram => "bigram",
            Self::Trigram => "trigram",
        }
    }

    /// The order named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// What a detector detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectorKind {
    /// A token detector (unigram triggers).
    Token,
    /// A trigram detector.
    Trigram,
}

impl DetectorKind {
    /// `token` or `trigram`, as the `kind` column holds it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Trigram => "trigram",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Token, Self::Trigram]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// The kind of the detectors whose triggers are n-grams of `order`: bigrams have none.
    pub fn of_order(order: Order) -> Option<Self> {
        match order {
            Order::Unigram => Some(Self::Token),
            Order::Trigram => Some(Self::Trigram),
            Order::Bigram => None,
        }
    }
}

/// The shape of a positional neuron's curve (the paper's Fig. 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PositionalType {
    /// Alternates between low and high regimes (purple).
    Oscillatory,
    /// Not oscillatory; stays at 0 on some interval and at 1 on another (red).
    BothExtremes,
    /// Stays at 0 or at 1 on some interval, not both (green).
    OneExtreme,
    /// Depends on position without reaching either extreme (yellow).
    Other,
}

impl PositionalType {
    /// All types, in the paper's order.
    pub const ALL: [PositionalType; 4] = [
        Self::Oscillatory,
        Self::BothExtremes,
        Self::OneExtreme,
        Self::Other,
    ];

    /// `oscillatory`, `both-extremes`, `one-extreme`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Oscillatory => "oscillatory",
            Self::BothExtremes => "both-extremes",
            Self::OneExtreme => "one-extreme",
            Self::Other => "other",
        }
    }

    /// The type named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The name as a column-name stem (`both_extremes`).
    pub fn column_stem(self) -> String {
        self.name().replace('-', "_")
    }
}

/// Type and strength of a positional curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// The type.
    pub kind: PositionalType,
    /// Strong (exact extremes, or a thin curve for `Other`) or weak.
    pub strong: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in PositionalType::ALL {
            assert_eq!(PositionalType::from_name(kind.name()), Some(kind));
        }
        for kind in [DetectorKind::Token, DetectorKind::Trigram] {
            assert_eq!(DetectorKind::from_name(kind.name()), Some(kind));
        }
        for order in Order::ALL {
            assert_eq!(Order::from_name(order.name()), Some(order));
        }
        assert_eq!(PositionalType::from_name("both_extremes"), None);
        assert_eq!(PositionalType::BothExtremes.column_stem(), "both_extremes");
    }
}
