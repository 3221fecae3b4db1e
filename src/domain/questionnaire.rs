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

    /// The fewest points an answer needs to be one of the indicator's top three options: an
    /// option is in the top three when fewer than three options score more. `None` with three
    /// or fewer scored options, where every valid answer would be "top three".
    pub fn top_three_floor(&self) -> Option<u8> {
        // The three highest points, repeats included, in descending order. No allocation: a
        // ranking asks this of every indicator of every unit it scores.
        let mut highest = [None::<u8>; 3];
        let mut scored = 0;
        for points in self.options.iter().filter_map(|o| o.value.points()) {
            scored += 1;
            let mut carried = Some(points);
            for slot in &mut highest {
                if carried > *slot {
                    std::mem::swap(slot, &mut carried);
                }
            }
        }
        if scored > 3 { highest[2] } else { None }
    }

    /// Whether an answer with `points` chose one of the top three options (DOMAIN.md: the share
    /// satisfied).
    pub fn is_top_three(&self, points: Option<u8>) -> bool {
        matches!((points, self.top_three_floor()), (Some(p), Some(floor)) if p >= floor)
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

    /// Questionnaire "q" of unscored indicators `codes`, weighing 1 each, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(codes: &[&str]) -> Self {
        Self {
            id: QuestionnaireId::parse("q").unwrap(),
            name: "q".into(),
            indicators: codes
                .iter()
                .map(|code| Indicator {
                    code: Code::parse(code).unwrap(),
                    text: String::new(),
                    weight: 1.0,
                    options: Vec::new(),
                })
                .collect(),
            created_at: Timestamp::from_micros(0),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn indicator(values: &[OptionValue]) -> Indicator {
        Indicator {
            code: Code::parse("security").unwrap(),
            text: "安全感受".into(),
            weight: 1.0,
            options: values
                .iter()
                .enumerate()
                .map(|(i, value)| AnswerOption {
                    code: Code::parse(&format!("o{i}")).unwrap(),
                    label: String::new(),
                    value: *value,
                })
                .collect(),
        }
    }

    #[test]
    fn top_three_are_the_three_best_scoring_options() {
        use OptionValue::{DontKnow, Points, Refused};
        // DOMAIN.md worked example 1: 100/80/50/20/0 and "don't know".
        let five = indicator(&[
            Points(0),
            Points(100),
            DontKnow,
            Points(50),
            Points(80),
            Points(20),
        ]);
        assert_eq!(five.top_three_floor(), Some(50));
        assert!(five.is_top_three(Some(100)) && five.is_top_three(Some(50)));
        assert!(!five.is_top_three(Some(20)) && !five.is_top_three(None));
        // Ties share a place: 100, 80, 80 are the top three, and so is another 80.
        let tied = indicator(&[Points(80), Points(0), Points(80), Points(100), Points(80)]);
        assert_eq!(tied.top_three_floor(), Some(80));
        let top_tied = indicator(&[
            Points(20),
            Points(100),
            Points(60),
            Points(100),
            Points(100),
        ]);
        assert_eq!(top_tied.top_three_floor(), Some(100));
        assert!(!top_tied.is_top_three(Some(60)));
        // Three or fewer scored options: every valid answer would count, so none is reported.
        let yes_no = indicator(&[Points(100), Points(0), DontKnow, Refused]);
        assert_eq!(yes_no.top_three_floor(), None);
        assert!(!yes_no.is_top_three(Some(100)));
    }
}
