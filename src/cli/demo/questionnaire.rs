//! The questionnaire of a provincial public-security satisfaction poll (平安建设满意度): twelve
//! indicators on the provincial 10/8/5/2/0 scheme rescaled to 0-100.

use crate::proto::v1 as pb;

/// One indicator: its code, its name in reports, the question, its weight, how much lower than
/// the unit's level respondents tend to rate it, and how often they answer "don't know".
pub struct Item {
    pub code: &'static str,
    pub name: &'static str,
    pub question: &'static str,
    pub weight: f64,
    pub options: &'static [(&'static str, &'static str, Option<u32>)],
    pub offset: f64,
    pub dont_know: f64,
}

const FEELING: &[(&str, &str, Option<u32>)] = &[
    ("a", "安全", Some(100)),
    ("b", "比较安全", Some(80)),
    ("c", "一般", Some(50)),
    ("d", "不太安全", Some(20)),
    ("e", "不安全", Some(0)),
    ("dk", "不知道", None),
];

const PREVALENCE: &[(&str, &str, Option<u32>)] = &[
    ("a", "没有", Some(100)),
    ("b", "很少", Some(80)),
    ("c", "一般", Some(50)),
    ("d", "较多", Some(20)),
    ("e", "很多", Some(0)),
    ("dk", "不知道", None),
];

const IMAGE: &[(&str, &str, Option<u32>)] = &[
    ("a", "好", Some(100)),
    ("b", "较好", Some(80)),
    ("c", "一般", Some(50)),
    ("d", "较差", Some(20)),
    ("e", "差", Some(0)),
    ("dk", "不了解", None),
];

const VISITS: &[(&str, &str, Option<u32>)] = &[
    ("a", "来过多次", Some(100)),
    ("b", "来过一次", Some(80)),
    ("c", "没来过", Some(0)),
    ("dk", "记不清", None),
];

const DISPUTES: &[(&str, &str, Option<u32>)] = &[
    ("a", "满意", Some(100)),
    ("b", "比较满意", Some(80)),
    ("c", "一般", Some(50)),
    ("d", "不太满意", Some(20)),
    ("e", "不满意", Some(0)),
    ("dk", "没遇到过", None),
];

const AWARENESS: &[(&str, &str, Option<u32>)] = &[
    ("a", "知道", Some(100)),
    ("b", "听说过", Some(50)),
    ("c", "不知道", Some(0)),
];

pub const ITEMS: [Item; 12] = [
    item(
        "security",
        "安全感受",
        "您对本地的安全感受如何?",
        10.0,
        FEELING,
        2.0,
        0.02,
    ),
    item(
        "organized_crime",
        "黑恶势力犯罪现象",
        "您所在地黑恶势力犯罪现象多不多?",
        8.0,
        PREVALENCE,
        4.0,
        0.08,
    ),
    item(
        "theft_robbery",
        "盗窃抢劫犯罪现象",
        "您所在地盗窃、抢劫犯罪现象多不多?",
        8.0,
        PREVALENCE,
        -3.0,
        0.04,
    ),
    item(
        "prostitution",
        "卖淫嫖娼现象",
        "您所在地卖淫嫖娼现象多不多?",
        6.0,
        PREVALENCE,
        5.0,
        0.15,
    ),
    item(
        "police_image",
        "公安民警整体形象",
        "您对公安民警的整体形象评价如何?",
        8.0,
        IMAGE,
        0.0,
        0.06,
    ),
    item(
        "prosecutor_image",
        "检察官整体形象",
        "您对检察官的整体形象评价如何?",
        6.0,
        IMAGE,
        1.0,
        0.22,
    ),
    item(
        "judge_image",
        "法官整体形象",
        "您对法官的整体形象评价如何?",
        6.0,
        IMAGE,
        0.0,
        0.20,
    ),
    item(
        "justice_admin_image",
        "司法行政干警整体形象",
        "您对司法行政干警的整体形象评价如何?",
        6.0,
        IMAGE,
        -1.0,
        0.25,
    ),
    item(
        "cadre_image",
        "其他党政干部整体形象",
        "您对其他党政干部的整体形象评价如何?",
        6.0,
        IMAGE,
        -4.0,
        0.05,
    ),
    item(
        "cadre_visits",
        "干部入户情况",
        "近一年是否有干部到您家走访?",
        8.0,
        VISITS,
        -8.0,
        0.06,
    ),
    item(
        "dispute_resolution",
        "矛盾纠纷化解",
        "您对本地矛盾纠纷化解工作满意吗?",
        8.0,
        DISPUTES,
        -2.0,
        0.18,
    ),
    item(
        "safety_awareness",
        "平安建设知晓率",
        "您知道本地正在开展平安建设吗?",
        6.0,
        AWARENESS,
        -6.0,
        0.0,
    ),
];

#[allow(clippy::too_many_arguments)]
const fn item(
    code: &'static str,
    name: &'static str,
    question: &'static str,
    weight: f64,
    options: &'static [(&'static str, &'static str, Option<u32>)],
    offset: f64,
    dont_know: f64,
) -> Item {
    Item {
        code,
        name,
        question,
        weight,
        options,
        offset,
        dont_know,
    }
}

/// The questionnaire as CreateQuestionnaire takes it; an indicator's text is its report name
/// and the question, split by a full-width colon, so reports can show the short name.
pub fn questionnaire(id: &str) -> pb::Questionnaire {
    pb::Questionnaire {
        id: id.to_string(),
        name: "平安建设满意度调查".into(),
        indicators: ITEMS
            .iter()
            .map(|item| pb::Indicator {
                code: item.code.into(),
                text: format!("{}：{}", item.name, item.question),
                weight: item.weight,
                options: item
                    .options
                    .iter()
                    .map(|&(code, label, points)| pb::AnswerOption {
                        code: code.into(),
                        label: label.into(),
                        kind: if points.is_some() {
                            pb::OptionKind::Scored
                        } else {
                            pb::OptionKind::DontKnow
                        }
                        .into(),
                        points: points.unwrap_or(0),
                    })
                    .collect(),
            })
            .collect(),
        create_time: None,
    }
}
