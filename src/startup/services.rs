//! The gRPC services one server runs, the layers every call passes (metrics, message limits,
//! auth), health and reflection; and the dashboard's view of the same state.

use tokio::sync::watch;
use tonic::transport::server::Router;
use tonic_health::server::HealthReporter;
use tower::layer::util::{Identity, Stack};

use super::Application;
use super::listeners::transport;
use crate::aggregate_cache::AggregateCache;
use crate::api::{
    AggregateApi, AuditApi, AuthApi, BriefingApi, CallCenterApi, CatalogApi, ExportApi, ReviewApi,
    SubmissionApi,
};
use crate::auth::AuthLayer;
use crate::briefing::Briefings;
use crate::error::{Error, Result};
use crate::exports::Exports;
use crate::fieldwork::Fieldwork;
use crate::ingest::{Ingest, WriterHandle};
use crate::listener::ActivityLayer;
use crate::live::ChangeFeed;
use crate::message_limit::MessageLimitLayer;
use crate::metrics::GrpcMetricsLayer;
use crate::proto::FILE_DESCRIPTOR_SET;
use crate::proto::v1::aggregate_service_server::AggregateServiceServer;
use crate::proto::v1::audit_service_server::AuditServiceServer;
use crate::proto::v1::auth_service_server::AuthServiceServer;
use crate::proto::v1::briefing_service_server::BriefingServiceServer;
use crate::proto::v1::call_center_service_server::CallCenterServiceServer;
use crate::proto::v1::catalog_service_server::CatalogServiceServer;
use crate::proto::v1::export_service_server::ExportServiceServer;
use crate::proto::v1::review_service_server::ReviewServiceServer;
use crate::proto::v1::submission_service_server::SubmissionServiceServer;
use crate::scores::Scores;
use crate::web::WebState;

/// Largest request accepted; a submission is a few hundred bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The layers of [`transport`] and those added here, innermost first in reading order of the
/// type: auth, message limits, metrics, call activity.
type Layers = Stack<
    AuthLayer,
    Stack<MessageLimitLayer, Stack<GrpcMetricsLayer, Stack<ActivityLayer, Identity>>>,
>;

/// Everything served, ready to start.
pub(super) struct Services {
    pub(super) router: Router<Layers>,
    /// Reports every service serving; at shutdown, uploads as no longer serving.
    pub(super) health: HealthReporter,
    /// Tells open uploads to stop reading at shutdown, so they end once their items in flight
    /// are answered instead of holding the shutdown for the whole grace period.
    pub(super) stopping: watch::Sender<bool>,
    /// What the dashboard reads: the same scores, fieldwork and briefings as the services.
    pub(super) dashboard: WebState,
}

impl Application {
    /// Builds every service on this process's aggregates, change feed and writer.
    pub(super) async fn services(
        &self,
        figures: &AggregateCache,
        changes: &ChangeFeed,
        writer: WriterHandle,
    ) -> Result<Services> {
        let phone_hasher = self.settings.phone_hasher()?;
        let (health, health_service) = tonic_health::server::health_reporter();
        report_serving(&health).await;
        let auth = AuthApi {
            revocations: self.gate.revocations.clone(),
            store: self.store.clone(),
        };
        let fieldwork = Fieldwork::new(
            self.catalog.clone(),
            self.store.clone(),
            figures.clone(),
            changes.commits.clone(),
        );
        let call_center = CallCenterApi {
            fieldwork: fieldwork.clone(),
            phone_hasher: phone_hasher.clone(),
        };
        let review = ReviewApi {
            fieldwork: fieldwork.clone(),
        };
        let (stopping, stopping_rx) = watch::channel(false);
        let submissions = SubmissionApi {
            ingest: Ingest::new(self.catalog.clone(), writer),
            phone_hasher,
            upload_max_in_flight: self.settings.upload_max_in_flight.max(1),
            stopping: stopping_rx,
        };
        let catalog = CatalogApi {
            catalog: self.catalog.clone(),
        };
        let scores = Scores::new(
            self.catalog.clone(),
            figures.clone(),
            changes.watchers.clone(),
        );
        let briefings = Briefings::new(self.catalog.clone(), scores.clone(), fieldwork.clone());
        let dashboard = WebState {
            scores: scores.clone(),
            fieldwork,
            briefings: briefings.clone(),
            catalog: self.catalog.clone(),
            gate: self.gate.clone(),
        };
        let briefing = BriefingApi { briefings };
        let aggregates = AggregateApi { scores };
        let exports = ExportApi {
            exports: Exports::new(self.catalog.clone(), self.store.clone()),
        };
        let router = transport()
            .layer(GrpcMetricsLayer::new(self.metrics.clone()))
            .layer(MessageLimitLayer)
            .layer(AuthLayer::new(self.gate.clone()))
            .add_service(health_service)
            .add_service(reflection_v1()?)
            .add_service(reflection_v1alpha()?)
            .add_service(
                SubmissionServiceServer::new(submissions)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                CatalogServiceServer::new(catalog).max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                AggregateServiceServer::new(aggregates)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                CallCenterServiceServer::new(call_center)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                ReviewServiceServer::new(review).max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                AuditServiceServer::new(AuditApi {
                    store: self.store.clone(),
                })
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                ExportServiceServer::new(exports).max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(AuthServiceServer::new(auth).max_decoding_message_size(MAX_MESSAGE_BYTES))
            .add_service(
                BriefingServiceServer::new(briefing).max_decoding_message_size(MAX_MESSAGE_BYTES),
            );
        Ok(Services {
            router,
            health,
            stopping,
            dashboard,
        })
    }
}

async fn report_serving(health: &HealthReporter) {
    health
        .set_serving::<SubmissionServiceServer<SubmissionApi>>()
        .await;
    health
        .set_serving::<CatalogServiceServer<CatalogApi>>()
        .await;
    health
        .set_serving::<AggregateServiceServer<AggregateApi>>()
        .await;
    health
        .set_serving::<CallCenterServiceServer<CallCenterApi>>()
        .await;
    health.set_serving::<ReviewServiceServer<ReviewApi>>().await;
    health.set_serving::<AuditServiceServer<AuditApi>>().await;
    health.set_serving::<ExportServiceServer<ExportApi>>().await;
    health.set_serving::<AuthServiceServer<AuthApi>>().await;
    health
        .set_serving::<BriefingServiceServer<BriefingApi>>()
        .await;
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        // google.rpc error details, so tools can print those an upload result carries.
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

fn reflection_v1() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    reflection_builder()
        .build_v1()
        .map_err(|e| Error::internal(format!("reflection: {e}")))
}

fn reflection_v1alpha() -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
> {
    reflection_builder()
        .build_v1alpha()
        .map_err(|e| Error::internal(format!("reflection: {e}")))
}
