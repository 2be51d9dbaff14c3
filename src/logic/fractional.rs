//! `fractional`: deterministic weighted bucketing, as OpenFeature flagd does it.
//!
//! The bucketing key is hashed with MurmurHash3 (x86, 32-bit, seed 0) over its UTF-8 bytes. The
//! hash, read as a signed 32-bit integer, is mapped to `[0, 100]` as `|hash| / (2^31 - 1) * 100`,
//! and the first bucket whose cumulative share `100 * weight / total` exceeds it wins. This is
//! flagd's long-standing ("v1") bucketing; see docs/rules.md.

use alloc::borrow::Cow;

use super::Value;
#[cfg(not(feature = "std"))]
use crate::float::F64Ext as _;

/// MurmurHash3, x86 32-bit variant.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let mut tail = data;
    while let Some((block, rest)) = tail.split_first_chunk::<4>() {
        h ^= mix(u32::from_le_bytes(*block));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
        tail = rest;
    }
    if !tail.is_empty() {
        let k = tail.iter().rev().fold(0_u32, |k, &b| (k << 8) | u32::from(b));
        h ^= mix(k);
    }
    // The length is mixed in modulo 2^32, as the reference does.
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Where `key` falls in `[0, 100]`.
pub(crate) fn bucket_of(key: &str) -> f64 {
    let hash = murmur3_x86_32(key.as_bytes(), 0) as i32;
    (i64::from(hash).abs() as f64) / f64::from(i32::MAX) * 100.0
}

/// One bucket `[name]` or `[name, weight]`: its name and whole weight (1 when not a number).
fn bucket(v: &Value) -> Option<(&Value, f64)> {
    let Value::Array(parts) = v else { return None };
    match parts.as_slice() {
        [name] => Some((name, 1.0)),
        [name, Value::Number(w)] if w.is_finite() && *w >= 0.0 => Some((name, w.trunc())),
        [_, Value::Number(_)] => None,
        [name, _] => Some((name, 1.0)),
        _ => None,
    }
}

/// The name of the bucket that `key` falls into; `None` when a bucket is malformed or the
/// weights add up to nothing.
pub(crate) fn pick<'v>(key: &str, buckets: &'v [Cow<'_, Value>]) -> Option<&'v Value> {
    let mut total = 0.0;
    for b in buckets {
        total += bucket(b)?.1;
    }
    if total <= 0.0 {
        return None;
    }
    let point = bucket_of(key);
    let mut end = 0.0;
    for b in buckets {
        let (name, weight) = bucket(b)?;
        end += 100.0 * weight / total;
        if point < end {
            return Some(name);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_reference_values() {
        // Known answers of the reference implementation (SMHasher's MurmurHash3_x86_32).
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_x86_32(&[0, 0, 0, 0], 0), 0x2362_f9de);
        assert_eq!(murmur3_x86_32(b"\x21\x43\x65\x87", 0x5082_edee), 0x2362_f9de);
    }

    #[test]
    fn malformed_buckets_pick_nothing() {
        let b = |v: Value| Cow::Owned(v);
        let named = |n: &str, w: f64| b(Value::Array(vec![Value::String(n.into()), Value::Number(w)]));
        assert_eq!(pick("k", &[named("a", 0.0)]), None);
        assert_eq!(pick("k", &[named("a", -1.0)]), None);
        assert_eq!(pick("k", &[b(Value::Null)]), None);
        assert!(pick("k", &[named("a", 1.0), named("b", f64::MAX)]).is_some());
    }
}
