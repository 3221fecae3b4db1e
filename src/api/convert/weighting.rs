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
        // A margin gives every level a share, or every level a population.
        let by_population = m.levels.iter().any(|l| l.population != 0.0);
        let mut amounts = BTreeMap::new();
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
            let (amount, name) = if by_population {
                if level.share != 0.0 {
                    v.add(
                        format!("{lfield}.share"),
                        "must be unset when the margin's levels give populations",
                    );
                }
                (level.population, "population")
            } else {
                (level.share, "share")
            };
            if !(amount.is_finite() && amount > 0.0) {
                v.add(
                    format!("{lfield}.{name}"),
                    "must be a finite number greater than 0",
                );
            }
            if amounts.insert(level.value.clone(), amount).is_some() {
                v.add(format!("{lfield}.value"), "duplicates another level");
            }
        }
        if m.levels.is_empty() {
            v.add(format!("{mfield}.levels"), "must list at least one level");
        }
        let total: f64 = amounts.values().sum();
        let shares = if by_population {
            // Each population is finite (or refused above); their sum may still overflow.
            if !total.is_finite() && amounts.values().all(|a| a.is_finite()) {
                v.add(
                    format!("{mfield}.levels"),
                    "populations must sum to a finite number",
                );
            }
            shares_of_populations(&amounts)
        } else {
            if !m.levels.is_empty() && (total - 1.0).abs() > SHARE_SUM_TOLERANCE {
                v.add(
                    format!("{mfield}.levels"),
                    format!(
                        "shares must sum to 1 (within {SHARE_SUM_TOLERANCE}), not {total:.6}; \
                         or give each level's population and the server derives the shares"
                    ),
                );
            }
            amounts
        };
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
                        population: 0.0,
                    })
                    .collect(),
            })
            .collect(),
    }
}
