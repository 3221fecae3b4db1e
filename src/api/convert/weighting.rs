//! Campaign weighting: population margins.

use super::*;

/// Level names allowed for the built-in dimensions; any for respondent attributes.
fn builtin_levels(dimension: &str) -> Option<Vec<&'static str>> {
    match dimension {
        "carrier" => Some(Carrier::ALL.iter().map(|c| c.name()).collect()),
        "channel" => Some(vec!["CHANNEL_VISIT", "CHANNEL_PHONE"]),
        _ => None,
    }
}

pub(super) fn weighting_from_proto(
    v: &mut Violations,
    w: &pb::Weighting,
) -> Option<Option<Weighting>> {
    let field = "campaign.weighting";
    let method = match pb::WeightingMethod::try_from(w.method) {
        Ok(pb::WeightingMethod::PostStratification) => Some(Method::PostStratification),
        Ok(pb::WeightingMethod::Raking) => Some(Method::Raking),
        _ => {
            v.add(
                format!("{field}.method"),
                "must be POST_STRATIFICATION or RAKING",
            );
            None
        }
    };
    if w.margins.is_empty() {
        v.add(format!("{field}.margins"), "must list at least one margin");
    }
    if method == Some(Method::PostStratification) && w.margins.len() > 1 {
        v.add(
            format!("{field}.margins"),
            "post-stratification takes one margin; use RAKING for several",
        );
    }
    let mut dimensions = HashSet::new();
    let mut margins = Vec::with_capacity(w.margins.len());
    for (i, m) in w.margins.iter().enumerate() {
        let mfield = format!("{field}.margins[{i}]");
        let dimension = v.check(format!("{mfield}.dimension"), Code::parse(&m.dimension));
        if !dimensions.insert(m.dimension.as_str()) {
            v.add(
                format!("{mfield}.dimension"),
                "duplicates another margin's dimension",
            );
        }
        let allowed = builtin_levels(&m.dimension);
        let mut shares = BTreeMap::new();
        for (j, level) in m.levels.iter().enumerate() {
            let lfield = format!("{mfield}.levels[{j}]");
            if level.value.trim().is_empty()
                || level.value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS
            {
                v.add(
                    format!("{lfield}.value"),
                    format!("must be 1 to {MAX_ATTRIBUTE_VALUE_CHARS} characters"),
                );
            } else if allowed
                .as_ref()
                .is_some_and(|a| !a.contains(&level.value.as_str()))
            {
                v.add(
                    format!("{lfield}.value"),
                    format!(
                        "must be one of {}",
                        allowed.as_deref().unwrap_or_default().join(", ")
                    ),
                );
            }
            if !(level.share.is_finite() && level.share > 0.0) {
                v.add(
                    format!("{lfield}.share"),
                    "must be a finite number greater than 0",
                );
            }
            if shares.insert(level.value.clone(), level.share).is_some() {
                v.add(format!("{lfield}.value"), "duplicates another level");
            }
        }
        let total: f64 = m.levels.iter().map(|l| l.share).sum();
        if m.levels.is_empty() || (total - 1.0).abs() > SHARE_SUM_TOLERANCE {
            v.add(format!("{mfield}.levels"), "shares must sum to 1");
        }
        if let Some(dimension) = dimension {
            margins.push(Margin {
                dimension: dimension.to_string(),
                shares,
            });
        }
    }
    Some(Some(Weighting {
        method: method?,
        margins,
    }))
}

pub(super) fn weighting_to_proto(w: &Weighting) -> pb::Weighting {
    pb::Weighting {
        method: match w.method {
            Method::PostStratification => pb::WeightingMethod::PostStratification,
            Method::Raking => pb::WeightingMethod::Raking,
        }
        .into(),
        margins: w
            .margins
            .iter()
            .map(|m| pb::Margin {
                dimension: m.dimension.clone(),
                levels: m
                    .shares
                    .iter()
                    .map(|(value, share)| pb::MarginLevel {
                        value: value.clone(),
                        share: *share,
                    })
                    .collect(),
            })
            .collect(),
    }
}
