//! Charts as SVG, drawn in Rust: a linear scale, the points of a line, interval bars. The
//! geometry is plain functions, unit-tested; the markup only places what they compute. Colours
//! and fonts come from the stylesheet through class names, so the Content-Security-Policy can
//! forbid inline styles.

use maud::{Markup, html};

/// A linear map from a domain of values onto a range of pixels. Values outside the domain
/// are clamped to its ends, so a stray value never draws outside its chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Self {
        Self { domain, range }
    }

    pub fn map(&self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if d1 == d0 {
            return (r0 + r1) / 2.0;
        }
        let t = ((value - d0) / (d1 - d0)).clamp(0.0, 1.0);
        r0 + t * (r1 - r0)
    }

    /// Evenly spaced round values across the domain, for axis labels.
    pub fn ticks(&self, step: f64) -> Vec<f64> {
        let (d0, d1) = (
            self.domain.0.min(self.domain.1),
            self.domain.0.max(self.domain.1),
        );
        let mut tick = (d0 / step).ceil() * step;
        let mut ticks = Vec::new();
        while tick <= d1 + 1e-9 {
            ticks.push(tick);
            tick += step;
        }
        ticks
    }
}

/// A domain for scores (0–100) that holds every value with a little room, rounded out to
/// multiples of 5 and at least 10 wide, so that small differences stay visible without
/// exaggerating them.
pub fn score_domain(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 100.0);
    }
    let mut lo = ((lo - 1.0) / 5.0).floor() * 5.0;
    let mut hi = ((hi + 1.0) / 5.0).ceil() * 5.0;
    if hi - lo < 10.0 {
        let grow = (10.0 - (hi - lo)) / 2.0;
        lo -= grow;
        hi += grow;
    }
    (lo.max(0.0), hi.min(100.0))
}

/// The `points` attributes of a line through `values`, one per unbroken run: a missing value
/// breaks the line rather than joining its neighbours across the gap. Value `i` sits at
/// `x.map(i)`.
pub fn polyline_points(values: &[Option<f64>], x: &Scale, y: &Scale) -> Vec<String> {
    let mut runs = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => run.push(format!("{:.1},{:.1}", x.map(i as f64), y.map(*v))),
            None if !run.is_empty() => runs.push(std::mem::take(&mut run).join(" ")),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run.join(" "));
    }
    runs
}

/// The pixel span of an interval on `scale`, left end first, at least `min_width` wide so a
/// narrow interval stays visible.
pub fn interval_span(interval: (f64, f64), scale: &Scale, min_width: f64) -> (f64, f64) {
    let (a, b) = (scale.map(interval.0), scale.map(interval.1));
    let (left, right) = (a.min(b), a.max(b));
    if right - left >= min_width {
        (left, right)
    } else {
        let mid = (left + right) / 2.0;
        (mid - min_width / 2.0, mid + min_width / 2.0)
    }
}

const BAR_WIDTH: f64 = 160.0;
const BAR_HEIGHT: f64 = 16.0;

/// A score's interval as a bar with the score as a dot, on a domain shared by a whole table.
pub fn interval_bar(
    value: Option<f64>,
    interval: Option<(f64, f64)>,
    domain: (f64, f64),
) -> Markup {
    let scale = Scale::new(domain, (4.0, BAR_WIDTH - 4.0));
    let mid = BAR_HEIGHT / 2.0;
    html! {
        svg.interval width=(BAR_WIDTH) height=(BAR_HEIGHT) viewBox={"0 0 " (BAR_WIDTH) " " (BAR_HEIGHT)}
            role="img" aria-label="置信区间" {
            line.axis x1="4" x2=(BAR_WIDTH - 4.0) y1=(mid) y2=(mid) {}
            @if let Some(ci) = interval {
                @let (left, right) = interval_span(ci, &scale, 2.0);
                rect.ci x=(fmt(left)) y=(mid - 4.0) width=(fmt(right - left)) height="8" rx="2" {}
            }
            @if let Some(v) = value {
                circle.point cx=(fmt(scale.map(v))) cy=(mid) r="3.5" {}
            }
        }
    }
}

/// One row of an indicator chart: the unit's score with its interval, and its peers' median.
pub struct IndicatorRow {
    pub label: String,
    pub value: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub peer_median: Option<f64>,
}

const CHART_WIDTH: f64 = 640.0;
const LABEL_WIDTH: f64 = 210.0;
const ROW_HEIGHT: f64 = 28.0;

/// Each indicator as a dot with its interval, beside a tick at its peers' median.
pub fn indicator_chart(rows: &[IndicatorRow]) -> Markup {
    let domain = score_domain(rows.iter().flat_map(|r| {
        [
            r.value,
            r.peer_median,
            r.interval.map(|i| i.0),
            r.interval.map(|i| i.1),
        ]
        .into_iter()
        .flatten()
    }));
    let scale = Scale::new(domain, (LABEL_WIDTH, CHART_WIDTH - 20.0));
    let height = ROW_HEIGHT * rows.len() as f64 + 30.0;
    html! {
        svg.chart.indicators width=(CHART_WIDTH) height=(fmt(height))
            viewBox={"0 0 " (CHART_WIDTH) " " (fmt(height))} role="img" aria-label="各项指标与同类单位中位数" {
            @for tick in scale.ticks(5.0) {
                line.grid x1=(fmt(scale.map(tick))) x2=(fmt(scale.map(tick))) y1="0" y2=(fmt(height - 20.0)) {}
                text.tick x=(fmt(scale.map(tick))) y=(fmt(height - 6.0)) text-anchor="middle" { (tick) }
            }
            @for (i, row) in rows.iter().enumerate() {
                @let y = ROW_HEIGHT * i as f64 + ROW_HEIGHT / 2.0;
                text.label x=(LABEL_WIDTH - 8.0) y=(fmt(y + 4.0)) text-anchor="end" { (row.label) }
                @if let Some(ci) = row.interval {
                    @let (left, right) = interval_span(ci, &scale, 2.0);
                    rect.ci x=(fmt(left)) y=(fmt(y - 4.0)) width=(fmt(right - left)) height="8" rx="2" {}
                }
                @if let Some(m) = row.peer_median {
                    line.median x1=(fmt(scale.map(m))) x2=(fmt(scale.map(m))) y1=(fmt(y - 9.0)) y2=(fmt(y + 9.0)) {}
                }
                @if let Some(v) = row.value {
                    circle.point cx=(fmt(scale.map(v))) cy=(fmt(y)) r="5" {}
                }
            }
        }
    }
}

/// One campaign of a history chart.
pub struct HistoryPoint {
    pub label: String,
    pub value: Option<f64>,
    pub interval: Option<(f64, f64)>,
}

const LINE_HEIGHT: f64 = 240.0;
const MARGIN: f64 = 40.0;

/// A unit's composite over campaigns (oldest left) as a line, each point with its interval.
pub fn line_chart(points: &[HistoryPoint]) -> Markup {
    let domain = score_domain(points.iter().flat_map(|p| {
        [p.value, p.interval.map(|i| i.0), p.interval.map(|i| i.1)]
            .into_iter()
            .flatten()
    }));
    let last = points.len().saturating_sub(1).max(1) as f64;
    let x = Scale::new((0.0, last), (MARGIN + 20.0, CHART_WIDTH - MARGIN));
    let y = Scale::new(domain, (LINE_HEIGHT - MARGIN, 16.0));
    let values: Vec<Option<f64>> = points.iter().map(|p| p.value).collect();
    html! {
        svg.chart.history width=(CHART_WIDTH) height=(LINE_HEIGHT)
            viewBox={"0 0 " (CHART_WIDTH) " " (LINE_HEIGHT)} role="img" aria-label="历次综合得分" {
            @for tick in y.ticks(5.0) {
                line.grid x1=(MARGIN) x2=(CHART_WIDTH - MARGIN) y1=(fmt(y.map(tick))) y2=(fmt(y.map(tick))) {}
                text.tick x=(MARGIN - 4.0) y=(fmt(y.map(tick) + 4.0)) text-anchor="end" { (tick) }
            }
            @for run in polyline_points(&values, &x, &y) {
                polyline.line points=(run) {}
            }
            @for (i, point) in points.iter().enumerate() {
                @let px = x.map(i as f64);
                @if let Some((lo, hi)) = point.interval {
                    line.whisker x1=(fmt(px)) x2=(fmt(px)) y1=(fmt(y.map(lo))) y2=(fmt(y.map(hi))) {}
                }
                @if let Some(v) = point.value {
                    circle.point cx=(fmt(px)) cy=(fmt(y.map(v))) r="4" {}
                    text.value x=(fmt(px + 8.0)) y=(fmt(y.map(v) - 6.0)) { (format!("{v:.2}")) }
                }
                @let anchor = if points.len() > 1 && i == 0 { "start" } else if points.len() > 1 && i + 1 == points.len() { "end" } else { "middle" };
                text.tick x=(fmt(px)) y=(fmt(LINE_HEIGHT - 14.0)) text-anchor=(anchor) { (point.label) }
            }
        }
    }
}

/// One bar: a label, its value and the note printed after the value (its change).
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
    pub note: String,
}

/// Horizontal bars on an axis with its ticks, one per labelled value.
pub fn bar_chart(rows: &[Bar]) -> Markup {
    let domain = score_domain(rows.iter().filter_map(|r| r.value));
    let scale = Scale::new(domain, (LABEL_WIDTH, CHART_WIDTH - 110.0));
    let height = ROW_HEIGHT * rows.len() as f64 + 30.0;
    html! {
        svg.chart.bars width=(CHART_WIDTH) height=(fmt(height))
            viewBox={"0 0 " (CHART_WIDTH) " " (fmt(height))} role="img" aria-label="各项指标得分" {
            @for tick in scale.ticks(5.0) {
                line.grid x1=(fmt(scale.map(tick))) x2=(fmt(scale.map(tick))) y1="0" y2=(fmt(height - 20.0)) {}
                text.tick x=(fmt(scale.map(tick))) y=(fmt(height - 6.0)) text-anchor="middle" { (tick) }
            }
            @for (i, bar) in rows.iter().enumerate() {
                @let y = ROW_HEIGHT * i as f64 + 4.0;
                text.label x=(LABEL_WIDTH - 8.0) y=(fmt(y + 15.0)) text-anchor="end" { (bar.label) }
                @if let Some(v) = bar.value {
                    rect.bar x=(LABEL_WIDTH) y=(fmt(y + 3.0)) width=(fmt(scale.map(v) - LABEL_WIDTH)) height="16" {}
                    text.value x=(fmt(scale.map(v) + 6.0)) y=(fmt(y + 15.0)) {
                        (format!("{v:.2}")) " " (bar.note)
                    }
                }
            }
        }
    }
}

/// Coordinates with one decimal: enough for a screen, short in the page.
fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_maps_its_domain_onto_its_range_and_clamps() {
        let s = Scale::new((60.0, 80.0), (0.0, 200.0));
        assert_eq!(s.map(60.0), 0.0);
        assert_eq!(s.map(70.0), 100.0);
        assert_eq!(s.map(80.0), 200.0);
        assert_eq!(s.map(10.0), 0.0);
        assert_eq!(s.map(99.0), 200.0);
        // An inverted range, as a y axis has.
        let y = Scale::new((0.0, 100.0), (200.0, 0.0));
        assert_eq!(y.map(25.0), 150.0);
        assert_eq!(Scale::new((5.0, 5.0), (0.0, 10.0)).map(5.0), 5.0);
        assert_eq!(s.ticks(5.0), [60.0, 65.0, 70.0, 75.0, 80.0]);
    }

    #[test]
    fn a_score_domain_holds_every_value_in_round_steps() {
        assert_eq!(score_domain([72.3, 81.9]), (70.0, 85.0));
        assert_eq!(score_domain([]), (0.0, 100.0));
        // At least ten wide, and never beyond 0–100.
        assert_eq!(score_domain([75.0]), (70.0, 80.0));
        assert_eq!(score_domain([99.5]), (95.0, 100.0));
        assert_eq!(score_domain([f64::NAN, 50.0]), (45.0, 55.0));
    }

    #[test]
    fn a_line_breaks_at_missing_values() {
        let x = Scale::new((0.0, 4.0), (0.0, 40.0));
        let y = Scale::new((0.0, 100.0), (100.0, 0.0));
        let runs = polyline_points(
            &[Some(50.0), Some(60.0), None, Some(70.0), Some(80.0)],
            &x,
            &y,
        );
        assert_eq!(runs, ["0.0,50.0 10.0,40.0", "30.0,30.0 40.0,20.0"]);
        assert!(polyline_points(&[None, None], &x, &y).is_empty());
    }

    #[test]
    fn an_interval_span_is_ordered_and_never_thinner_than_asked() {
        let s = Scale::new((0.0, 100.0), (0.0, 100.0));
        assert_eq!(interval_span((40.0, 60.0), &s, 2.0), (40.0, 60.0));
        assert_eq!(interval_span((60.0, 40.0), &s, 2.0), (40.0, 60.0));
        assert_eq!(interval_span((50.0, 50.2), &s, 2.0), (49.1, 51.1));
    }

    #[test]
    fn the_charts_place_their_marks_where_the_scales_say() {
        let bar = interval_bar(Some(75.0), Some((70.0, 80.0)), (70.0, 80.0)).into_string();
        // The dot sits mid-way; the bar spans the whole axis.
        assert!(bar.contains(r#"cx="80.0""#), "{bar}");
        assert!(
            bar.contains(r#"x="4.0""#) && bar.contains(r#"width="152.0""#),
            "{bar}"
        );
        let chart = line_chart(&[
            HistoryPoint {
                label: "一".into(),
                value: Some(70.0),
                interval: None,
            },
            HistoryPoint {
                label: "二".into(),
                value: Some(80.0),
                interval: Some((78.0, 82.0)),
            },
        ])
        .into_string();
        assert_eq!(chart.matches("<polyline").count(), 1, "{chart}");
        assert_eq!(chart.matches("<circle").count(), 2, "{chart}");
        assert!(chart.contains("二"), "{chart}");
    }
}
