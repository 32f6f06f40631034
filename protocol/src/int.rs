//! Integer request fields that also accept integral JSON numbers written with a fraction
//! (`5.0`). JSON has one number type and JSON Schema counts `5.0` as an integer, so a client
//! (or a language whose numbers are floats) may send either; anything with a real fraction, or
//! out of the field's range, is still refused.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// `#[serde(default, deserialize_with = "crate::int::opt")]` on an `Option<integer>` field.
pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    struct Opt<T>(PhantomData<T>);
    impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for Opt<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer in range, or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(Int(PhantomData)).map(Some)
        }
    }
    d.deserialize_option(Opt(PhantomData))
}

struct Int<T>(PhantomData<T>);

impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for Int<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer in range")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // 2^63: every integral float below it in magnitude converts exactly
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if v.fract() != 0.0 || !v.is_finite() || v.abs() >= LIMIT {
            return Err(E::invalid_type(Unexpected::Float(v), &self));
        }
        if v < 0.0 {
            self.visit_i64(v as i64)
        } else {
            self.visit_u64(v as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::opt")]
        n: Option<u32>,
        #[serde(default, deserialize_with = "super::opt")]
        i: Option<i32>,
    }

    fn parse(s: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn integral_numbers_in_any_spelling_and_nothing_else() {
        let t = parse(r#"{"n": 5, "i": -3.0}"#).unwrap();
        assert_eq!((t.n, t.i), (Some(5), Some(-3)));
        let t = parse(r#"{"n": 7.0, "i": null}"#).unwrap();
        assert_eq!((t.n, t.i), (Some(7), None));
        assert_eq!(parse("{}").unwrap().n, None);
        for bad in [
            r#"{"n": 1.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": -1.0}"#,
            r#"{"n": 4294967296}"#,
            r#"{"i": 2147483648.0}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": "5"}"#,
            r#"{"n": true}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
