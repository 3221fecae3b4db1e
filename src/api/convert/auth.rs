//! Token revocations on the wire.

use crate::domain::revocation::{NewRevocation, Revocation, RevocationTarget};
use crate::domain::time::Timestamp;
use crate::error::{Result, Violations};
use crate::proto::v1 as pb;
use crate::proto::v1::revoke_tokens_request::Target;

use super::timestamp_to_proto;

/// Longest token id or subject accepted (providers' ids are far shorter).
const MAX_NAME_CHARS: usize = 256;
const MAX_REASON_CHARS: usize = 2000;

fn name(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
    }
    Ok(value.to_owned())
}

/// A revocation as asked for; `now` is the default cut-off of a subject's revocation.
///
/// # Errors
/// INVALID_ARGUMENT naming every malformed field: no target, an empty id or subject, a
/// cut-off with a token id, a missing reason.
pub fn revocation_from_proto(
    request: pb::RevokeTokensRequest,
    now: Timestamp,
) -> Result<NewRevocation> {
    let mut v = Violations::new();
    let issued_before = match request.issued_before.as_ref() {
        None => Some(now),
        Some(t) => v.check("issued_before", Timestamp::from_parts(t.seconds, t.nanos)),
    };
    let target = match request.target {
        Some(Target::TokenId(id)) => {
            if request.issued_before.is_some() {
                v.add("issued_before", "applies to a subject's revocation only");
            }
            v.check("token_id", name(&id))
                .map(RevocationTarget::TokenId)
        }
        Some(Target::Subject(subject)) => v.check("subject", name(&subject)).and_then(|subject| {
            issued_before.map(|issued_before| RevocationTarget::Subject {
                subject,
                issued_before,
            })
        }),
        None => {
            v.add("target", "name a token_id or a subject");
            None
        }
    };
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() {
        v.add("reason", "is required: say why the tokens are revoked");
    } else if reason.chars().count() > MAX_REASON_CHARS {
        v.add(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        );
    }
    v.into_result(|| target.map(|target| NewRevocation { target, reason }))
}

pub fn revocation_to_proto(revocation: &Revocation) -> pb::Revocation {
    let (target, issued_before) = match &revocation.target {
        RevocationTarget::TokenId(id) => (pb::revocation::Target::TokenId(id.clone()), None),
        RevocationTarget::Subject {
            subject,
            issued_before,
        } => (
            pb::revocation::Target::Subject(subject.clone()),
            Some(timestamp_to_proto(*issued_before)),
        ),
    };
    pb::Revocation {
        target: Some(target),
        issued_before,
        reason: revocation.reason.clone(),
        revoked_by: revocation.revoked_by.clone(),
        revoke_time: Some(timestamp_to_proto(revocation.revoked_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: Option<Target>, reason: &str) -> pb::RevokeTokensRequest {
        pb::RevokeTokensRequest {
            target,
            issued_before: None,
            reason: reason.into(),
        }
    }

    fn fields(error: crate::error::Error) -> Vec<String> {
        match error {
            crate::error::Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_subjects_cut_off_defaults_to_now() {
        let now = Timestamp::from_micros(1_000_000);
        let r = revocation_from_proto(
            request(Some(Target::Subject("phone-7".into())), " lost "),
            now,
        )
        .unwrap();
        assert_eq!(
            r.target,
            RevocationTarget::Subject {
                subject: "phone-7".into(),
                issued_before: now
            }
        );
        assert_eq!(r.reason, "lost");
    }

    #[test]
    fn malformed_requests_name_their_fields() {
        let now = Timestamp::from_micros(0);
        let error = revocation_from_proto(request(None, ""), now).unwrap_err();
        assert_eq!(fields(error), ["target", "reason"]);
        let error = revocation_from_proto(request(Some(Target::TokenId(" ".into())), "x"), now)
            .unwrap_err();
        assert_eq!(fields(error), ["token_id"]);
        let mut with_cut_off = request(Some(Target::TokenId("t".into())), "x");
        with_cut_off.issued_before = Some(prost_types::Timestamp::default());
        assert_eq!(
            fields(revocation_from_proto(with_cut_off, now).unwrap_err()),
            ["issued_before"]
        );
    }
}
