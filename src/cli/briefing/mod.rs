//! `canvass briefing`: the round's briefing (GetCampaignBriefing) written as a Markdown or HTML
//! document for a meeting, in Chinese or English.

mod doc;
mod html;
mod md;
mod text;

use std::path::PathBuf;

pub use text::Lang;

use crate::cli::client::{ClientArgs, remote_error};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::briefing_service_client::BriefingServiceClient;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Md,
    Html,
}

#[derive(clap::Args)]
pub struct BriefingArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The campaign [default: the one that opened last, when only one did].
    #[arg(long)]
    pub campaign: Option<String>,
    /// The unit the briefing is about [default: the campaign's scope].
    #[arg(long)]
    pub scope: Option<String>,
    /// Top and bottom places, risers and fallers named per peer group.
    #[arg(long = "top", default_value_t = 5)]
    pub top: i32,
    /// Rounds a unit must be in the bottom places of to be named a persistent laggard.
    #[arg(long, default_value_t = 2)]
    pub rounds: i32,
    #[arg(long, value_enum)]
    pub format: Format,
    #[arg(long, value_enum, default_value = "zh")]
    pub lang: Lang,
    /// Write the document here instead of to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Renders a briefing as a document.
pub fn render(briefing: &pb::CampaignBriefing, format: Format, lang: Lang) -> String {
    let document = doc::document(briefing, lang);
    match format {
        Format::Md => md::render(&document),
        Format::Html => html::render(&document, lang),
    }
}

pub async fn run(args: BriefingArgs) -> Result<()> {
    let connection = args.client.connect().await?;
    let campaign = crate::cli::reports::campaign(&connection, args.campaign.as_deref()).await?;
    let briefing = BriefingServiceClient::new(connection)
        .get_campaign_briefing(pb::GetCampaignBriefingRequest {
            campaign_id: campaign.id.clone(),
            scope_unit_id: args.scope.clone().unwrap_or_default(),
            top_n: args.top,
            campaign_count: args.rounds,
        })
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
    let document = render(&briefing, args.format, args.lang);
    match &args.out {
        Some(path) => std::fs::write(path, document)
            .map_err(|e| Error::invalid("--out", format!("cannot write {}: {e}", path.display()))),
        None => {
            print!("{document}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(score: f64, se: f64, n: i64) -> Option<pb::ScoreEstimate> {
        Some(pb::ScoreEstimate {
            score,
            standard_error: Some(se),
            sample_size: n,
        })
    }

    /// DOMAIN.md's example: 73.57 → 76.09 with SEs 1.20 and 1.10 is within 3.1906.
    fn within() -> pb::ScoreChange {
        pb::ScoreChange {
            before: estimate(73.57, 1.20, 400),
            after: estimate(76.09, 1.10, 420),
            change: 2.52,
            margin_of_error: Some(3.1906),
            beyond_margin: false,
        }
    }

    fn briefing(change: pb::ScoreChange) -> pb::CampaignBriefing {
        pb::CampaignBriefing {
            campaign_name: "第二次民调".into(),
            compared_campaign_id: "r1".into(),
            compared_campaign_name: "第一次".into(),
            scope_unit_name: "示范市".into(),
            top_n: 5,
            campaign_count: 2,
            composite: change.after,
            composite_change: Some(change),
            ..Default::default()
        }
    }

    #[test]
    fn a_change_within_its_margin_never_reads_as_a_rise() {
        let md = render(&briefing(within()), Format::Md, Lang::Zh);
        assert!(
            md.contains(
                "第二次民调群众评价得分为76.09分，比第一次变化+2.52分，变化在误差范围内（±3.19分）"
            ),
            "{md}"
        );
        assert!(!md.contains("提高") && !md.contains("上升"), "{md}");
        let en = render(&briefing(within()), Format::Md, Lang::En);
        assert!(en.contains("within the margin of error (±3.19)"), "{en}");
        assert!(!en.contains("rose"), "{en}");
    }

    #[test]
    fn a_change_beyond_its_margin_is_a_rise_with_both_samples() {
        let mut rise = within();
        rise.before = estimate(73.57, 0.80, 900);
        rise.after = estimate(76.09, 0.75, 950);
        rise.margin_of_error = Some(2.1493);
        rise.beyond_margin = true;
        let md = render(&briefing(rise), Format::Md, Lang::Zh);
        assert!(
            md.contains("比第一次提高了2.52分，超出误差范围±2.15分。样本量：本轮950，上轮900。"),
            "{md}"
        );
        let en = render(&briefing(rise), Format::Html, Lang::En);
        assert!(en.contains("rose by 2.52 points"), "{en}");
        assert!(en.starts_with("<!DOCTYPE html>") && en.contains("<html lang=\"en\">"));
    }

    #[test]
    fn a_first_round_reports_no_change() {
        let mut first = briefing(within());
        first.compared_campaign_id.clear();
        first.composite_change = None;
        let md = render(&first, Format::Md, Lang::Zh);
        assert!(md.contains("本轮没有对比轮次，不报告变化。"), "{md}");
        assert!(md.contains("群众评价得分为76.09分。"), "{md}");
    }
}
