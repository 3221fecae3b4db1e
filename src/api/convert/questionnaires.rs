//! Questionnaires: indicators, their answer options and the wire form.

use super::*;

fn option_from_proto(
    v: &mut Violations,
    field: &str,
    option: &pb::AnswerOption,
) -> Option<AnswerOption> {
    let code = v.check(format!("{field}.code"), Code::parse(&option.code));
    let label = v.check(format!("{field}.label"), parse_name(&option.label));
    let value = match pb::OptionKind::try_from(option.kind) {
        Ok(pb::OptionKind::Scored) => v
            .check(format!("{field}.points"), parse_points(option.points))
            .map(OptionValue::Points),
        Ok(kind @ (pb::OptionKind::DontKnow | pb::OptionKind::Refused)) => {
            if option.points != 0 {
                v.add(
                    format!("{field}.points"),
                    "must be 0 for options that count in no score",
                );
            }
            Some(if kind == pb::OptionKind::DontKnow {
                OptionValue::DontKnow
            } else {
                OptionValue::Refused
            })
        }
        Ok(pb::OptionKind::Unspecified) | Err(_) => {
            v.add(
                format!("{field}.kind"),
                "must be SCORED, DONT_KNOW or REFUSED",
            );
            None
        }
    };
    Some(AnswerOption {
        code: code?,
        label: label?,
        value: value?,
    })
}

fn indicator_from_proto(
    v: &mut Violations,
    field: &str,
    indicator: &pb::Indicator,
) -> Option<Indicator> {
    let code = v.check(format!("{field}.code"), Code::parse(&indicator.code));
    let text = v.check(format!("{field}.text"), parse_name(&indicator.text));
    let weight = v.check(format!("{field}.weight"), parse_weight(indicator.weight));
    if indicator.options.is_empty() {
        v.add(format!("{field}.options"), "must list at least one option");
    }
    let mut codes = HashSet::new();
    let mut options = Vec::with_capacity(indicator.options.len());
    for (j, option) in indicator.options.iter().enumerate() {
        let option_field = format!("{field}.options[{j}]");
        if !codes.insert(option.code.as_str()) {
            v.add(
                format!("{option_field}.code"),
                "duplicates another option's code",
            );
        }
        options.extend(option_from_proto(v, &option_field, option));
    }
    if !indicator.options.is_empty()
        && !options
            .iter()
            .any(|o| matches!(o.value, OptionValue::Points(_)))
    {
        v.add(
            format!("{field}.options"),
            "must include at least one SCORED option",
        );
    }
    Some(Indicator {
        code: code?,
        text: text?,
        weight: weight?,
        options,
    })
}

pub fn questionnaire_from_proto(
    q: Option<pb::Questionnaire>,
    now: Timestamp,
) -> Result<Questionnaire> {
    let q = q.unwrap_or_default();
    let mut v = Violations::new();
    let id = v.check("questionnaire.id", QuestionnaireId::parse(&q.id));
    let name = v.check("questionnaire.name", parse_name(&q.name));
    if q.indicators.is_empty() {
        v.add(
            "questionnaire.indicators",
            "must list at least one indicator",
        );
    }
    let mut codes = HashSet::new();
    let mut indicators = Vec::with_capacity(q.indicators.len());
    for (i, indicator) in q.indicators.iter().enumerate() {
        let field = format!("questionnaire.indicators[{i}]");
        if !codes.insert(indicator.code.as_str()) {
            v.add(
                format!("{field}.code"),
                "duplicates another indicator's code",
            );
        }
        indicators.extend(indicator_from_proto(&mut v, &field, indicator));
    }
    v.into_result(|| {
        Some(Questionnaire {
            id: id?,
            name: name?,
            indicators,
            created_at: now,
        })
    })
}

pub fn questionnaire_to_proto(q: &Questionnaire) -> pb::Questionnaire {
    pb::Questionnaire {
        id: q.id.to_string(),
        name: q.name.clone(),
        indicators: q
            .indicators
            .iter()
            .map(|i| pb::Indicator {
                code: i.code.to_string(),
                text: i.text.clone(),
                weight: i.weight,
                options: i
                    .options
                    .iter()
                    .map(|o| {
                        let (kind, points) = match o.value {
                            OptionValue::Points(p) => (pb::OptionKind::Scored, u32::from(p)),
                            OptionValue::DontKnow => (pb::OptionKind::DontKnow, 0),
                            OptionValue::Refused => (pb::OptionKind::Refused, 0),
                        };
                        pb::AnswerOption {
                            code: o.code.to_string(),
                            label: o.label.clone(),
                            kind: kind.into(),
                            points,
                        }
                    })
                    .collect(),
            })
            .collect(),
        create_time: Some(timestamp_to_proto(q.created_at)),
    }
}
