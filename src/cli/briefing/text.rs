//! The briefing's sentences in Chinese and English. A change is worded as a rise or a fall only
//! when it is beyond its margin of error; any other change says it is within the margin (or that
//! the margin is unknown), never "rose" or "提高".

use crate::proto::v1 as pb;

/// The language a briefing is written in.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

/// Two decimals.
fn two(v: f64) -> String {
    format!("{v:.2}")
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// Picks the Chinese or the English text.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }

    /// Joins names as a list: "A、B、C" or "A, B, C".
    pub fn join(self, items: &[String]) -> String {
        items.join(self.pick("、", ", "))
    }

    pub fn title(self, campaign: &str, scope: &str) -> String {
        match self {
            Self::Zh => format!("{scope}{campaign}民调简报"),
            Self::En => format!("{scope}: briefing on {campaign}"),
        }
    }

    pub fn compared_with(self, compared: Option<&str>) -> String {
        match (self, compared) {
            (Self::Zh, Some(c)) => {
                format!("对比轮次：{c}。只有超出误差范围（95%置信水平）的变化才作为升降报告。")
            }
            (Self::En, Some(c)) => format!(
                "Compared with: {c}. Only a change beyond its margin of error (95%) is called a rise or a fall."
            ),
            (Self::Zh, None) => "本轮没有对比轮次，不报告变化。".into(),
            (Self::En, None) => "This round has no compared round: no changes are reported.".into(),
        }
    }

    /// "+2.52 points, within the margin of error (±3.19)" and the like, for any change.
    pub fn change(self, c: &pb::ScoreChange) -> String {
        let d = c.change;
        match (self, c.margin_of_error, c.beyond_margin) {
            (Self::Zh, Some(m), true) if d > 0.0 => {
                format!("提高了{}分，超出误差范围±{}分", two(d), two(m))
            }
            (Self::Zh, Some(m), true) => {
                format!("下降了{}分，超出误差范围±{}分", two(-d), two(m))
            }
            (Self::Zh, Some(m), false) => {
                format!("变化{d:+.2}分，变化在误差范围内（±{}分）", two(m))
            }
            (Self::Zh, None, _) => format!("变化{d:+.2}分，误差范围无法估计，不作升降判断"),
            (Self::En, Some(m), true) if d > 0.0 => format!(
                "rose by {} points, beyond the margin of error of ±{}",
                two(d),
                two(m)
            ),
            (Self::En, Some(m), true) => format!(
                "fell by {} points, beyond the margin of error of ±{}",
                two(-d),
                two(m)
            ),
            (Self::En, Some(m), false) => {
                format!(
                    "changed by {d:+.2} points, within the margin of error (±{})",
                    two(m)
                )
            }
            (Self::En, None, _) => format!(
                "changed by {d:+.2} points; the margin of error is unknown, so no rise or fall is claimed"
            ),
        }
    }

    /// The verdict column of a table.
    pub fn verdict(self, c: &pb::ScoreChange) -> &'static str {
        match (c.beyond_margin, c.change > 0.0) {
            (true, true) => self.pick("上升", "rise"),
            (true, false) => self.pick("下降", "fall"),
            (false, _) => self.pick("变化在误差范围内", "within the margin of error"),
        }
    }

    pub fn samples(self, c: &pb::ScoreChange) -> String {
        let (now, before) = (sample(c.after.as_ref()), sample(c.before.as_ref()));
        match self {
            Self::Zh => format!("样本量：本轮{now}，上轮{before}"),
            Self::En => format!("Samples: {now} this round, {before} in the compared round"),
        }
    }

    pub fn headline(
        self,
        campaign: &str,
        compared: Option<&str>,
        score: Option<f64>,
        change: Option<&pb::ScoreChange>,
    ) -> String {
        let score = score.map_or_else(|| "-".into(), two);
        match (self, compared, change) {
            (Self::Zh, Some(compared), Some(c)) => format!(
                "{campaign}群众评价得分为{score}分，比{compared}{}。{}。",
                self.change(c),
                self.samples(c)
            ),
            (Self::En, Some(compared), Some(c)) => format!(
                "The public's rating in {campaign} is {score} points; against {compared} it {}. {}.",
                self.change(c),
                self.samples(c)
            ),
            (Self::Zh, ..) => format!("{campaign}群众评价得分为{score}分。"),
            (Self::En, ..) => format!("The public's rating in {campaign} is {score} points."),
        }
    }

    pub fn biggest_rise(self, indicator: &str, c: &pb::ScoreChange) -> String {
        match self {
            Self::Zh => format!("尤其是群众对{indicator}的评价{}。", self.change(c)),
            Self::En => format!("Notably, the rating of {indicator} {}.", self.change(c)),
        }
    }

    pub fn biggest_fall(self, indicator: &str, c: &pb::ScoreChange) -> String {
        match self {
            Self::Zh => format!("下降最多的是{indicator}，{}。", self.change(c)),
            Self::En => format!("The largest fall is {indicator}, which {}.", self.change(c)),
        }
    }

    pub fn no_indicator_beyond(self) -> &'static str {
        self.pick(
            "各项指标的变化均在误差范围内，没有明显升降。",
            "Every indicator's change is within its margin of error.",
        )
    }

    pub fn group_name(self, kinds: &[i32]) -> &'static str {
        let has = |k: pb::UnitKind| kinds.contains(&(k as i32));
        if has(pb::UnitKind::Township) || has(pb::UnitKind::Subdistrict) {
            self.pick("乡镇办事处", "Townships and sub-districts")
        } else if has(pb::UnitKind::Department) {
            self.pick("市直单位", "City departments")
        } else if has(pb::UnitKind::Village) || has(pb::UnitKind::Community) {
            self.pick("村（社区）", "Villages and communities")
        } else if has(pb::UnitKind::County) {
            self.pick("县市区", "Counties")
        } else {
            self.pick("其他单位", "Other units")
        }
    }

    pub fn group_size(self, peers: i32, ranked: i32) -> String {
        match self {
            Self::Zh => format!("共{peers}个单位，其中{ranked}个样本充足、参与排名。"),
            Self::En => format!("{peers} units, {ranked} of them with enough interviews to rank."),
        }
    }

    /// "东山办事处上升了13位（第15位→第2位），得分提高了12.52分，超出误差范围±4.65分".
    pub fn moved(self, e: &pb::BriefingEntry) -> String {
        let row = e.entry.clone().unwrap_or_default();
        let places = row.rank_change.unwrap_or(0);
        let ranks = match (row.previous_rank, row.rank) {
            (Some(p), Some(r)) => match self {
                Self::Zh => format!("（第{p}位→第{r}位）"),
                Self::En => format!(" ({p} → {r})"),
            },
            _ => String::new(),
        };
        let change = e.change.as_ref().map_or_else(String::new, |c| match self {
            Self::Zh => format!("，得分{}", self.change(c)),
            Self::En => format!(", its score {}", self.change(c)),
        });
        match (self, places > 0) {
            (Self::Zh, true) => format!("{}上升了{places}位{ranks}{change}", row.unit_name),
            (Self::Zh, false) => format!("{}后退{}位{ranks}{change}", row.unit_name, -places),
            (Self::En, up) => {
                let n = places.abs();
                let unit = if n == 1 { "place" } else { "places" };
                let way = if up { "up" } else { "down" };
                format!("{} {way} {n} {unit}{ranks}{change}", row.unit_name)
            }
        }
    }

    /// Joins sentences-in-a-list, which hold commas themselves.
    pub fn join_clauses(self, items: &[String]) -> String {
        items.join(self.pick("；", "; "))
    }

    /// A unit with its score: "东山办事处（87.96分）".
    pub fn unit_with_score(self, name: &str, score: Option<f64>) -> String {
        let score = score.map_or_else(|| "-".into(), two);
        match self {
            Self::Zh => format!("{name}（{score}分）"),
            Self::En => format!("{name} ({score})"),
        }
    }

    pub fn not_ranked(self) -> &'static str {
        self.pick(
            "各单位样本量均不足，不作排名。",
            "No unit has enough interviews to be ranked.",
        )
    }

    pub fn risers(self, list: &str) -> String {
        match self {
            Self::Zh => format!("进步明显的有{list}。"),
            Self::En => format!("Moved up most: {list}."),
        }
    }

    pub fn fallers(self, list: &str) -> String {
        match self {
            Self::Zh => format!("退位最明显的有{list}。"),
            Self::En => format!("Moved down most: {list}."),
        }
    }

    pub fn top(self, n: i32, list: &str) -> String {
        match self {
            Self::Zh => format!("位居前{n}位的有{list}。"),
            Self::En => format!("In the top {n}: {list}."),
        }
    }

    pub fn bottom(self, n: i32, list: &str) -> String {
        match self {
            Self::Zh => format!("排在后{n}位的有{list}。"),
            Self::En => format!("In the bottom {n}: {list}."),
        }
    }

    pub fn laggards(self, names: &[String], rounds: i32, n: i32) -> String {
        let count = names.len();
        match (self, count) {
            (Self::Zh, 0) => format!("没有单位{rounds}次均排在后{n}位。"),
            (Self::En, 0) => {
                format!("No unit was in the bottom {n} in each of the last {rounds} rounds.")
            }
            (Self::Zh, _) => format!("{}{count}个单位{rounds}次均排在后{n}位。", self.join(names)),
            (Self::En, _) => format!(
                "{count} in the bottom {n} in each of the last {rounds} rounds: {}.",
                self.join(names)
            ),
        }
    }

    pub fn laggards_unknown(self, rounds: i32) -> String {
        match self {
            Self::Zh => format!("对比轮次不足{rounds}次，不报告连续排名靠后的单位。"),
            Self::En => format!(
                "Fewer than {rounds} rounds to compare: persistent laggards are not reported."
            ),
        }
    }

    pub fn carrier(self, carrier: i32) -> &'static str {
        match pb::Carrier::try_from(carrier).unwrap_or_default() {
            pb::Carrier::ChinaMobile => self.pick("中国移动", "China Mobile"),
            pb::Carrier::ChinaTelecom => self.pick("中国电信", "China Telecom"),
            pb::Carrier::ChinaUnicom => self.pick("中国联通", "China Unicom"),
            pb::Carrier::ChinaBroadnet => self.pick("中国广电", "China Broadnet"),
            pb::Carrier::Other => self.pick("其他", "Other"),
            pb::Carrier::Unspecified => self.pick("合计", "All carriers"),
        }
    }

    pub fn grievances(self, g: &pb::GrievanceSummary) -> String {
        match self {
            Self::Zh => format!(
                "共排查各类矛盾纠纷{}起，成功调解{}起，正在处理{}起，尚未处理{}起。",
                g.raised, g.resolved, g.in_progress, g.open
            ),
            Self::En => format!(
                "{} grievances were raised: {} resolved, {} in progress, {} open.",
                g.raised, g.resolved, g.in_progress, g.open
            ),
        }
    }
}

fn sample(e: Option<&pb::ScoreEstimate>) -> String {
    e.map_or_else(|| "-".into(), |e| e.sample_size.to_string())
}
