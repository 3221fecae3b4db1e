//! Terminal output of the report subcommands: an aligned table for people, or the same rows as
//! JSON for scripts. comfy-table measures cells with `unicode-width`, so CJK names, two
//! columns wide in a terminal, stay aligned.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use serde::Serialize;

use crate::error::{Error, Result};

/// A table whose columns after the first `left` are right-aligned (figures).
pub fn table(header: &[&str], left: usize, rows: Vec<Vec<String>>) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    for index in left..header.len() {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Prints `rows` as pretty JSON (one array).
///
/// # Errors
/// INTERNAL if the rows cannot be serialized (they always can: plain data).
pub fn print_json<T: Serialize>(rows: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(rows).map_err(|e| Error::internal(format!("json: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Two decimals, or "-" when absent.
pub fn score(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// `[lower, upper]` with two decimals, or "-".
pub fn interval(lower: Option<f64>, upper: Option<f64>) -> String {
    match (lower, upper) {
        (Some(lower), Some(upper)) => format!("[{lower:.2}, {upper:.2}]"),
        _ => "-".into(),
    }
}

/// Four decimals (rates), or "-".
pub fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

/// A signed change with two decimals, or "-".
pub fn change(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:+.2}"))
}

/// A rank change as an arrow: ↑3 rose three places, ↓2 fell two, = kept its rank, "new" when
/// it was not ranked in the compared round.
pub fn rank_arrow(rank: Option<i32>, change: Option<i32>) -> String {
    match (rank, change) {
        (_, Some(c)) if c > 0 => format!("↑{c}"),
        (_, Some(c)) if c < 0 => format!("↓{}", -c),
        (_, Some(_)) => "=".into(),
        (Some(_), None) => "new".into(),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use unicode_width::UnicodeWidthStr;

    use super::*;

    #[test]
    fn chinese_names_keep_the_columns_aligned() {
        let rows = vec![
            vec!["1".into(), "东山办事处".into(), "88.41".into()],
            vec!["12".into(), "金石镇".into(), "7.00".into()],
            vec!["3".into(), "city-a".into(), "100.00".into()],
        ];
        let text = table(&["Rank", "Unit", "Score"], 2, rows).to_string();
        let widths: Vec<usize> = text.lines().map(UnicodeWidthStr::width).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{text}\n{widths:?}");
        assert!(text.contains("东山办事处"));
    }

    #[test]
    fn arrows_say_which_way_a_unit_moved() {
        assert_eq!(rank_arrow(Some(2), Some(13)), "↑13");
        assert_eq!(rank_arrow(Some(15), Some(-13)), "↓13");
        assert_eq!(rank_arrow(Some(1), Some(0)), "=");
        assert_eq!(rank_arrow(Some(4), None), "new");
        assert_eq!(rank_arrow(None, None), "");
    }
}
