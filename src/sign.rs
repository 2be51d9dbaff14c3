//! Ed25519 keys and signatures: the backend signs snapshots and trait tokens, the device checks
//! them (inside Wasm: mini-programs have no WebCrypto). Pure Rust, no randomness: a key pair is
//! made from a 32-byte seed the caller draws.
//!
//! Keys travel as text, one key per file (comment lines starting with `#` and blank lines are
//! ignored):
//!
//! ```text
//! kairos-ed25519-secret:<base64url of the 32-byte seed, no padding>
//! kairos-ed25519-public:<base64url of the 32-byte public key, no padding>
//! ```
//!
//! Verification makes `verify_strict`'s checks (rejects small-order keys and non-canonical
//! signatures), computed through curve25519-dalek; see [`PublicKey::verify`].

use alloc::{format, string::String, vec, vec::Vec};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

pub use crate::codec::SIGNATURE_LEN;

/// Prefix of a public key in text form.
pub const PUBLIC_PREFIX: &str = "kairos-ed25519-public:";
/// Prefix of a secret key in text form.
pub const SECRET_PREFIX: &str = "kairos-ed25519-secret:";

/// Why a key did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No line starts with the expected prefix.
    BadPrefix {
        /// The prefix expected.
        expected: &'static str,
        /// `public` or `secret`.
        what: &'static str,
    },
    /// The text after the prefix is not base64url.
    BadEncoding,
    /// The key has the wrong length.
    BadLength(usize),
    /// The bytes are not a usable Ed25519 public key.
    BadPoint,
}

impl crate::codec::Message for KeyError {
    fn write_message(&self, out: &mut String) {
        match self {
            KeyError::BadPrefix { expected, what } => {
                out.push_str("no line starts with `");
                out.push_str(expected);
                out.push_str("`: this is not a Kairos ");
                out.push_str(what);
                out.push_str(" key");
            }
            KeyError::BadEncoding => {
                out.push_str("the key is not valid base64url (unpadded, `A-Z a-z 0-9 - _`)")
            }
            KeyError::BadLength(n) => {
                out.push_str("the key is ");
                crate::codec::push_uint(out, *n as u64);
                out.push_str(" bytes, expected 32");
            }
            KeyError::BadPoint => out.push_str("the key is not a valid Ed25519 public key"),
        }
    }
}

crate::codec::display_by_message!(KeyError);

impl core::error::Error for KeyError {}

/// A public (verifying) key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PublicKey({})", self.to_text())
    }
}

impl PublicKey {
    /// A key from its 32 bytes; rejects bytes that are not a point or a weak (small-order) key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::BadPoint)?;
        if key.is_weak() {
            return Err(KeyError::BadPoint);
        }
        Ok(PublicKey(key))
    }

    /// Parses the text form `kairos-ed25519-public:...`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bytes = parse_text(text, PUBLIC_PREFIX, "public")?;
        PublicKey::from_bytes(&bytes)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The text form, one line without a newline.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", Base64UrlUnpadded::encode_string(self.0.as_bytes()))
    }

    /// A short id for logs and `inspect`: the first 8 bytes of the SHA-256 of the key, in hex.
    pub fn id(&self) -> String {
        let sum = crate::codec::sha256(self.0.as_bytes());
        sum.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `signature` is this key's signature of `message`: ed25519-dalek's `verify_strict`
    /// (`s` canonical, `R` a point, neither `R` nor the key of small order, and
    /// `[s]B - [k]A` encoding to `R`, with `k` the SHA-512 of `R`, `A` and the message), computed
    /// with the curve's constant-time multiplications: `verify_strict`'s variable-time one
    /// brings a panic path that formats through `Debug` (0.9 KB of the Wasm module).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest as _, Sha512};
        let Ok(sig) = <&[u8; SIGNATURE_LEN]>::try_from(signature) else { return false };
        let (Some(&r_bytes), Some(&s_bytes)) = (sig.first_chunk::<32>(), sig.last_chunk::<32>()) else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else { return false };
        let r = CompressedEdwardsY(r_bytes);
        let Some(r_point) = r.decompress() else { return false };
        let a = self.0.to_edwards();
        if r_point.is_small_order() || a.is_small_order() {
            return false;
        }
        let k = Scalar::from_hash(
            Sha512::new().chain_update(r_bytes).chain_update(self.0.as_bytes()).chain_update(message),
        );
        (EdwardsPoint::mul_base(&s) - a * k).compress() == r
    }
}

/// A secret (signing) key. Its `Debug` shows only the public half.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SecretKey(public {})", self.public().to_text())
    }
}

impl SecretKey {
    /// The key pair of a 32-byte seed (the caller draws it from a secure random source).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// Parses the text form `kairos-ed25519-secret:...`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        Ok(SecretKey::from_seed(&parse_text(text, SECRET_PREFIX, "secret")?))
    }

    /// The text form, one line without a newline.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", Base64UrlUnpadded::encode_string(&self.0.to_bytes()))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.0.sign(message).to_bytes()
    }
}

/// Which keys a device trusts, and whether it accepts unsigned snapshots or traits (development
/// only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// Keys whose snapshot signatures are accepted (several during a key rotation).
    pub snapshot_keys: Vec<PublicKey>,
    /// Keys whose trait tokens are accepted.
    pub token_keys: Vec<PublicKey>,
    /// Accept snapshots without a signature. For development only: a host must set it explicitly.
    pub allow_unsigned: bool,
    /// Accept traits without a token (`set_traits`, and unsigned traits in stored state) although
    /// token keys are set. For development only: once a brand signs traits, unsigned ones would
    /// let a shopper grant herself any trait.
    pub allow_unsigned_traits: bool,
    /// The newest model version this device has applied (the host stores it): a cold start
    /// from an older snapshot is refused, so a rollback does not survive a restart. 0 = none.
    pub min_version: u32,
}

impl Trust {
    /// Trusts `key` for both snapshots and trait tokens; unsigned snapshots are refused.
    pub fn key(key: PublicKey) -> Self {
        Trust { snapshot_keys: vec![key], token_keys: vec![key], ..Trust::default() }
    }

    /// No keys, unsigned snapshots accepted: development and tests.
    pub fn development() -> Self {
        Trust { allow_unsigned: true, ..Trust::default() }
    }

    /// Whether traits count without a token: when no token keys are set (the brand does not sign
    /// traits, so they come from the host) or when the host allows it explicitly.
    pub fn unsigned_traits_ok(&self) -> bool {
        self.token_keys.is_empty() || self.allow_unsigned_traits
    }

    /// Index of the first key in `keys` that verifies `signature` over `message`.
    pub fn find(keys: &[PublicKey], message: &[u8], signature: &[u8]) -> Option<usize> {
        keys.iter().position(|k| k.verify(message, signature))
    }
}

/// Base64url (unpadded) encoding, for tokens.
pub fn b64_encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Base64url (unpadded) decoding, for tokens: canonical text only, as `base64ct` decodes it
/// (no padding, no whitespace, zero trailing bits).
// Written out: the library's decoder is 2.8 KB of Wasm (constant-time, which public tokens and
// keys do not need); a proptest holds this one to it.
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone last character (6 bits) holds no byte; the bits left over must be zero.
    (bits < 6 && acc == 0).then_some(out)
}

fn parse_text(text: &str, prefix: &'static str, what: &'static str) -> Result<[u8; 32], KeyError> {
    // Comment and blank lines never start with a prefix: no need to skip them first. Split at
    // `\n` only: `trim` removes the `\r` of a `\r\n`, as `lines` would.
    let line = text
        .as_bytes()
        .split(|&b| b == b'\n')
        .find_map(|l| core::str::from_utf8(l).ok()?.trim().strip_prefix(prefix))
        .ok_or(KeyError::BadPrefix { expected: prefix, what })?;
    let bytes = b64_decode(line).ok_or(KeyError::BadEncoding)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::BadLength(bytes.len()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn keys_round_trip_as_text_and_sign() {
        let sk = SecretKey::from_seed(&[7; 32]);
        let pk = sk.public();
        let text = format!("# comment\n\n{}\n", sk.to_text());
        let sk2 = SecretKey::parse(&text).unwrap();
        assert_eq!(sk2.public(), pk);
        assert_eq!(PublicKey::parse(&pk.to_text()).unwrap(), pk);
        let crlf = format!("# kairos-ed25519-public:AAAA\r\n\r\n  {}  \r\n", pk.to_text());
        assert_eq!(PublicKey::parse(&crlf).unwrap(), pk);
        let sig = sk.sign(b"hello");
        assert!(pk.verify(b"hello", &sig));
        assert!(!pk.verify(b"hellp", &sig));
        assert!(!pk.verify(b"hello", &sig[..63]));
        assert!(!format!("{sk:?}").contains(&sk.to_text()));
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64_decode(""), Some(vec![]));
        assert_eq!(b64_decode("AA"), Some(vec![0]));
        assert_eq!(b64_decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(b64_encode(&[0xfb, 0xff]), "-_8");
        // Non-canonical trailing bits, padding, a lone last character, the standard alphabet.
        for bad in ["AB", "AAB", "AA==", "AAA=", "A", "AAAAA", "+/8", "A A", "AA\n"] {
            assert_eq!(b64_decode(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn base64url_decodes_as_base64ct(text in "[A-Za-z0-9_-]{0,11}[A-Za-z0-9_=+/ -]?", bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            proptest::prop_assert_eq!(b64_decode(&text), Base64UrlUnpadded::decode_vec(&text).ok());
            proptest::prop_assert_eq!(b64_decode(&b64_encode(&bytes)), Some(bytes));
        }
    }

    /// ed25519-dalek's `verify_strict`, what [`PublicKey::verify`] computes.
    fn strict(pk: &PublicKey, message: &[u8], sig: &[u8; 64]) -> bool {
        pk.0.verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig)).is_ok()
    }

    /// `sig` with `s` replaced by `s + ℓ` (the same scalar, not canonical).
    fn s_plus_order(sig: &[u8; 64]) -> [u8; 64] {
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut out = *sig;
        let mut carry = 0u16;
        for (i, l) in L.iter().enumerate() {
            let sum = u16::from(out[32 + i]) + u16::from(*l) + carry;
            out[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// The same verdict as `verify_strict` on honest signatures and on every kind of
        /// tampering: a flipped bit of the signature or message, a non-canonical `s`, a
        /// small-order `R`, and keys of small or mixed order.
        #[test]
        fn verify_is_verify_strict(
            seed in proptest::prelude::any::<[u8; 32]>(),
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            bit in 0usize..512,
            torsion in 0usize..8,
            s_random in proptest::prelude::any::<[u8; 32]>(),
        ) {
            use curve25519_dalek::constants::EIGHT_TORSION;
            let sk = SecretKey::from_seed(&seed);
            let pk = sk.public();
            let sig = sk.sign(&message);
            proptest::prop_assert!(pk.verify(&message, &sig));
            proptest::prop_assert!(strict(&pk, &message, &sig));
            let mut flipped = sig;
            flipped[bit / 8] ^= 1 << (bit % 8);
            proptest::prop_assert_eq!(pk.verify(&message, &flipped), strict(&pk, &message, &flipped));
            let mut other = message.clone();
            other.push(bit as u8);
            proptest::prop_assert_eq!(pk.verify(&other, &sig), strict(&pk, &other, &sig));
            let high_s = s_plus_order(&sig);
            proptest::prop_assert!(!pk.verify(&message, &high_s));
            proptest::prop_assert!(!strict(&pk, &message, &high_s));
            // A small-order R with an arbitrary (reduced) s.
            let mut small_r = sig;
            small_r[..32].copy_from_slice(EIGHT_TORSION[torsion].compress().as_bytes());
            small_r[32..].copy_from_slice(&s_random);
            small_r[63] &= 0x0f;
            proptest::prop_assert_eq!(pk.verify(&message, &small_r), strict(&pk, &message, &small_r));
            // Keys `from_bytes` refuses (small order) or accepts (mixed order), built directly.
            for a in [EIGHT_TORSION[torsion], pk.0.to_edwards() + EIGHT_TORSION[torsion]] {
                let key = PublicKey(VerifyingKey::from_bytes(a.compress().as_bytes()).unwrap());
                proptest::prop_assert_eq!(key.verify(&message, &sig), strict(&key, &message, &sig));
                proptest::prop_assert_eq!(key.verify(&message, &small_r), strict(&key, &message, &small_r));
            }
            // Signed for a mixed-order key `aB + T`: strict verification holds exactly when `kT`
            // vanishes (for a `T` of order 2, half the messages), so both verdicts occur.
            use curve25519_dalek::{edwards::EdwardsPoint, scalar::Scalar};
            use sha2::{Digest as _, Sha512};
            let (a, r) = (Scalar::from_bytes_mod_order(seed), Scalar::from_bytes_mod_order(s_random));
            let mixed = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[torsion]).compress();
            let big_r = EdwardsPoint::mul_base(&r).compress();
            let k = Scalar::from_hash(
                Sha512::new().chain_update(big_r.as_bytes()).chain_update(mixed.as_bytes()).chain_update(&message),
            );
            let mut forged = [0u8; 64];
            forged[..32].copy_from_slice(big_r.as_bytes());
            forged[32..].copy_from_slice((r + k * a).as_bytes());
            if let Ok(key) = VerifyingKey::from_bytes(mixed.as_bytes()).map(PublicKey) {
                let holds = strict(&key, &message, &forged);
                proptest::prop_assert_eq!(key.verify(&message, &forged), holds);
                if torsion == 0 {
                    proptest::prop_assert!(holds);
                }
            }
        }
    }

    /// The case only the small-order check decides: the identity as key and as `R`, with `s` = 0,
    /// satisfies `[s]B - [k]A = R` for every message (test audit: the proptest above never built
    /// it, and dropping the check passed every test). `from_bytes` refuses such a key anyway.
    #[test]
    fn the_identity_as_key_and_r_verifies_nothing() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let identity = EIGHT_TORSION[0].compress();
        let key = PublicKey(VerifyingKey::from_bytes(identity.as_bytes()).unwrap());
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(identity.as_bytes());
        for message in [&b""[..], b"any message"] {
            assert!(!strict(&key, message, &sig));
            assert!(!key.verify(message, &sig));
        }
    }

    #[test]
    fn bad_key_text_says_why() {
        let pk = SecretKey::from_seed(&[1; 32]).public().to_text();
        assert_eq!(
            SecretKey::parse(&pk).unwrap_err().to_string(),
            "no line starts with `kairos-ed25519-secret:`: this is not a Kairos secret key"
        );
        assert_eq!(PublicKey::parse("kairos-ed25519-public:!!").unwrap_err(), KeyError::BadEncoding);
        assert_eq!(PublicKey::parse("kairos-ed25519-public:AAAA").unwrap_err(), KeyError::BadLength(3));
        // The identity point is a weak key.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert_eq!(PublicKey::from_bytes(&id).unwrap_err(), KeyError::BadPoint);
    }
}
