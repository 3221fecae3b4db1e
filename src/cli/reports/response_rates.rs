//! `canvass response-rates`: AAPOR outcome rates of a unit's phone cases, overall and per
//! carrier. The JSON has one object per carrier; the table shows the same figures with one
//! column per carrier, since 26 figures do not fit across a terminal.

use serde::Serialize;

use super::ReportArgs;
use crate::cli::client::remote_error;
use crate::cli::table;
use crate::error::Result;
use crate::proto::v1 as pb;
use crate::proto::v1::call_center_service_client::CallCenterServiceClient;

#[derive(clap::Args)]
pub struct ResponseRatesArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// The unit (with its descendants) [default: the campaign's scope].
    #[arg(long)]
    pub unit: Option<String>,
}

/// One carrier's (or all carriers', `carrier` "ALL") dispositions and rates.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    pub carrier: String,
    pub complete: i64,
    pub partial: i64,
    pub refusal_and_break_off: i64,
    pub non_contact: i64,
    pub other: i64,
    pub unknown_household: i64,
    pub unknown_other: i64,
    pub not_eligible: i64,
    pub eligibility_rate: Option<f64>,
    pub rr1: Option<f64>,
    pub rr2: Option<f64>,
    pub rr3: Option<f64>,
    pub rr4: Option<f64>,
    pub rr5: Option<f64>,
    pub rr6: Option<f64>,
    pub coop1: Option<f64>,
    pub coop2: Option<f64>,
    pub coop3: Option<f64>,
    pub coop4: Option<f64>,
    pub ref1: Option<f64>,
    pub ref2: Option<f64>,
    pub ref3: Option<f64>,
    pub con1: Option<f64>,
    pub con2: Option<f64>,
    pub con3: Option<f64>,
}

impl Row {
    fn new(carrier: String, r: &pb::OutcomeRates) -> Self {
        let c = r.counts.unwrap_or_default();
        Self {
            carrier,
            complete: c.complete,
            partial: c.partial,
            refusal_and_break_off: c.refusal_and_break_off,
            non_contact: c.non_contact,
            other: c.other,
            unknown_household: c.unknown_household,
            unknown_other: c.unknown_other,
            not_eligible: c.not_eligible,
            eligibility_rate: r.eligibility_rate,
            rr1: r.rr1,
            rr2: r.rr2,
            rr3: r.rr3,
            rr4: r.rr4,
            rr5: r.rr5,
            rr6: r.rr6,
            coop1: r.coop1,
            coop2: r.coop2,
            coop3: r.coop3,
            coop4: r.coop4,
            ref1: r.ref1,
            ref2: r.ref2,
            ref3: r.ref3,
            con1: r.con1,
            con2: r.con2,
            con3: r.con3,
        }
    }

    /// The table's lines: label, then this row's figure.
    fn figures(&self) -> Vec<(&'static str, String)> {
        let counts = [
            ("I complete", self.complete),
            ("P partial", self.partial),
            ("R refusal, break-off", self.refusal_and_break_off),
            ("NC non-contact", self.non_contact),
            ("O other", self.other),
            ("UH unknown household", self.unknown_household),
            ("UO unknown other", self.unknown_other),
            ("NE not eligible", self.not_eligible),
        ];
        let rates = [
            ("e", self.eligibility_rate),
            ("RR1", self.rr1),
            ("RR2", self.rr2),
            ("RR3", self.rr3),
            ("RR4", self.rr4),
            ("RR5", self.rr5),
            ("RR6", self.rr6),
            ("COOP1", self.coop1),
            ("COOP2", self.coop2),
            ("COOP3", self.coop3),
            ("COOP4", self.coop4),
            ("REF1", self.ref1),
            ("REF2", self.ref2),
            ("REF3", self.ref3),
            ("CON1", self.con1),
            ("CON2", self.con2),
            ("CON3", self.con3),
        ];
        counts
            .into_iter()
            .map(|(label, n)| (label, n.to_string()))
            .chain(rates.into_iter().map(|(label, r)| (label, table::rate(r))))
            .collect()
    }
}

fn carrier_name(carrier: i32) -> String {
    pb::Carrier::try_from(carrier)
        .map_or("UNKNOWN", |c| c.as_str_name())
        .trim_start_matches("CARRIER_")
        .to_string()
}

pub async fn run(args: ResponseRatesArgs) -> Result<()> {
    let connection = args.report.client.connect().await?;
    let campaign = super::campaign(&connection, args.report.campaign.as_deref()).await?;
    let unit = args.unit.unwrap_or_else(|| campaign.scope_unit_id.clone());
    let rates = CallCenterServiceClient::new(connection)
        .get_response_rates(pb::GetResponseRatesRequest {
            campaign_id: campaign.id.clone(),
            unit_id: unit.clone(),
        })
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
    let mut rows = vec![Row::new("ALL".into(), &rates.overall.unwrap_or_default())];
    for by in &rates.by_carrier {
        rows.push(Row::new(
            carrier_name(by.carrier),
            &by.rates.unwrap_or_default(),
        ));
    }
    if args.report.json {
        return table::print_json(&rows);
    }
    println!(
        "AAPOR outcome rates of {unit}'s phone cases in {} ({})",
        campaign.name, campaign.id
    );
    let columns: Vec<Vec<(&str, String)>> = rows.iter().map(Row::figures).collect();
    let lines = (0..columns[0].len())
        .map(|i| {
            let mut line = vec![columns[0][i].0.to_string()];
            line.extend(columns.iter().map(|c| c[i].1.clone()));
            line
        })
        .collect();
    let mut header = vec![""];
    header.extend(rows.iter().map(|r| r.carrier.as_str()));
    println!("{}", table::table(&header, 1, lines));
    Ok(())
}
