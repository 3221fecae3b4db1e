//! Questionnaires: indicators, their weights and the points of each answer option.

use super::ids::{Code, QuestionnaireId};
use super::time::Timestamp;

/// How an answer option counts: with points on the 0-100 scale, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionValue {
    Points(u8),
    DontKnow,
    Refused,
}

impl OptionValue {
    /// The points the option contributes to a score; `None` for answers that count in no score.
    pub fn points(self) -> Option<u8> {
        match self {
            Self::Points(points) => Some(points),
            Self::DontKnow | Self::Refused => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnswerOption {
    pub code: Code,
    pub label: String,
    pub value: OptionValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub code: Code,
    pub text: String,
    /// Positive and finite (validated at the boundary).
    pub weight: f64,
    pub options: Vec<AnswerOption>,
}

impl Indicator {
    pub fn option(&self, code: &str) -> Option<&AnswerOption> {
        self.options.iter().find(|o| o.code.as_str() == code)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Questionnaire {
    pub id: QuestionnaireId,
    pub name: String,
    pub indicators: Vec<Indicator>,
    pub created_at: Timestamp,
}

impl Questionnaire {
    pub fn indicator(&self, code: &str) -> Option<&Indicator> {
        self.positioned(code).map(|(_, indicator)| indicator)
    }

    /// The indicator with its place in the questionnaire.
    pub fn positioned(&self, code: &str) -> Option<(usize, &Indicator)> {
        self.indicators
            .iter()
            .enumerate()
            .find(|(_, i)| i.code.as_str() == code)
    }
}

/// Parses an indicator weight: finite and strictly positive.
pub fn parse_weight(weight: f64) -> Result<f64, String> {
    if weight.is_finite() && weight > 0.0 {
        Ok(weight)
    } else {
        Err("must be a finite number greater than 0".into())
    }
}

/// Parses option points: a whole number from 0 to 100.
pub fn parse_points(points: u32) -> Result<u8, String> {
    u8::try_from(points)
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| "must be between 0 and 100".into())
}
