//! The flat table an export writes, whatever the file format: one row per submission (or call
//! attempt), metadata columns first, then one column per indicator in questionnaire order.

use std::collections::HashMap;

use crate::domain::time::Timestamp;
use crate::proto::v1 as pb;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Float,
    /// An instant, UTC.
    Time,
    /// An indicator's answer: points, or don't know / refused.
    Answer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

/// An indicator's answer as exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Points(u32),
    DontKnow,
    Refused,
}

/// The CSV codes of answers that count in no score.
pub const DONT_KNOW: &str = "DK";
pub const REFUSED: &str = "RF";

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Float(f64),
    /// Microseconds since the Unix epoch.
    Time(i64),
    Answer(Answer),
}

fn column(name: &str, kind: Kind) -> Column {
    Column {
        name: name.into(),
        kind,
    }
}

/// The columns every row's unit fills.
fn unit_columns() -> Vec<Column> {
    [
        "unit_id",
        "unit_name",
        "unit_kind",
        "ancestor_ids",
        "ancestor_names",
    ]
    .into_iter()
    .map(|c| column(c, Kind::Text))
    .collect()
}

/// An enum's wire name without its prefix, lower-case: `CHANNEL_VISIT` -> `visit`.
fn enum_text(name: &str, prefix: &str) -> Cell {
    match name.strip_prefix(prefix) {
        Some("UNSPECIFIED") | None => Cell::Null,
        Some(rest) => Cell::Text(rest.to_ascii_lowercase()),
    }
}

fn text(value: &str) -> Cell {
    if value.is_empty() {
        Cell::Null
    } else {
        Cell::Text(value.to_owned())
    }
}

fn time(value: Option<&prost_types::Timestamp>) -> Cell {
    value
        .and_then(|t| Timestamp::from_parts(t.seconds, t.nanos).ok())
        .map_or(Cell::Null, |t| Cell::Time(t.as_micros()))
}

fn unit_cells(unit: Option<&pb::UnitLabel>, ancestors: &[pb::UnitLabel]) -> Vec<Cell> {
    let unit = unit.cloned().unwrap_or_default();
    let joined = |f: fn(&pb::UnitLabel) -> &str| {
        text(&ancestors.iter().map(f).collect::<Vec<_>>().join("/"))
    };
    vec![
        text(&unit.id),
        text(&unit.name),
        enum_text(unit.kind().as_str_name(), "UNIT_KIND_"),
        joined(|a| a.id.as_str()),
        joined(|a| a.name.as_str()),
    ]
}

/// An indicator's column is named by its code, unless a metadata column has that name: then
/// `answer:<code>`, which no code can spell (codes hold no colon), so every name stays unique.
fn answer_column_name(code: &str, metadata: &[Column]) -> String {
    if metadata.iter().any(|c| c.name == code) {
        format!("answer:{code}")
    } else {
        code.to_owned()
    }
}

/// Submissions: metadata, then one answer column per indicator.
pub struct SubmissionTable {
    pub columns: Vec<Column>,
    campaign_id: String,
    indicator_at: HashMap<String, usize>,
}

impl SubmissionTable {
    pub fn new(campaign_id: &str, questionnaire: &pb::Questionnaire) -> Self {
        let mut columns = vec![
            column("submission_id", Kind::Text),
            column("campaign_id", Kind::Text),
        ];
        columns.extend(unit_columns());
        for name in ["channel", "carrier", "review_state", "quality_flags"] {
            columns.push(column(name, Kind::Text));
        }
        for name in ["start_time", "end_time", "accept_time"] {
            columns.push(column(name, Kind::Time));
        }
        for name in ["latitude", "longitude", "accuracy_meters"] {
            columns.push(column(name, Kind::Float));
        }
        columns.push(column("submitted_by", Kind::Text));
        columns.push(column("respondent_hash", Kind::Text));
        let first = columns.len();
        let mut indicator_at = HashMap::new();
        for (i, indicator) in questionnaire.indicators.iter().enumerate() {
            indicator_at.insert(indicator.code.clone(), first + i);
            let name = answer_column_name(&indicator.code, &columns[..first]);
            columns.push(column(&name, Kind::Answer));
        }
        Self {
            columns,
            campaign_id: campaign_id.to_owned(),
            indicator_at,
        }
    }

    pub fn row(&self, s: &pb::ExportedSubmission) -> Vec<Cell> {
        let mut row = vec![text(&s.submission_id), text(&self.campaign_id)];
        row.extend(unit_cells(s.unit.as_ref(), &s.ancestors));
        row.push(enum_text(s.channel().as_str_name(), "CHANNEL_"));
        row.push(enum_text(s.carrier().as_str_name(), "CARRIER_"));
        row.push(enum_text(s.review_state().as_str_name(), "REVIEW_STATE_"));
        let flags: Vec<String> = s
            .quality_flags()
            .map(|f| {
                f.as_str_name()
                    .trim_start_matches("QUALITY_FLAG_")
                    .to_ascii_lowercase()
            })
            .collect();
        row.push(text(&flags.join(";")));
        row.push(time(s.start_time.as_ref()));
        row.push(time(s.end_time.as_ref()));
        row.push(time(s.accept_time.as_ref()));
        match &s.location {
            Some(l) => row.extend([
                Cell::Float(l.latitude),
                Cell::Float(l.longitude),
                Cell::Float(l.accuracy_meters),
            ]),
            None => row.extend([Cell::Null, Cell::Null, Cell::Null]),
        }
        row.push(text(&s.submitted_by));
        row.push(text(&s.respondent_hash));
        row.resize(self.columns.len(), Cell::Null);
        for a in &s.answers {
            let Some(&at) = self.indicator_at.get(&a.indicator_code) else {
                continue;
            };
            row[at] = Cell::Answer(match a.option_kind() {
                pb::OptionKind::DontKnow => Answer::DontKnow,
                pb::OptionKind::Refused => Answer::Refused,
                _ => Answer::Points(a.points),
            });
        }
        row
    }
}

/// Call attempts: one row per attempt.
pub struct AttemptTable {
    pub columns: Vec<Column>,
    campaign_id: String,
}

impl AttemptTable {
    pub fn new(campaign_id: &str) -> Self {
        let mut columns = vec![
            column("attempt_id", Kind::Text),
            column("campaign_id", Kind::Text),
        ];
        columns.extend(unit_columns());
        columns.push(column("carrier", Kind::Text));
        columns.push(column("disposition", Kind::Text));
        columns.push(column("attempt_time", Kind::Time));
        columns.push(column("accept_time", Kind::Time));
        columns.push(column("submitted_by", Kind::Text));
        columns.push(column("respondent_hash", Kind::Text));
        Self {
            columns,
            campaign_id: campaign_id.to_owned(),
        }
    }

    pub fn row(&self, a: &pb::ExportedCallAttempt) -> Vec<Cell> {
        let mut row = vec![text(&a.attempt_id), text(&self.campaign_id)];
        row.extend(unit_cells(a.unit.as_ref(), &a.ancestors));
        row.push(enum_text(a.carrier().as_str_name(), "CARRIER_"));
        row.push(enum_text(
            a.disposition().as_str_name(),
            "CALL_DISPOSITION_",
        ));
        row.push(time(a.attempt_time.as_ref()));
        row.push(time(a.accept_time.as_ref()));
        row.push(text(&a.submitted_by));
        row.push(text(&a.respondent_hash));
        row
    }
}

/// `2026-11-28 02:09:00` (UTC), with microseconds when there are any: a form Excel, R, Stata
/// and SPSS all read as a date and time.
pub fn format_time(micros: i64) -> String {
    let t = Timestamp::from_micros(micros).to_offset_date_time();
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.microsecond() != 0 {
        out.push_str(&format!(".{:06}", t.microsecond()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_spreadsheets_expect_them() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(
            format_time(1_764_295_740_000_123),
            "2025-11-28 02:09:00.000123"
        );
    }

    #[test]
    fn an_indicator_named_like_a_metadata_column_gets_a_column_of_its_own() {
        let questionnaire = pb::Questionnaire {
            indicators: ["channel", "security"]
                .map(|c| pb::Indicator {
                    code: c.into(),
                    ..Default::default()
                })
                .to_vec(),
            ..Default::default()
        };
        let table = SubmissionTable::new("c1", &questionnaire);
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(names[names.len() - 2..], ["answer:channel", "security"]);
    }

    #[test]
    fn answers_land_in_their_indicators_columns() {
        let questionnaire = pb::Questionnaire {
            indicators: ["security", "police"]
                .map(|c| pb::Indicator {
                    code: c.into(),
                    ..Default::default()
                })
                .to_vec(),
            ..Default::default()
        };
        let table = SubmissionTable::new("c1", &questionnaire);
        let row = table.row(&pb::ExportedSubmission {
            submission_id: "s".into(),
            channel: pb::Channel::Phone.into(),
            carrier: pb::Carrier::ChinaMobile.into(),
            answers: vec![pb::ExportedAnswer {
                indicator_code: "police".into(),
                option_code: "dk".into(),
                option_kind: pb::OptionKind::DontKnow.into(),
                points: 0,
            }],
            ..Default::default()
        });
        assert_eq!(row.len(), table.columns.len());
        let at = |name: &str| table.columns.iter().position(|c| c.name == name).unwrap();
        assert_eq!(row[at("security")], Cell::Null);
        assert_eq!(row[at("police")], Cell::Answer(Answer::DontKnow));
        assert_eq!(row[at("carrier")], Cell::Text("china_mobile".into()));
        assert_eq!(row[at("channel")], Cell::Text("phone".into()));
    }
}
