//! How figures read on the pages: scores with two decimals (as leaders' reports print them),
//! changes with their sign, Chinese labels for unit kinds and carriers.

use crate::domain::channel::Carrier;
use crate::domain::unit::UnitKind;

/// A score such as `76.09`, or a dash when there is none.
pub fn score(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.2}"))
}

/// A change such as `+2.52` or `−1.18`, or a dash.
pub fn change(value: Option<f64>) -> String {
    match value {
        Some(v) if v > 0.0 => format!("+{v:.2}"),
        Some(v) if v < 0.0 => format!("−{:.2}", -v),
        Some(_) => "±0.00".into(),
        None => "–".into(),
    }
}

/// A share such as `63.5%`, or a dash.
pub fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{:.1}%", v * 100.0))
}

/// An interval such as `[74.10, 78.08]`, or a dash.
pub fn interval(value: Option<(f64, f64)>) -> String {
    value.map_or_else(|| "–".into(), |(lo, hi)| format!("[{lo:.2}, {hi:.2}]"))
}

/// An indicator's short name: its text before the first colon ("安全感受:您对本地的安全感受
///如何?" reads "安全感受"), or the whole text.
pub fn short_label(text: &str) -> &str {
    text.split(['：', ':'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(text)
}

pub fn kind_label(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Province => "省",
        UnitKind::Prefecture => "地级市",
        UnitKind::County => "县(市、区)",
        UnitKind::City => "市",
        UnitKind::Township => "乡镇",
        UnitKind::Subdistrict => "街道(办事处)",
        UnitKind::Village => "村",
        UnitKind::Community => "社区",
        UnitKind::Department => "市直单位",
    }
}

pub fn carrier_label(carrier: Carrier) -> &'static str {
    match carrier {
        Carrier::ChinaMobile => "中国移动",
        Carrier::ChinaTelecom => "中国电信",
        Carrier::ChinaUnicom => "中国联通",
        Carrier::ChinaBroadnet => "中国广电",
        Carrier::Other => "其他",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_carry_their_sign() {
        assert_eq!(change(Some(2.524)), "+2.52");
        assert_eq!(change(Some(-1.18)), "−1.18");
        assert_eq!(change(Some(0.0)), "±0.00");
        assert_eq!(change(None), "–");
        assert_eq!(score(Some(76.094)), "76.09");
        assert_eq!(percent(Some(0.635)), "63.5%");
        assert_eq!(interval(Some((1.0, 2.5))), "[1.00, 2.50]");
        assert_eq!(
            short_label("安全感受：您对本地的安全感受如何？"),
            "安全感受"
        );
        assert_eq!(short_label("知晓率"), "知晓率");
    }
}
