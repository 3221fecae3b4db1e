//! The crate's one error type and its single mapping onto gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The google.rpc `ErrorInfo.domain` of every error Canvass raises.
const ERROR_DOMAIN: &str = "canvass.v1";

/// One offending request field, reported in a google.rpc `BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Collects every field violation of a request, so a client learns all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T>(&mut self, field: impl Into<String>, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, otherwise the `InvalidArgument` error naming every field.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }

    /// Turns values gathered under `check` into a result: `Ok` only when nothing was recorded.
    pub fn into_result<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Error> {
        self.finish()?;
        value().ok_or_else(|| Error::internal("validated value missing"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),

    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },

    /// A client-chosen id is taken (with other content, for submissions).
    #[error("{message}")]
    AlreadyExists {
        reason: &'static str,
        message: String,
    },

    /// The request is well-formed but the system is not in a state that allows it.
    #[error("{description}")]
    FailedPrecondition {
        violation_type: &'static str,
        subject: String,
        description: String,
    },

    #[error("unauthenticated: {0}")]
    Unauthenticated(String),

    #[error("permission denied: {0}")]
    PermissionDenied(String),

    /// A limit was reached (a call rate); the client may retry after `retry_after`.
    #[error("resource exhausted: {message}")]
    ResourceExhausted {
        message: String,
        retry_after: std::time::Duration,
    },

    /// A transient failure (the database is unreachable); clients may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),

    /// A bug or an unexpected failure; its text is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    pub fn precondition(
        violation_type: &'static str,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self::FailedPrecondition {
            violation_type,
            subject: subject.into(),
            description: description.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// Classifies a database error: lost connections and exhausted pools are transient.
    pub fn from_database(error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable("the database is unreachable".into()),
            sqlx::Error::Database(db) if is_transient_code(db.code().as_deref()) => {
                Self::Unavailable("the database is temporarily unavailable".into())
            }
            other => Self::Internal(format!("database: {other}")),
        }
    }
}

/// SQLite BUSY/LOCKED and PostgreSQL's connection, shutdown and serialization classes.
fn is_transient_code(code: Option<&str>) -> bool {
    match code {
        Some("5" | "6" | "40001" | "40P01" | "57P01" | "57P02" | "57P03") => true,
        Some(code) => code.starts_with("08"),
        None => false,
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Self::from_database(&error)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Internal(format!("migration: {error}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid request: {}", describe(&violations)),
                    details,
                )
            }
            Error::NotFound { kind, id } => Status::with_error_details(
                Code::NotFound,
                format!("{kind} {id:?} not found"),
                ErrorDetails::with_resource_info(kind, id, "", ""),
            ),
            Error::AlreadyExists { reason, message } => Status::with_error_details(
                Code::AlreadyExists,
                message,
                ErrorDetails::with_error_info(reason, ERROR_DOMAIN, []),
            ),
            Error::FailedPrecondition {
                violation_type,
                subject,
                description,
            } => Status::with_error_details(
                Code::FailedPrecondition,
                description.clone(),
                ErrorDetails::with_precondition_failure_violation(
                    violation_type,
                    subject,
                    description,
                ),
            ),
            Error::Unauthenticated(message) => Status::unauthenticated(message),
            Error::ResourceExhausted {
                message,
                retry_after,
            } => {
                // Whole milliseconds, rounded up: a client that waits as told is let through.
                let retry_after = std::time::Duration::from_millis(
                    retry_after.as_millis().saturating_add(1) as u64,
                );
                Status::with_error_details(
                    Code::ResourceExhausted,
                    message,
                    ErrorDetails::with_retry_info(Some(retry_after)),
                )
            }
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::Unavailable(message) => {
                tracing::warn!(%message, "request failed: service unavailable");
                Status::unavailable(message)
            }
            Error::Internal(message) => {
                let reference = uuid::Uuid::new_v4();
                tracing::error!(%reference, %message, "internal error");
                Status::internal(format!("internal error (reference {reference})"))
            }
        }
    }
}
