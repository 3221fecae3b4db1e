//! Instants as whole microseconds since the Unix epoch: the precision both stores keep exactly.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// 0001-01-01 and 9999-12-31, the range of google.protobuf.Timestamp.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

impl Timestamp {
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the system clock is after 1970");
        Self(since_epoch.as_micros() as i64)
    }

    pub fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Parses protobuf's (seconds, nanos) pair, truncating to microseconds.
    pub fn from_parts(seconds: i64, nanos: i32) -> Result<Self, String> {
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) || !(0..1_000_000_000).contains(&nanos) {
            return Err("is not a valid timestamp".into());
        }
        Ok(Self(seconds * 1_000_000 + i64::from(nanos) / 1_000))
    }

    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn subsec_nanos(self) -> i32 {
        (self.0.rem_euclid(1_000_000) * 1_000) as i32
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }

    pub fn to_offset_date_time(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .expect("timestamps are validated to protobuf's range")
    }

    pub fn from_offset_date_time(value: time::OffsetDateTime) -> Self {
        Self((value.unix_timestamp_nanos() / 1_000) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_parts_before_and_after_the_epoch() {
        for (s, n) in [(0, 0), (1_700_000_000, 123_456_000), (-1, 999_999_000)] {
            let t = Timestamp::from_parts(s, n).unwrap();
            assert_eq!((t.seconds(), t.subsec_nanos()), (s, n));
        }
    }

    #[test]
    fn rejects_out_of_range_parts() {
        assert!(Timestamp::from_parts(0, -1).is_err());
        assert!(Timestamp::from_parts(0, 1_000_000_000).is_err());
        assert!(Timestamp::from_parts(MAX_SECONDS + 1, 0).is_err());
    }

    #[test]
    fn converts_to_and_from_offset_date_time() {
        let t = Timestamp::from_parts(1_700_000_000, 5_000).unwrap();
        assert_eq!(Timestamp::from_offset_date_time(t.to_offset_date_time()), t);
    }
}
