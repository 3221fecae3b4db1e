//! The message-size limit: a request message over it is answered RESOURCE_EXHAUSTED, as the
//! gRPC specification names it, on unary calls and on streams alike.
//!
//! SQLite only: tonic's decoder refuses the message before any handler (and so any store)
//! sees it; what the test reads back from the database is the same on either backend.

use canvass::proto::v1 as pb;
use canvass::proto::v1::upload_submissions_request::Submission;
use canvass::startup::MAX_MESSAGE_BYTES;
use tonic::Code;

use crate::helpers::*;

/// A visit whose encoding is about `bytes` long, nearly all of it the household reference.
fn visit_of_size(bytes: usize) -> pb::SubmitVisitRequest {
    let mut request = visit("c1", "jinshi-v1", vec![answer("security", "a")]);
    request.household_ref = "h".repeat(bytes);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_resource_exhausted() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite");
    app.seed().await;
    let mut worker = app.field_worker(&["city"]);

    let status = worker
        .submit_visit(visit_of_size(MAX_MESSAGE_BYTES + 1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");

    // On a stream the status ends the stream; the item is not stored either.
    let item = pb::UploadSubmissionsRequest {
        submission: Some(Submission::Visit(visit_of_size(MAX_MESSAGE_BYTES + 1))),
    };
    let status = match worker
        .upload_submissions(futures::stream::iter([item]))
        .await
    {
        Ok(results) => results
            .into_inner()
            .message()
            .await
            .expect_err("the stream ends with the status"),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // Just under the limit the message is read, and its content judged.
    let status = worker
        .submit_visit(visit_of_size(MAX_MESSAGE_BYTES - 1024))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(&status), ["household_ref"]);

    assert_eq!(app.stored_count("c1").await, 0);
    // The connection is still good for the next call.
    worker
        .submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")]))
        .await
        .unwrap();
    assert_eq!(app.stored_count("c1").await, 1);
}
