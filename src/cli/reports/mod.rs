//! Report subcommands: ordinary clients of AggregateService and CallCenterService that print
//! what leaders read (rankings, a unit's scorecard, persistent laggards, response rates).

pub mod laggards;
pub mod rankings;
pub mod response_rates;
pub mod scorecard;

use crate::cli::client::{ClientArgs, Connection, patiently, remote_error};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;

/// What every report takes: the server, the campaign, and the output form.
#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The campaign [default: the one that opened last, when only one did].
    #[arg(long)]
    pub campaign: Option<String>,
    /// Print the rows as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A unit kind as typed on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Kind {
    Province,
    Prefecture,
    County,
    City,
    Township,
    Subdistrict,
    Village,
    Community,
    Department,
}

impl From<Kind> for pb::UnitKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Province => Self::Province,
            Kind::Prefecture => Self::Prefecture,
            Kind::County => Self::County,
            Kind::City => Self::City,
            Kind::Township => Self::Township,
            Kind::Subdistrict => Self::Subdistrict,
            Kind::Village => Self::Village,
            Kind::Community => Self::Community,
            Kind::Department => Self::Department,
        }
    }
}

/// The peer group of a ranking report: a scope and the kinds compared.
#[derive(clap::Args)]
pub struct PeerArgs {
    /// Rank the units under this unit [default: the campaign's scope].
    #[arg(long)]
    pub scope: Option<String>,
    /// Kinds of the peer group, ranked together (repeat or separate with commas) [default:
    /// the level below the scope, e.g. townships and sub-districts under a city].
    #[arg(long = "kind", value_enum, value_delimiter = ',')]
    pub kinds: Vec<Kind>,
    /// Rank by this indicator's score instead of the composite.
    #[arg(long)]
    pub indicator: Option<String>,
}

impl PeerArgs {
    pub fn kinds(&self) -> Vec<i32> {
        self.kinds
            .iter()
            .map(|&k| pb::UnitKind::from(k) as i32)
            .collect()
    }
}

/// The named campaign, or the one that opened last.
///
/// # Errors
/// NOT_FOUND for an unknown campaign; INVALID_ARGUMENT naming `--campaign` when none was named
/// and there is no campaign or no single newest one.
pub async fn campaign(connection: &Connection, id: Option<&str>) -> Result<pb::Campaign> {
    let mut catalog = CatalogServiceClient::new(connection.clone());
    if let Some(id) = id {
        return catalog
            .get_campaign(pb::GetCampaignRequest { id: id.into() })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| remote_error(&s));
    }
    let mut campaigns = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = catalog
            .list_campaigns(pb::ListCampaignsRequest {
                page_size: 1000,
                page_token,
            })
            .await
            .map_err(|s| remote_error(&s))?
            .into_inner();
        campaigns.extend(page.campaigns);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    newest(campaigns)
}

fn opened(campaign: &pb::Campaign) -> (i64, i32) {
    campaign
        .open_time
        .as_ref()
        .map_or((i64::MIN, 0), |t| (t.seconds, t.nanos))
}

fn newest(mut campaigns: Vec<pb::Campaign>) -> Result<pb::Campaign> {
    campaigns.sort_by_key(|c| std::cmp::Reverse(opened(c)));
    match campaigns.as_slice() {
        [] => Err(Error::invalid(
            "--campaign",
            "the server has no campaign yet (load one with `canvass demo`)",
        )),
        [first, second, ..] if opened(first) == opened(second) => Err(Error::invalid(
            "--campaign",
            format!(
                "campaigns {} and {} opened at the same time; name one",
                first.id, second.id
            ),
        )),
        [first, ..] => Ok(first.clone()),
    }
}

/// The short name of an indicator: its text up to a colon (the demo writes `安全感受：…`).
pub fn indicator_name(text: &str) -> &str {
    text.split(['：', ':']).next().unwrap_or(text).trim()
}

/// A unit's score, paced by the server's rate limit: reports read one per unit.
pub(super) async fn unit_score(
    connection: &Connection,
    campaign_id: &str,
    unit: &str,
) -> Result<pb::UnitScore> {
    let request = pb::GetUnitScoreRequest {
        campaign_id: campaign_id.into(),
        unit_id: unit.into(),
    };
    patiently(|| {
        let (connection, request) = (connection.clone(), request.clone());
        async move {
            AggregateServiceClient::new(connection)
                .get_unit_score(request)
                .await
        }
    })
    .await
    .map(tonic::Response::into_inner)
    .map_err(|s| remote_error(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opening(id: &str, seconds: i64) -> pb::Campaign {
        pb::Campaign {
            id: id.into(),
            open_time: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        }
    }

    #[test]
    fn the_default_campaign_is_the_single_newest() {
        let picked = newest(vec![opening("r1", 10), opening("r2", 20)]).unwrap();
        assert_eq!(picked.id, "r2");
        assert!(newest(vec![opening("a", 20), opening("b", 20)]).is_err());
        assert!(newest(Vec::new()).is_err());
    }

    #[test]
    fn indicator_names_stop_at_the_colon() {
        assert_eq!(
            indicator_name("安全感受：您对本地的安全感受如何?"),
            "安全感受"
        );
        assert_eq!(indicator_name("Police image"), "Police image");
    }
}
