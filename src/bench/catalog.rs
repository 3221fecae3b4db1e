//! CreateUnit throughput as the catalog grows: one city, townships under it and villages under
//! those, created one CreateUnit call at a time with a fixed number in flight. Each slab of
//! units is timed on its own, so a per-call cost that grows with the catalog shows as slabs
//! that slow down.

use std::time::Instant;

use futures::StreamExt;

use super::load::connect;
use super::setup::{Setup, TargetArgs};
use super::workload::authed;
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;

#[derive(clap::Args)]
pub struct CatalogArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Units created after the city.
    #[arg(long, default_value_t = 27_000)]
    units: usize,
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Units per timed slab.
    #[arg(long, default_value_t = 3_000)]
    slab: usize,
    /// Villages per township.
    #[arg(long, default_value_t = 30)]
    villages_per_township: usize,
}

pub async fn run(args: &CatalogArgs) -> Result<()> {
    let setup = Setup::new(&args.target).await?;
    let channel = connect(setup.address, 1).await?.remove(0);
    let client = CatalogServiceClient::new(channel);
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let city = format!("c{tag}");
    let unit = |id: String, kind: pb::UnitKind, parent: &str| pb::Unit {
        name: format!("单位 {id}"),
        id,
        kind: kind.into(),
        parent_id: parent.to_owned(),
        ..Default::default()
    };
    create(&client, &setup, unit(city.clone(), pb::UnitKind::City, "")).await?;
    // Every (villages + 1)th unit is a township under the city; the others villages under the
    // township before them, created after it.
    let per = args.villages_per_township + 1;
    let units: Vec<pb::Unit> = (0..args.units)
        .map(|i| {
            let township = format!("{city}-t{}", i / per);
            if i % per == 0 {
                unit(township, pb::UnitKind::Township, &city)
            } else {
                unit(
                    format!("{township}-v{}", i % per),
                    pb::UnitKind::Village,
                    &township,
                )
            }
        })
        .collect();
    println!(
        "CreateUnit, {} units after the city, {} in flight ({})",
        args.units, args.in_flight, setup.store
    );
    println!("{:>14} {:>10} {:>10}", "units", "seconds", "units/s");
    let started = Instant::now();
    for (i, slab) in units.chunks(args.slab.max(1)).enumerate() {
        // A township precedes its villages; the few villages of a township created in the
        // same slab wait for it by being sent after it in the same ordered stream.
        let slab_start = Instant::now();
        let (townships, villages): (Vec<_>, Vec<_>) = slab
            .iter()
            .cloned()
            .partition(|u| u.kind == i32::from(pb::UnitKind::Township));
        for wave in [townships, villages] {
            futures::stream::iter(wave)
                .map(|u| create(&client, &setup, u))
                .buffer_unordered(args.in_flight.max(1))
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<()>>>()?;
        }
        let seconds = slab_start.elapsed().as_secs_f64();
        let first = i * args.slab + 1;
        println!(
            "{:>14} {seconds:>10.2} {:>10.0}",
            format!("{first}-{}", first + slab.len() - 1),
            slab.len() as f64 / seconds
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{:>14} {seconds:>10.2} {:>10.0}",
        "all",
        args.units as f64 / seconds
    );
    setup.finish().await
}

async fn create(
    client: &CatalogServiceClient<tonic::transport::Channel>,
    setup: &Setup,
    unit: pb::Unit,
) -> Result<()> {
    client
        .clone()
        .create_unit(authed(
            pb::CreateUnitRequest { unit: Some(unit) },
            setup.admin(),
        ))
        .await
        .map(drop)
        .map_err(|s| Error::internal(format!("CreateUnit: {}", s.message())))
}
