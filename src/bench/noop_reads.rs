//! The read ceiling: AggregateService answering GetUnitScore and ListRankings with replies
//! recorded from Canvass for the same requests (so each reply has the same size), looked up
//! by the request's bytes, with no auth, no catalog and no figures. Its latency is what the
//! stack (tonic, HTTP/2, TCP, the client, encoding a reply that size) costs per read here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use prost::Message;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_server::{AggregateService, AggregateServiceServer};
use crate::startup::MAX_MESSAGE_BYTES;

/// Recorded (request, reply) pairs, both encoded.
#[derive(Default)]
pub struct Replies {
    pub scores: Vec<(pb::GetUnitScoreRequest, pb::UnitScore)>,
    pub rankings: Vec<(pb::ListRankingsRequest, pb::ListRankingsResponse)>,
}

impl Replies {
    /// Writes the pairs as length-prefixed records: kind, request, reply.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut out = Vec::new();
        let mut record = |kind: u8, request: Vec<u8>, reply: Vec<u8>| {
            out.push(kind);
            for part in [request, reply] {
                out.extend_from_slice(&(part.len() as u32).to_le_bytes());
                out.extend_from_slice(&part);
            }
        };
        for (request, reply) in &self.scores {
            record(0, request.encode_to_vec(), reply.encode_to_vec());
        }
        for (request, reply) in &self.rankings {
            record(1, request.encode_to_vec(), reply.encode_to_vec());
        }
        std::fs::write(path, out).map_err(|e| Error::internal(format!("{}: {e}", path.display())))
    }
}

#[derive(Default)]
struct Recorded {
    scores: HashMap<Vec<u8>, pb::UnitScore>,
    rankings: HashMap<Vec<u8>, pb::ListRankingsResponse>,
}

fn read(path: &Path) -> Result<Recorded> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    let bad = || Error::internal(format!("{}: not a replies file", path.display()));
    let mut recorded = Recorded::default();
    let mut rest = &bytes[..];
    let part = |rest: &mut &[u8]| -> Result<Vec<u8>> {
        let (len, tail) = rest.split_at_checked(4).ok_or_else(bad)?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| bad())?) as usize;
        let (body, tail) = tail.split_at_checked(len).ok_or_else(bad)?;
        *rest = tail;
        Ok(body.to_vec())
    };
    while let Some((&kind, tail)) = rest.split_first() {
        rest = tail;
        let request = part(&mut rest)?;
        let reply = part(&mut rest)?;
        match kind {
            0 => {
                let reply = pb::UnitScore::decode(&reply[..]).map_err(|_| bad())?;
                recorded.scores.insert(request, reply);
            }
            _ => {
                let reply = pb::ListRankingsResponse::decode(&reply[..]).map_err(|_| bad())?;
                recorded.rankings.insert(request, reply);
            }
        }
    }
    Ok(recorded)
}

struct NoopReads(Arc<Recorded>);

type Empty<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn unrecorded() -> Status {
    Status::not_found("no reply recorded for this request")
}

#[tonic::async_trait]
impl AggregateService for NoopReads {
    async fn get_unit_score(
        &self,
        request: Request<pb::GetUnitScoreRequest>,
    ) -> Result<Response<pb::UnitScore>, Status> {
        let key = request.into_inner().encode_to_vec();
        let reply = self.0.scores.get(&key).ok_or_else(unrecorded)?;
        Ok(Response::new(reply.clone()))
    }

    async fn list_rankings(
        &self,
        request: Request<pb::ListRankingsRequest>,
    ) -> Result<Response<pb::ListRankingsResponse>, Status> {
        let key = request.into_inner().encode_to_vec();
        let reply = self.0.rankings.get(&key).ok_or_else(unrecorded)?;
        Ok(Response::new(reply.clone()))
    }

    async fn list_persistent_laggards(
        &self,
        _request: Request<pb::ListPersistentLaggardsRequest>,
    ) -> Result<Response<pb::ListPersistentLaggardsResponse>, Status> {
        Err(Status::unimplemented("not part of the ceiling"))
    }

    async fn list_rank_movers(
        &self,
        _request: Request<pb::ListRankMoversRequest>,
    ) -> Result<Response<pb::ListRankMoversResponse>, Status> {
        Err(Status::unimplemented("not part of the ceiling"))
    }

    async fn get_unit_weaknesses(
        &self,
        _request: Request<pb::GetUnitWeaknessesRequest>,
    ) -> Result<Response<pb::UnitWeaknesses>, Status> {
        Err(Status::unimplemented("not part of the ceiling"))
    }

    async fn get_unit_history(
        &self,
        _request: Request<pb::GetUnitHistoryRequest>,
    ) -> Result<Response<pb::UnitHistory>, Status> {
        Err(Status::unimplemented("not part of the ceiling"))
    }

    type WatchUnitScoreStream = Empty<pb::UnitScore>;

    async fn watch_unit_score(
        &self,
        _request: Request<pb::WatchUnitScoreRequest>,
    ) -> Result<Response<Self::WatchUnitScoreStream>, Status> {
        Err(Status::unimplemented("not part of the ceiling"))
    }

    type WatchRankingsStream = Empty<pb::ListRankingsResponse>;

    async fn watch_rankings(
        &self,
        _request: Request<pb::WatchRankingsRequest>,
    ) -> Result<Response<Self::WatchRankingsStream>, Status> {
        Err(Status::unimplemented("not part of the ceiling"))
    }
}

/// Serves the recorded replies on `listen` until SIGTERM or Ctrl-C, logging its address the
/// way `canvass serve` does.
pub async fn serve(listen: SocketAddr, replies: PathBuf) -> Result<()> {
    let recorded = Arc::new(read(&replies)?);
    super::noop::serve_alone(
        listen,
        "no-op aggregate service",
        AggregateServiceServer::new(NoopReads(recorded))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
    .await
}
