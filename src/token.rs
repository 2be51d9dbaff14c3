//! Signed trait tokens: traits the brand's server computed (member tier, birthday, CRM or CDP
//! segments such as `hipo`) travel to the device as a compact signed token, so a shopper cannot
//! grant herself VIP offers by editing what the page passes in.
//!
//! ```text
//! kt1.<payload>.<signature>
//! ```
//!
//! `payload` is the base64url (unpadded) of the postcard encoding ([`crate::codec::Wire`]) of
//! [`Claims`] (`sub`, `iat`,
//! `exp`, then the traits as name and value pairs); `signature` is the base64url of the 64-byte
//! Ed25519 signature of the ASCII text `kt1.<payload>`. `sub` is the shopper's pseudonymous id,
//! [`crate::profile::Profile::pid`]. Binary, not JSON: tokens stay short, and devices decode them
//! without a JSON parser. The format is in `docs/snapshot-format.md`.

use alloc::{format, string::String, vec::Vec};

#[cfg(feature = "std")]
use serde_json::Value as Json;

use crate::codec::{self, push_int, push_uint, wire_struct, Message, Reader, Wire, WireError, WireErrorKind};
use crate::profile::StoredTrait;
use crate::sign::{b64_decode, b64_encode, PublicKey, SecretKey, Trust, SIGNATURE_LEN};

/// Prefix (and version) of a token.
pub const TOKEN_PREFIX: &str = "kt1";

/// Longest token accepted, in bytes: a guard against absurd input.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
const _: () = assert!(MAX_TOKEN_LEN == 16384 && SIGNATURE_LEN == 64, "`open`'s messages name both");

/// What a token says.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct Claims {
    /// The shopper: the pseudonymous id ([`crate::profile::Profile::pid`]).
    pub sub: String,
    /// Issued at, ms since the epoch.
    pub iat: i64,
    /// Expires at (exclusive), ms since the epoch.
    pub exp: i64,
    /// The traits, by name: booleans, numbers, strings (also times and dates) and string lists.
    pub traits: Vec<(String, StoredTrait)>,
}

wire_struct!(Claims[sub, iat, exp, traits]);

/// Most traits in a token.
pub const MAX_TOKEN_TRAITS: usize = 256;

/// Traits for [`Claims`] from a JSON object (what `kairos token --traits` reads). `null` traits
/// are left out; objects and nested lists are refused, naming the trait.
#[cfg(feature = "std")]
pub fn traits_from_json(json: &Json) -> Result<Vec<(String, StoredTrait)>, String> {
    let Json::Object(obj) = json else {
        return Err(r#"traits must be a JSON object, like {"tier": "gold"}"#.into());
    };
    if obj.len() > MAX_TOKEN_TRAITS {
        return Err(format!("{} traits, at most {MAX_TOKEN_TRAITS}", obj.len()));
    }
    let mut out = Vec::with_capacity(obj.len());
    for (name, v) in obj {
        let t = match v {
            Json::Null => continue,
            Json::Bool(b) => StoredTrait::Bool(*b),
            Json::Number(n) => StoredTrait::Number(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => StoredTrait::String(s.clone()),
            Json::Array(items) => StoredTrait::List(
                items
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| format!("traits.{name}: a list holds only strings"))?,
            ),
            Json::Object(_) => return Err(format!("traits.{name}: objects are not traits")),
        };
        out.push((name.clone(), t));
    }
    Ok(out)
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not of the form `kt1.<payload>.<signature>`, or a part does not decode: what is wrong.
    Malformed(&'static str),
    /// The payload decodes from base64url but not as claims.
    Payload(WireError),
    /// The signature does not verify against any trusted token key.
    BadSignature {
        /// How many keys were tried.
        keys: usize,
    },
    /// The token has expired.
    Expired {
        /// Expiry.
        exp: i64,
        /// Now.
        now: i64,
    },
    /// The token is for another shopper.
    WrongUser {
        /// The shopper's pseudonymous id.
        expected: String,
        /// The token's `sub`.
        found: String,
    },
    /// The signed traits do not fit the model.
    Traits(String),
    /// Traits are not stored without consent.
    NoConsent,
}

impl Message for TokenError {
    fn write_message(&self, out: &mut String) {
        out.push_str("trait token ");
        match self {
            TokenError::Malformed(what) => {
                out.push_str("is malformed: ");
                out.push_str(what);
            }
            TokenError::Payload(e) => {
                out.push_str("is malformed: the payload is not valid claims: ");
                e.write_message(out);
            }
            TokenError::BadSignature { keys: 0 } => out.push_str(
                "cannot be verified: this engine trusts no keys (create it with the brand's public \
                 keys: fromSignedSnapshot)",
            ),
            TokenError::BadSignature { keys } => {
                out.push_str("signature does not verify against the ");
                push_uint(out, *keys as u64);
                out.push_str(" trusted key(s)");
            }
            TokenError::Expired { exp, now } => {
                out.push_str("expired at ");
                push_int(out, *exp);
                out.push_str(" ms, it is now ");
                push_int(out, *now);
                out.push_str(" ms");
            }
            TokenError::WrongUser { expected, found } => {
                out.push_str("is for user `");
                out.push_str(found);
                out.push_str("`, but this shopper is `");
                out.push_str(expected);
                out.push('`');
            }
            TokenError::Traits(e) => {
                out.push_str("traits are invalid: ");
                out.push_str(e);
            }
            TokenError::NoConsent => out.push_str("refused: no consent, so nothing is profiled"),
        }
    }
}

codec::display_by_message!(TokenError);

impl core::error::Error for TokenError {}

/// Signs `claims` into a token.
pub fn sign(claims: &Claims, key: &SecretKey) -> String {
    let payload = codec::to_bytes(claims);
    let signed = format!("{TOKEN_PREFIX}.{}", b64_encode(&payload));
    let sig = key.sign(signed.as_bytes());
    format!("{signed}.{}", b64_encode(&sig))
}

/// Checks the token's form, its signature against `keys` and its expiry at `now`, and returns
/// its claims. The caller checks the user.
pub fn verify(token: &str, keys: &[PublicKey], now: i64) -> Result<Claims, TokenError> {
    let claims = open(token, keys)?;
    if now >= claims.exp {
        return Err(TokenError::Expired { exp: claims.exp, now });
    }
    Ok(claims)
}

/// Checks the token's form and its signature against `keys`, and returns its claims, whatever
/// their expiry. For a token kept in stored state: its traits expire with `exp` anyway.
// Every refusal of the token's form is a static message: none allocates or formats here. No
// `ok_or(TokenError::..)` either: it would build, and drop, the error on success.
pub fn open(token: &str, keys: &[PublicKey]) -> Result<Claims, TokenError> {
    use TokenError::Malformed;
    let (signed, payload, sig) = form(token.trim()).map_err(Malformed)?;
    if Trust::find(keys, signed.as_bytes(), &sig).is_none() {
        return Err(TokenError::BadSignature { keys: keys.len() });
    }
    let Some(payload) = b64_decode(payload) else {
        return Err(Malformed("the payload is not base64url"));
    };
    let mut r = Reader::new(&payload);
    let claims = Claims::take(&mut r);
    match r.finish() {
        Ok(()) => {}
        Err(WireError { kind: WireErrorKind::Trailing(_), .. }) => {
            return Err(Malformed("the payload has bytes after the claims"))
        }
        Err(e) => return Err(TokenError::Payload(e)),
    }
    if claims.traits.len() > MAX_TOKEN_TRAITS {
        return Err(Malformed("too many traits"));
    }
    Ok(claims)
}

/// The token's signed text (`kt1.<payload>`), its payload (base64url) and its decoded
/// signature; or what is wrong with its form.
fn form(token: &str) -> Result<(&str, &str, Vec<u8>), &'static str> {
    if token.len() > MAX_TOKEN_LEN {
        return Err("longer than 16384 bytes");
    }
    let (prefix, signed, payload, sig) = parts(token).ok_or("expected `kt1.<payload>.<signature>`")?;
    if prefix != TOKEN_PREFIX {
        return Err("does not start with `kt1.`, the only version this build reads");
    }
    let sig = b64_decode(sig).ok_or("the signature is not base64url")?;
    if sig.len() != SIGNATURE_LEN {
        return Err("the signature is not 64 bytes long");
    }
    Ok((signed, payload, sig))
}

/// A token split at its first and last dot: the prefix, the signed text (`kt1.<payload>`), the
/// payload and the signature; `None` without two dots. By byte position, not by `split_once`
/// and `rsplit_once`, whose searchers were larger: a dot is ASCII, so every cut is at a char
/// boundary.
fn parts(token: &str) -> Option<(&str, &str, &str, &str)> {
    let first = token.bytes().position(|b| b == b'.')?;
    let last = token.bytes().rposition(|b| b == b'.')?;
    let (signed, sig) = token.split_at_checked(last)?;
    let (prefix, payload) = signed.split_at_checked(first)?;
    Some((prefix, signed, payload.get(1..)?, sig.get(1..)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use serde_json::json;

    fn claims() -> Claims {
        let traits =
            traits_from_json(&json!({"tier": "gold", "hipo": true, "segs": ["a"], "n": 2.5})).unwrap();
        Claims { sub: "abc".into(), iat: 1_000, exp: 2_000, traits }
    }

    #[test]
    fn round_trip_and_refusals() {
        let sk = SecretKey::from_seed(&[3; 32]);
        let pk = sk.public();
        let t = sign(&claims(), &sk);
        assert!(t.starts_with("kt1."));
        assert_eq!(verify(&t, &[pk], 1_500).unwrap(), claims());
        assert_eq!(verify(&t, &[pk], 2_000).unwrap_err(), TokenError::Expired { exp: 2_000, now: 2_000 });
        assert_eq!(open(&t, &[pk]).unwrap(), claims(), "open does not check the expiry");
        let other = SecretKey::from_seed(&[4; 32]).public();
        assert_eq!(verify(&t, &[other], 1_500).unwrap_err(), TokenError::BadSignature { keys: 1 });
        assert_eq!(verify(&t, &[], 1_500).unwrap_err(), TokenError::BadSignature { keys: 0 });
        // Every changed character is refused.
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(b).unwrap();
            if bad != t {
                assert!(verify(&bad, &[pk], 1_500).is_err(), "change at {i} accepted");
            }
        }
        for n in 0..t.len() {
            assert!(verify(&t[..n], &[pk], 1_500).is_err());
        }
        assert_eq!(
            verify("kt2.a.b", &[pk], 0).unwrap_err().to_string(),
            "trait token is malformed: does not start with `kt1.`, the only version this build reads"
        );
        assert!(matches!(verify("nonsense", &[pk], 0), Err(TokenError::Malformed(_))));
        let long = format!("kt1.{}.b", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(verify(&long, &[pk], 0).unwrap_err(), TokenError::Malformed("longer than 16384 bytes"));
        let garbage = format!("kt1.{}", b64_encode(&[0xff]));
        let garbage = format!("{garbage}.{}", b64_encode(&sk.sign(garbage.as_bytes())));
        assert_eq!(
            verify(&garbage, &[pk], 0).unwrap_err().to_string(),
            "trait token is malformed: the payload is not valid claims: byte 1: expected a varint, but the input ends"
        );
        let (signed, _) = t.rsplit_once('.').unwrap();
        let short_sig = format!("{signed}.AAAA");
        assert_eq!(
            verify(&short_sig, &[pk], 0).unwrap_err().to_string(),
            "trait token is malformed: the signature is not 64 bytes long"
        );
    }

    #[test]
    fn parts_split_at_the_first_and_last_dot() {
        for t in ["kt1.a.b", "kt1.a.b.c", "..", "kt1..", "a", "a.b", "", ".", "é.ü.ö", "kt1.a.", "k.é"] {
            let old = t.rsplit_once('.').and_then(|(signed, sig)| {
                signed.split_once('.').map(|(prefix, payload)| (prefix, signed, payload, sig))
            });
            assert_eq!(parts(t), old, "{t}");
        }
    }

    #[test]
    fn json_traits_are_flat() {
        assert!(traits_from_json(&json!({"a": {"b": 1}})).unwrap_err().contains("traits.a"));
        assert!(traits_from_json(&json!({"a": [1]})).unwrap_err().contains("only strings"));
        assert!(traits_from_json(&json!([1])).is_err());
        assert_eq!(traits_from_json(&json!({"a": null})).unwrap(), vec![]);
    }
}
