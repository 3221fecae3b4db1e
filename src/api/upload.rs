//! UploadSubmissions: a device's queue of visits and phone polls over one stream.
//!
//! Each item takes the unary path ([`visit_draft`] / [`phone_poll_draft`], then
//! [`Ingest::submit`], so the same group-commit writer) and is answered as soon as that item is
//! durable; its failure is its own result, never the stream's.
//!
//! Memory per stream is bounded by pulling: at most `max_in_flight` items are read from the
//! stream and not yet answered. Results are produced only as fast as the client reads them
//! (HTTP/2 flow control stops the server from polling the result stream), so a client that
//! stops reading stops the server reading its items; the rest waits in the client's own
//! buffers and the stream's HTTP/2 window.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt, future};
use prost::Message;
use tonic::Status;

use super::convert::{acknowledgement_to_proto, phone_poll_draft, visit_draft};
use crate::auth::Principal;
use crate::domain::channel::Channel;
use crate::domain::phone::PhoneHasher;
use crate::domain::submission::Acknowledgement;
use crate::error::{Error, Result};
use crate::ingest::Ingest;
use crate::proto::v1 as pb;
use crate::proto::v1::upload_submissions_request::Submission;
use crate::proto::v1::upload_submissions_response::Result as ItemResult;

/// The response stream of one upload.
pub type ResultStream =
    Pin<Box<dyn Stream<Item = Result<pb::UploadSubmissionsResponse, Status>> + Send>>;

/// One item's answer in the making. Boxed so that each stream's `buffer_unordered` stays small
/// while the stream is idle: `FuturesUnordered` allocates, up front, a stub task as large as its
/// future type (this one, unboxed, is about 3 KiB).
type ItemFuture =
    Pin<Box<dyn Future<Output = Result<pb::UploadSubmissionsResponse, Status>> + Send>>;

/// What every item of one upload is checked and submitted with.
pub struct Uploader {
    pub caller: Principal,
    pub ingest: Ingest,
    pub phone_hasher: PhoneHasher,
    /// Turns true at shutdown: read no further, answer what is in flight, end the stream.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl Uploader {
    /// Answers `items`, at most `max_in_flight` at a time, in the order they complete. Ends
    /// after the last answer once the client has finished sending or the server is shutting
    /// down (items not read by then get no result: the client sends them again), or with the
    /// stream's error (a malformed frame, a reset) as soon as one arrives.
    pub fn results<S>(self, items: S, max_in_flight: usize) -> ResultStream
    where
        S: Stream<Item = Result<pb::UploadSubmissionsRequest, Status>> + Send + 'static,
    {
        let mut stopping = self.stopping.clone();
        let shutdown = async move {
            // An error means the server is gone altogether: stop as well.
            let _ = stopping.wait_for(|stopping| *stopping).await;
        };
        let uploader = Arc::new(self);
        let results = items
            .take_until(Box::pin(shutdown))
            .enumerate()
            .map(move |(index, item)| -> ItemFuture {
                let uploader = uploader.clone();
                Box::pin(async move {
                    let item = item?;
                    Ok(uploader.answer(index as i64, item).await)
                })
            })
            .buffer_unordered(max_in_flight.max(1))
            // Nothing is read after a stream error; end with it.
            .scan(false, |failed, result| {
                if *failed {
                    return future::ready(None);
                }
                *failed = result.is_err();
                future::ready(Some(result))
            });
        Box::pin(results)
    }

    async fn answer(
        &self,
        index: i64,
        item: pb::UploadSubmissionsRequest,
    ) -> pb::UploadSubmissionsResponse {
        let submission_id = match &item.submission {
            Some(Submission::Visit(v)) => v.submission_id.clone(),
            Some(Submission::PhonePoll(p)) => p.submission_id.clone(),
            None => String::new(),
        };
        let result = match self.submit(item).await {
            Ok(ack) => ItemResult::Acknowledgement(acknowledgement_to_proto(ack)),
            Err(error) => ItemResult::Error(upload_error(error)),
        };
        pb::UploadSubmissionsResponse {
            index,
            submission_id,
            result: Some(result),
        }
    }

    /// The role check comes first, so an item of the wrong kind learns nothing about its
    /// content or the catalog.
    async fn submit(&self, item: pb::UploadSubmissionsRequest) -> Result<Acknowledgement> {
        let draft = match item.submission {
            Some(Submission::Visit(visit)) => {
                self.caller.require_channel(Channel::Visit)?;
                visit_draft(visit)?
            }
            Some(Submission::PhonePoll(poll)) => {
                self.caller.require_channel(Channel::Phone)?;
                phone_poll_draft(poll, &self.phone_hasher)?
            }
            None => {
                return Err(Error::invalid(
                    "submission",
                    "must be a visit or a phone_poll",
                ));
            }
        };
        self.ingest.submit(&self.caller, draft).await
    }
}

/// An item's error as the status a unary call would have returned: the crate's one mapping
/// ([`Status::from`]) decides code, message and details.
fn upload_error(error: Error) -> pb::UploadError {
    let status = Status::from(error);
    // The details are an encoded google.rpc.Status, which UploadError mirrors field for field.
    let details = if status.details().is_empty() {
        Vec::new()
    } else {
        pb::UploadError::decode(status.details())
            .map(|encoded| encoded.details)
            .unwrap_or_default()
    };
    pb::UploadError {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    #[test]
    fn item_errors_carry_the_unary_status_and_its_details() {
        let error = upload_error(Error::invalid("answers[0].option_code", "unknown option"));
        assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
        assert!(error.message.contains("answers[0].option_code"));
        // Read back with the same helpers clients use on unary calls.
        let status = Status::with_details(
            tonic::Code::from(error.code),
            error.message.clone(),
            error.encode_to_vec().into(),
        );
        let bad_request = status.get_details_bad_request().expect("BadRequest");
        assert_eq!(
            bad_request.field_violations[0].field,
            "answers[0].option_code"
        );

        let denied = upload_error(Error::PermissionDenied("no".into()));
        assert_eq!(denied.code, tonic::Code::PermissionDenied as i32);
        assert!(denied.details.is_empty());
    }
}
