//! How domain values are stored: the numbers of stored enums, ids re-validated when read back,
//! instants, flag lists and count lists. Each is an sqlx type of both backends, so binds and
//! `try_get` read the same in every dialect, and a corrupt stored value surfaces as a decode
//! error (INTERNAL to the client), never as a panic or a silently wrong value.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgHasArrayType, PgTypeInfo};
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};
use time::OffsetDateTime;

use crate::domain::aapor::Disposition;
use crate::domain::cells::Stratum;
use crate::domain::channel::{Carrier, Channel};
use crate::domain::flags::Flag;
use crate::domain::grievance::{GrievanceStatus, Urgency};
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::review::{Decision, ReviewState};
use crate::domain::time::Timestamp;
use crate::domain::unit::UnitKind;

/// An enum stored as a small integer. The numbers are the schema's: never renumber one.
pub trait Coded: Copy + PartialEq + 'static {
    /// What the value is, for the error about an unknown number.
    const WHAT: &'static str;
    const CODES: &'static [(Self, i16)];
}

/// The stored number of `value`.
pub fn code<T: Coded>(value: T) -> i16 {
    T::CODES
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, code)| *code)
        .expect("every variant has a stored number")
}

/// The value a stored number stands for.
///
/// # Errors
/// A number no variant has: the row was not written by Canvass.
pub fn from_code<T: Coded>(stored: i16) -> Result<T, String> {
    T::CODES
        .iter()
        .find(|(_, code)| *code == stored)
        .map(|(v, _)| *v)
        .ok_or_else(|| format!("stored {} {stored} unknown", T::WHAT))
}

/// Implements [`Coded`] and the sqlx traits of both backends for an enum.
macro_rules! coded {
    ($ty:ident, $what:literal, [$($variant:ident = $code:literal),+ $(,)?]) => {
        impl Coded for $ty {
            const WHAT: &'static str = $what;
            const CODES: &'static [(Self, i16)] = &[$(($ty::$variant, $code)),+];
        }
        stored_as!($ty, i16, |value| code(*value), |stored| from_code(stored));
    };
}

/// Implements the sqlx traits of every backend for a domain type stored as `$repr`.
macro_rules! stored_as {
    ($ty:ty, $repr:ty, |$value:ident| $encode:expr, |$stored:ident| $decode:expr) => {
        impl<DB: Database> Type<DB> for $ty
        where
            $repr: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <$repr as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <$repr as Type<DB>>::compatible(ty)
            }
        }
        impl<'q, DB: Database> Encode<'q, DB> for $ty
        where
            $repr: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                let $value = self;
                <$repr as Encode<'q, DB>>::encode($encode, buf)
            }
        }
        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            $repr: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let $stored = <$repr as Decode<'r, DB>>::decode(value)?;
                Ok($decode?)
            }
        }
    };
}

coded!(
    UnitKind,
    "unit kind",
    [
        City = 1,
        Township = 2,
        Subdistrict = 3,
        Village = 4,
        Community = 5,
        Department = 6,
        Province = 7,
        Prefecture = 8,
        County = 9,
    ]
);
coded!(Channel, "channel", [Visit = 1, Phone = 2]);
coded!(
    Carrier,
    "carrier",
    [
        ChinaMobile = 1,
        ChinaTelecom = 2,
        ChinaUnicom = 3,
        ChinaBroadnet = 4,
        Other = 5,
    ]
);
coded!(
    ReviewState,
    "review state",
    [Received = 1, Flagged = 2, Approved = 3, Rejected = 4,]
);
coded!(Decision, "decision", [Approve = 1, Reject = 2]);
coded!(Urgency, "urgency", [Low = 1, Medium = 2, High = 3]);
coded!(
    GrievanceStatus,
    "grievance status",
    [Open = 1, InProgress = 2, Resolved = 3,]
);
coded!(
    Disposition,
    "disposition",
    [
        Complete = 1,
        Partial = 2,
        Refusal = 3,
        BreakOff = 4,
        NonContact = 5,
        AnsweringMachineHousehold = 6,
        Callback = 7,
        LanguageBarrier = 8,
        OtherNonInterview = 9,
        Busy = 10,
        NoAnswer = 11,
        AnsweringMachine = 12,
        UnknownEligibility = 13,
        FaxOrDataLine = 14,
        Disconnected = 15,
        NonResidential = 16,
        NoEligibleRespondent = 17,
        QuotaFilled = 18,
    ]
);

/// The carrier column of key columns, where NULL cannot stand: 0 for visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CarrierColumn(pub Option<Carrier>);

/// The stored number for "no carrier".
pub const NO_CARRIER: i16 = 0;

impl CarrierColumn {
    pub fn code(self) -> i16 {
        self.0.map_or(NO_CARRIER, code)
    }
}

stored_as!(
    CarrierColumn,
    i16,
    |column| column.code(),
    |stored| match stored {
        NO_CARRIER => Ok::<_, String>(CarrierColumn(None)),
        other => from_code(other).map(|c| CarrierColumn(Some(c))),
    }
);

/// Implements the sqlx traits of every backend for a domain type stored as text.
macro_rules! stored_text {
    ($ty:ty, |$stored:ident| $decode:expr) => {
        impl<DB: Database> Type<DB> for $ty
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }
        impl<'q, DB: Database> Encode<'q, DB> for $ty
        where
            for<'a> &'a str: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }
        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let $stored = <&str as Decode<'r, DB>>::decode(value)?;
                Ok($decode?)
            }
        }
    };
}

/// Ids are re-validated when read back; failure means corrupted data.
fn stored_id<T>(stored: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, String> {
    parse(stored).map_err(|e| format!("stored id {stored:?}: {e}"))
}

stored_text!(UnitId, |stored| stored_id(stored, UnitId::parse));
stored_text!(CampaignId, |stored| stored_id(stored, CampaignId::parse));
stored_text!(QuestionnaireId, |stored| stored_id(
    stored,
    QuestionnaireId::parse
));
// Respondent attributes relevant to weighting, in their canonical text form.
stored_text!(Stratum, |stored| Ok::<_, String>(Stratum::from_stored(
    stored.to_owned()
)));

/// A submission's quality flags: their names joined by commas, empty for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags(pub Vec<Flag>);

impl Flags {
    pub fn encode(flags: &[Flag]) -> String {
        flags.iter().map(|f| f.name()).collect::<Vec<_>>().join(",")
    }
}

stored_as!(
    Flags,
    String,
    |flags| Flags::encode(&flags.0),
    |stored| Ok::<_, String>(Flags(
        stored.split(',').filter_map(Flag::from_name).collect()
    ))
);

/// Implements the sqlx traits of one backend for a domain type stored there as `$repr`.
macro_rules! stored_in {
    ($db:ty, $ty:ty, $repr:ty, |$value:ident| $encode:expr, |$stored:ident| $decode:expr) => {
        impl Type<$db> for $ty {
            fn type_info() -> <$db as Database>::TypeInfo {
                <$repr as Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as Database>::TypeInfo) -> bool {
                <$repr as Type<$db>>::compatible(ty)
            }
        }
        impl Encode<'_, $db> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                let $value = self;
                <$repr as Encode<$db>>::encode($encode, buf)
            }
        }
        impl<'r> Decode<'r, $db> for $ty {
            fn decode(value: <$db as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let $stored = <$repr as Decode<'r, $db>>::decode(value)?;
                Ok($decode?)
            }
        }
    };
}

// Instants: whole microseconds in SQLite, `timestamptz` in PostgreSQL.
stored_in!(Sqlite, Timestamp, i64, |t| t.as_micros(), |micros| Ok::<
    _,
    String,
>(
    Timestamp::from_micros(micros)
));
stored_in!(
    Postgres,
    Timestamp,
    OffsetDateTime,
    |t| t.to_offset_date_time(),
    |at| Ok::<_, String>(Timestamp::from_offset_date_time(at))
);

impl PgHasArrayType for Timestamp {
    fn array_type_info() -> PgTypeInfo {
        <OffsetDateTime as PgHasArrayType>::array_type_info()
    }
}

/// A list of whole numbers (an aggregate row's moments or top-three counts): a JSON array in
/// SQLite, which has no arrays, and `int8[]` in PostgreSQL, whose `add_moments` sums them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub Vec<i64>);

impl Counts {
    pub fn json(numbers: &[i64]) -> String {
        serde_json::to_string(numbers).expect("numbers always serialise")
    }

    /// Reads the JSON array SQLite keeps.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text)
            .map(Counts)
            .map_err(|e| format!("stored counts: {e}"))
    }
}

stored_in!(Sqlite, Counts, String, |c| Counts::json(&c.0), |text| {
    Counts::from_json(&text)
});
stored_in!(Postgres, Counts, Vec<i64>, |c| c.0.clone(), |numbers| Ok::<
    _,
    String,
>(
    Counts(numbers)
));

/// A stored 32-byte hash.
pub fn hash32(stored: Vec<u8>, what: &str) -> crate::error::Result<[u8; 32]> {
    stored
        .try_into()
        .map_err(|_| crate::error::Error::internal(format!("stored {what} is not 32 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_numbers_round_trip_and_unknown_ones_are_errors() {
        for kind in UnitKind::ALL {
            assert_eq!(from_code::<UnitKind>(code(kind)), Ok(kind));
        }
        let levels = [UnitKind::Province, UnitKind::Prefecture, UnitKind::County];
        assert_eq!(levels.map(code), [7, 8, 9]);
        for d in Disposition::ALL {
            assert_eq!(from_code::<Disposition>(code(d)), Ok(d));
        }
        assert_eq!(code(Disposition::QuotaFilled), 18);
        assert!(from_code::<Disposition>(0).is_err());
        assert!(from_code::<ReviewState>(9).is_err());
    }

    #[test]
    fn flags_are_names_joined_by_commas() {
        let flags = vec![Flag::TooFast, Flag::DuplicateHousehold];
        let text = Flags::encode(&flags);
        assert_eq!(
            text.split(',')
                .filter_map(Flag::from_name)
                .collect::<Vec<_>>(),
            flags
        );
        assert_eq!(Flags::encode(&[]), "");
    }

    #[test]
    fn count_lists_read_back_from_json_and_refuse_anything_else() {
        let counts = [4, 1, 300, 23000];
        assert_eq!(
            Counts::from_json(&Counts::json(&counts)),
            Ok(Counts(counts.to_vec()))
        );
        assert!(Counts::from_json("not json").is_err());
        assert!(Counts::from_json("[1, 2.5]").is_err());
    }
}
