//! `canvass import units FILE.csv` and `canvass import questionnaire FILE.json`: reference data
//! kept in spreadsheets and files, sent through `ImportUnits` and `CreateQuestionnaire`. The
//! server decides what is wrong; this side reads the file and points each problem the server
//! names (`units[12].parent_id`) at the line of the file it came from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Deserialize;

use super::client::{ClientArgs, remote_error};
use crate::domain::unit::UnitKind;
use crate::error::{Error, FieldViolation, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;

#[derive(clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Units from a CSV file with a header row: id, name, kind, parent_id, and optionally
    /// latitude, longitude, radius (metres). UTF-8, with or without a BOM; other columns are
    /// ignored. All units are imported or none; rerunning the same file changes nothing.
    Units {
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A questionnaire from a JSON file shaped like CreateQuestionnaire's `questionnaire`
    /// (see README.md).
    Questionnaire {
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn run(args: ImportArgs) -> Result<()> {
    match args.what {
        What::Units { file, client } => import_units(&file, &client).await,
        What::Questionnaire { file, client } => import_questionnaire(&file, &client).await,
    }
}

/// A unit read from the file, with where it came from.
struct Row {
    line: u64,
    unit: pb::Unit,
    /// The kind as written, when it named no kind.
    unknown_kind: Option<String>,
}

const KIND_NAMES: &str = "province, prefecture, county, city, township, subdistrict, village, \
     community, department";

/// A kind as a spreadsheet writes it: `village`, `VILLAGE` or `UNIT_KIND_VILLAGE`.
fn parse_kind(text: &str) -> Option<UnitKind> {
    let name = text.trim().to_ascii_lowercase().replace(['-', ' '], "");
    let name = name.strip_prefix("unit_kind_").unwrap_or(&name);
    UnitKind::ALL
        .into_iter()
        .find(|k| k.label().replace('-', "") == name)
}

fn kind_to_proto(kind: UnitKind) -> pb::UnitKind {
    match kind {
        UnitKind::Province => pb::UnitKind::Province,
        UnitKind::Prefecture => pb::UnitKind::Prefecture,
        UnitKind::County => pb::UnitKind::County,
        UnitKind::City => pb::UnitKind::City,
        UnitKind::Township => pb::UnitKind::Township,
        UnitKind::Subdistrict => pb::UnitKind::Subdistrict,
        UnitKind::Village => pb::UnitKind::Village,
        UnitKind::Community => pb::UnitKind::Community,
        UnitKind::Department => pb::UnitKind::Department,
    }
}

/// A number cell; text that is not a number becomes NaN, which the server names as out of
/// range in the same answer as every other problem.
fn number(cell: Option<&str>) -> Option<f64> {
    let text = cell?.trim();
    (!text.is_empty()).then(|| text.parse().unwrap_or(f64::NAN))
}

/// Reads the units of a CSV file.
///
/// # Errors
/// INVALID_ARGUMENT naming the line of a malformed record or a missing column.
fn read_units(path: &Path) -> Result<Vec<Row>> {
    let file_error =
        |e: &dyn std::fmt::Display| Error::invalid(path.display().to_string(), e.to_string());
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| file_error(&e))?;
    let header: HashMap<String, usize> = reader
        .headers()
        .map_err(|e| file_error(&e))?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase(),
                i,
            )
        })
        .collect();
    let missing: Vec<&str> = ["id", "name", "kind", "parent_id"]
        .into_iter()
        .filter(|c| !header.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            "line 1",
            format!(
                "the header row lacks the column(s) {}; it needs id, name, kind, parent_id and \
                 optionally latitude, longitude, radius",
                missing.join(", ")
            ),
        ));
    }
    let column = |name: &str| header.get(name).copied();
    let (latitude, longitude) = (column("latitude"), column("longitude"));
    let radius = column("radius").or_else(|| column("radius_meters"));
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| file_error(&e))?;
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim);
        let text = |name: &str| cell(column(name)).unwrap_or_default().to_owned();
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let kind_text = text("kind");
        let kind = parse_kind(&kind_text);
        let area = [latitude, longitude, radius]
            .iter()
            .any(|c| cell(*c).is_some_and(|t| !t.is_empty()))
            .then(|| pb::GeoArea {
                latitude: number(cell(latitude)).unwrap_or(f64::NAN),
                longitude: number(cell(longitude)).unwrap_or(f64::NAN),
                radius_meters: number(cell(radius)).unwrap_or(f64::NAN),
            });
        rows.push(Row {
            line,
            unknown_kind: kind.is_none().then_some(kind_text),
            unit: pb::Unit {
                id: text("id"),
                name: text("name"),
                kind: kind.map_or(pb::UnitKind::Unspecified, kind_to_proto).into(),
                parent_id: text("parent_id"),
                area,
                ..pb::Unit::default()
            },
        });
    }
    Ok(rows)
}

/// `units[12].parent_id` as the person editing the file needs it: `line 14, parent_id`.
fn at_line(violation: &FieldViolation, rows: &[Row]) -> FieldViolation {
    let place = violation
        .field
        .strip_prefix("units[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(index, field)| Some((index.parse::<usize>().ok()?, field)));
    let Some((index, field)) = place else {
        return violation.clone();
    };
    let Some(row) = rows.get(index) else {
        return violation.clone();
    };
    let column = field
        .trim_start_matches('.')
        .replace("area.", "")
        .replace("radius_meters", "radius");
    let mut description = lines_for_indices(&violation.description, rows);
    if column == "kind"
        && let Some(text) = &row.unknown_kind
    {
        description = format!("{text:?} is not a unit kind; use one of {KIND_NAMES}");
    }
    FieldViolation::new(format!("line {}, {column}", row.line), description)
}

/// `units[3]` in a description (a duplicate's first occurrence) as `line 5`.
fn lines_for_indices(description: &str, rows: &[Row]) -> String {
    let mut out = String::with_capacity(description.len());
    let mut rest = description;
    while let Some(at) = rest.find("units[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "units[".len()..];
        match after
            .split_once(']')
            .and_then(|(n, tail)| Some((rows.get(n.parse::<usize>().ok()?)?, tail)))
        {
            Some((row, tail)) => {
                out.push_str(&format!("line {}", row.line));
                rest = tail;
            }
            None => {
                out.push_str("units[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

async fn import_units(path: &Path, client: &ClientArgs) -> Result<()> {
    let rows = read_units(path)?;
    let mut catalog = CatalogServiceClient::new(client.connect().await?);
    let request = pb::ImportUnitsRequest {
        units: rows.iter().map(|r| r.unit.clone()).collect(),
    };
    match catalog.import_units(request).await {
        Ok(reply) => {
            let reply = reply.into_inner();
            println!(
                "imported {}: {} units created, {} already present",
                path.display(),
                reply.created_count,
                reply.unchanged_count
            );
            Ok(())
        }
        Err(status) => Err(match remote_error(&status) {
            Error::InvalidArgument(violations) => {
                let mut lines: Vec<FieldViolation> =
                    violations.iter().map(|v| at_line(v, &rows)).collect();
                lines.sort_by_key(|v| line_of(&v.field));
                for v in &lines {
                    eprintln!("{}: {}: {}", path.display(), v.field, v.description);
                }
                Error::invalid(
                    path.display().to_string(),
                    format!(
                        "{} problem(s), listed above; nothing was imported",
                        lines.len()
                    ),
                )
            }
            other => other,
        }),
    }
}

fn line_of(field: &str) -> u64 {
    field
        .strip_prefix("line ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The questionnaire file: CreateQuestionnaire's `questionnaire`, with option kinds written
/// `scored`, `dont_know` or `refused`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionnaireFile {
    id: String,
    name: String,
    indicators: Vec<IndicatorFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorFile {
    code: String,
    text: String,
    weight: f64,
    options: Vec<OptionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionFile {
    code: String,
    label: String,
    #[serde(default = "scored")]
    kind: OptionKindFile,
    #[serde(default)]
    points: u32,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum OptionKindFile {
    Scored,
    DontKnow,
    Refused,
}

fn scored() -> OptionKindFile {
    OptionKindFile::Scored
}

impl From<QuestionnaireFile> for pb::Questionnaire {
    fn from(q: QuestionnaireFile) -> Self {
        pb::Questionnaire {
            id: q.id,
            name: q.name,
            create_time: None,
            indicators: q
                .indicators
                .into_iter()
                .map(|i| pb::Indicator {
                    code: i.code,
                    text: i.text,
                    weight: i.weight,
                    options: i
                        .options
                        .into_iter()
                        .map(|o| pb::AnswerOption {
                            code: o.code,
                            label: o.label,
                            kind: match o.kind {
                                OptionKindFile::Scored => pb::OptionKind::Scored,
                                OptionKindFile::DontKnow => pb::OptionKind::DontKnow,
                                OptionKindFile::Refused => pb::OptionKind::Refused,
                            }
                            .into(),
                            points: o.points,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

async fn import_questionnaire(path: &Path, client: &ClientArgs) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
    let file: QuestionnaireFile = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
    let mut catalog = CatalogServiceClient::new(client.connect().await?);
    let created = catalog
        .create_questionnaire(pb::CreateQuestionnaireRequest {
            questionnaire: Some(file.into()),
        })
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
    println!(
        "created questionnaire {} with {} indicators",
        created.id,
        created.indicators.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_as_spreadsheets_write_them() {
        assert_eq!(parse_kind("village"), Some(UnitKind::Village));
        assert_eq!(parse_kind(" VILLAGE "), Some(UnitKind::Village));
        assert_eq!(
            parse_kind("UNIT_KIND_SUBDISTRICT"),
            Some(UnitKind::Subdistrict)
        );
        assert_eq!(parse_kind("sub-district"), Some(UnitKind::Subdistrict));
        assert_eq!(parse_kind("vilage"), None);
    }
}
