//! Places on the ground: GPS fixes, unit areas and the distance between two points.

/// A GPS fix: coordinates in range, accuracy non-negative, nothing NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoLocation {
    pub latitude: f64,
    pub longitude: f64,
    pub accuracy_meters: f64,
}

/// Parses a latitude in degrees, from -90 to 90.
pub fn parse_latitude(value: f64) -> Result<f64, String> {
    parse_in_range(value, -90.0, 90.0)
}

/// Parses a longitude in degrees, from -180 to 180.
pub fn parse_longitude(value: f64) -> Result<f64, String> {
    parse_in_range(value, -180.0, 180.0)
}

/// Parses a GPS accuracy in metres.
pub fn parse_accuracy(value: f64) -> Result<f64, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err("must be a finite number of metres, at least 0".into())
    }
}

fn parse_in_range(value: f64, min: f64, max: f64) -> Result<f64, String> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be a number between {min} and {max}"))
    }
}

/// A unit's area: a centre and a radius.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub latitude: f64,
    pub longitude: f64,
    pub radius_meters: f64,
}

/// Great-circle distance in metres (haversine, mean Earth radius).
pub fn distance_meters(a_lat: f64, a_lon: f64, b_lat: f64, b_lon: f64) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (p1, p2) = (a_lat.to_radians(), b_lat.to_radians());
    let dp = (b_lat - a_lat).to_radians();
    let dl = (b_lon - a_lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_must_be_in_range_and_finite() {
        assert!(parse_latitude(90.0).is_ok());
        assert!(parse_latitude(90.5).is_err());
        assert!(parse_longitude(f64::NAN).is_err());
        assert!(parse_accuracy(-1.0).is_err());
    }

    #[test]
    fn distance_is_about_3_3_km_per_0_03_degrees_of_latitude() {
        let d = distance_meters(29.87, 121.55, 29.90, 121.55);
        assert!((d - 3_335.8).abs() < 5.0, "{d}");
    }
}
