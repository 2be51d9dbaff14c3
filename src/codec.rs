//! Framing and encoding of every byte format Kairos writes (snapshots and profile state).
//!
//! All binary encoding goes through this module. A frame is a fixed 48-byte header followed by a
//! body in postcard's wire format, written and read by [`wire`] (the [`Wire`] trait):
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | magic (`KSNP` for snapshots, `KST8` for state) |
//! | 4 | 2 | format version, little endian |
//! | 6 | 2 | flags, little endian: bit 0 = signed (a 64-byte Ed25519 trailer follows the body) |
//! | 8 | 4 | model version (snapshots) or zero, little endian |
//! | 12 | 4 | body length in bytes, little endian |
//! | 16 | 32 | SHA-256 of the body |
//!
//! The layout is written down in `docs/snapshot-format.md`.

use alloc::{string::String, vec::Vec};
use sha2::{Digest, Sha256};

pub mod json_check;
mod wire;
#[cfg(test)]
mod wire_tests;

pub(crate) use wire::{wire_enum, wire_struct};
pub use wire::{Reader, Wire, WireError, WireErrorKind, Writer};

/// Length of the frame header in bytes.
pub const HEADER_LEN: usize = 48;

/// Length of the signature trailer of a signed frame.
pub const SIGNATURE_LEN: usize = 64;

/// Header flag: a 64-byte Ed25519 signature over header and body follows the body.
pub const FLAG_SIGNED: u16 = 1;

/// Largest body a frame may declare (16 MiB): a guard against absurd lengths in hostile input.
pub const MAX_BODY_LEN: usize = 16 * 1024 * 1024;

/// What went wrong while reading a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than a header.
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The magic bytes are not the expected ones.
    BadMagic {
        /// Magic found.
        found: [u8; 4],
        /// Magic expected.
        expected: [u8; 4],
        /// What kind of frame was expected.
        what: &'static str,
    },
    /// The format version is not one this build reads.
    UnsupportedVersion {
        /// Version in the header.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// The body length in the header does not match the bytes present.
    LengthMismatch {
        /// Length from the header.
        declared: usize,
        /// Bytes after the header.
        actual: usize,
    },
    /// The header says signed but the bytes after the body are not a 64-byte signature.
    SignedLengthMismatch {
        /// Body length from the header.
        declared: usize,
        /// Body plus signature.
        expected: usize,
        /// Bytes after the header.
        actual: usize,
    },
    /// The SHA-256 of the body does not match the header.
    ChecksumMismatch,
    /// The reserved header bytes are not zero (frames that cannot be signed, such as state).
    ReservedNotZero,
    /// The header sets flag bits this build does not know.
    UnknownFlags(u16),
    /// The body did not decode.
    Body(WireError),
}

impl Message for FrameError {
    fn write_message(&self, out: &mut String) {
        match self {
            FrameError::TooShort { len } => {
                out.push_str("input is ");
                push_uint(out, *len as u64);
                out.push_str(" bytes, shorter than the 48-byte header");
                const _: () = assert!(HEADER_LEN == 48, "the message names HEADER_LEN");
            }
            FrameError::BadMagic { found, expected, what } => {
                out.push_str("magic is `");
                push_printable(out, found);
                out.push_str("`, expected `");
                push_printable(out, expected);
                out.push_str("`: this is not a ");
                out.push_str(what);
            }
            FrameError::UnsupportedVersion { found, supported } => {
                out.push_str("format version ");
                push_uint(out, u64::from(*found));
                out.push_str(" is not supported (this build reads version ");
                push_uint(out, u64::from(*supported));
                out.push(')');
            }
            FrameError::LengthMismatch { declared, .. }
            | FrameError::SignedLengthMismatch { declared, .. }
                if *declared > MAX_BODY_LEN =>
            {
                out.push_str("header declares a ");
                push_uint(out, *declared as u64);
                out.push_str("-byte body, over the 16 MiB (");
                push_uint(out, MAX_BODY_LEN as u64);
                out.push_str("-byte) limit");
                const _: () = assert!(MAX_BODY_LEN == 16 << 20, "the message names MAX_BODY_LEN");
            }
            FrameError::LengthMismatch { declared, actual } => {
                out.push_str("header declares a ");
                push_uint(out, *declared as u64);
                out.push_str("-byte body but ");
                push_uint(out, *actual as u64);
                out.push_str(" bytes follow");
            }
            FrameError::SignedLengthMismatch { declared, actual, .. } => {
                out.push_str("header declares a signed ");
                push_uint(out, *declared as u64);
                out.push_str("-byte body (and a 64-byte signature after it), but ");
                push_uint(out, *actual as u64);
                out.push_str(" bytes follow the header");
            }
            FrameError::ChecksumMismatch => {
                out.push_str("body checksum mismatch: the bytes are corrupt or truncated")
            }
            FrameError::ReservedNotZero => out.push_str(
                "reserved header bytes 6..8 are not zero: the header is corrupt or from a newer format",
            ),
            FrameError::UnknownFlags(flags) => {
                out.push_str("header flags ");
                push_uint(out, u64::from(*flags));
                out.push_str(" include unknown bits: the header is corrupt or from a newer format");
            }
            FrameError::Body(e) => {
                out.push_str("body does not decode: ");
                e.write_message(out);
            }
        }
    }
}

display_by_message!(FrameError);

impl core::error::Error for FrameError {}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Magic bytes.
    pub magic: [u8; 4],
    /// Format version.
    pub format: u16,
    /// Flags (bytes 6..8): [`FLAG_SIGNED`] or zero.
    pub flags: u16,
    /// Model version (snapshots), or zero.
    pub model_version: u32,
    /// Body length.
    pub body_len: u32,
    /// SHA-256 of the body.
    pub sha256: [u8; 32],
}

impl Header {
    /// Whether the frame carries a signature trailer.
    pub fn signed(&self) -> bool {
        self.flags & FLAG_SIGNED != 0
    }
}

/// A checked frame, split into its parts; the body is not decoded yet.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The header.
    pub header: Header,
    /// Header and body: the bytes a signature covers.
    pub signed_bytes: &'a [u8],
    /// The body.
    pub body: &'a [u8],
    /// The signature trailer, when the header says signed.
    pub signature: Option<&'a [u8; SIGNATURE_LEN]>,
}

/// Lowercase hex of `bytes`, two digits a byte (ids and keys; also `{:016x}` of a `u64`'s
/// big-endian bytes), without the formatting machinery.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from(if nibble < 10 { b'0' + nibble } else { b'a' - 10 + nibble }));
        }
    }
    out
}

/// An error message written piece by piece into a `String`, without `core::fmt`: in the Wasm
/// module every `write!` is formatting code at its call site, and the formatter itself (padding,
/// integer formatting) comes along. The bindings show errors through this; `Display`, for native
/// users, is written on top of it (see [`display_by_message`]), so each text exists once.
pub trait Message {
    /// Appends the message to `out`.
    fn write_message(&self, out: &mut String);
}

impl Message for str {
    fn write_message(&self, out: &mut String) {
        out.push_str(self);
    }
}

/// `Display` for types that implement [`Message`]: the message, written once.
macro_rules! display_by_message {
    ($($t:ty),+ $(,)?) => {$(
        impl core::fmt::Display for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                $crate::codec::display(self, f)
            }
        }
    )+};
}
pub(crate) use display_by_message;

/// A [`Message`] as `Display` writes it (one body for every type's `fmt`).
pub(crate) fn display(m: &dyn Message, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    f.write_str(&message(m))
}

/// The message of `m` as a new `String` (one body for every type: through `dyn`).
pub fn message(m: &dyn Message) -> String {
    let mut s = String::new();
    m.write_message(&mut s);
    s
}

/// Appends an unsigned integer in decimal (message numbers: lengths, versions, indexes).
pub(crate) fn push_uint(out: &mut String, n: u64) {
    crate::logic::write_uint(n, out);
}

/// Appends an `i64` in decimal (times in ms, days).
pub(crate) fn push_int(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_uint(out, n.unsigned_abs());
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Encodes a value in the wire format.
pub fn to_bytes<T: Wire>(value: &T) -> Vec<u8> {
    let mut w = Writer::new();
    value.put(&mut w);
    w.into_bytes()
}

/// Decodes a value from the wire format, requiring that every byte is used.
pub fn from_bytes<T: Wire>(bytes: &[u8]) -> Result<T, WireError> {
    let mut r = Reader::new(bytes);
    let value = T::take(&mut r);
    r.finish().map(|()| value)
}

/// Encodes `body` and frames it (flags zero, no trailer).
pub fn encode<T: Wire>(magic: [u8; 4], format: u16, model_version: u32, body: &T) -> Vec<u8> {
    encode_with_flags(magic, format, 0, model_version, body)
}

/// Encodes `body` and frames it with the given header flags. A caller that sets
/// [`FLAG_SIGNED`] appends the signature over the returned bytes.
pub fn encode_with_flags<T: Wire>(
    magic: [u8; 4],
    format: u16,
    flags: u16,
    model_version: u32,
    body: &T,
) -> Vec<u8> {
    frame(magic, format, flags, model_version, &to_bytes(body))
}

/// Frames an encoded `body` (see [`encode_with_flags`]).
pub fn frame(magic: [u8; 4], format: u16, flags: u16, model_version: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&magic);
    out.extend_from_slice(&format.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&model_version.to_le_bytes());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&sha256(body));
    out.extend_from_slice(body);
    out
}

/// Reads and checks a frame header without decoding the body; only [`FLAG_SIGNED`] may be set.
pub fn read_header(bytes: &[u8], magic: [u8; 4], what: &'static str) -> Result<Header, FrameError> {
    // The fields of the table above: magic m, format f, flags g, model version v, length l.
    let Some(&[m0, m1, m2, m3, f0, f1, g0, g1, v0, v1, v2, v3, l0, l1, l2, l3, sha256 @ ..]) =
        bytes.first_chunk::<HEADER_LEN>()
    else {
        return Err(FrameError::TooShort { len: bytes.len() });
    };
    let found = [m0, m1, m2, m3];
    if found != magic {
        return Err(FrameError::BadMagic { found, expected: magic, what });
    }
    let flags = u16::from_le_bytes([g0, g1]);
    if flags & !FLAG_SIGNED != 0 {
        return Err(FrameError::UnknownFlags(flags));
    }
    Ok(Header {
        magic,
        format: u16::from_le_bytes([f0, f1]),
        flags,
        model_version: u32::from_le_bytes([v0, v1, v2, v3]),
        body_len: u32::from_le_bytes([l0, l1, l2, l3]),
        sha256,
    })
}

/// Checks a frame (magic, flags, version, length, checksum) and splits it into header, body and
/// signature trailer, without decoding the body or checking the signature.
pub fn split<'a>(
    bytes: &'a [u8],
    magic: [u8; 4],
    format: u16,
    what: &'static str,
) -> Result<Frame<'a>, FrameError> {
    split_since(bytes, magic, format, format, what)
}

/// [`split`] for a reader of every format version from `oldest` to `format`.
pub fn split_since<'a>(
    bytes: &'a [u8],
    magic: [u8; 4],
    oldest: u16,
    format: u16,
    what: &'static str,
) -> Result<Frame<'a>, FrameError> {
    split_frame(bytes, magic, oldest, format, what, true)
}

/// [`split_since`]; a frame that may not be `signable` refuses every flag, before any other check
/// of the body.
fn split_frame<'a>(
    bytes: &'a [u8],
    magic: [u8; 4],
    oldest: u16,
    format: u16,
    what: &'static str,
    signable: bool,
) -> Result<Frame<'a>, FrameError> {
    let header = read_header(bytes, magic, what)?;
    if !signable && header.flags != 0 {
        return Err(FrameError::ReservedNotZero);
    }
    if header.format < oldest || header.format > format {
        return Err(FrameError::UnsupportedVersion { found: header.format, supported: format });
    }
    let rest = bytes.get(HEADER_LEN..).unwrap_or(&[]);
    let declared = header.body_len as usize;
    let trailer = if header.signed() { SIGNATURE_LEN } else { 0 };
    if declared > MAX_BODY_LEN || declared.saturating_add(trailer) != rest.len() {
        return Err(if header.signed() {
            FrameError::SignedLengthMismatch { declared, expected: declared + trailer, actual: rest.len() }
        } else {
            FrameError::LengthMismatch { declared, actual: rest.len() }
        });
    }
    let (body, sig) = rest.split_at_checked(declared).unwrap_or((rest, &[]));
    if sha256(body) != header.sha256 {
        return Err(FrameError::ChecksumMismatch);
    }
    let signed_bytes = bytes.get(..HEADER_LEN + declared).unwrap_or(&[]);
    let signature = if header.signed() { sig.try_into().ok() } else { None };
    Ok(Frame { header, signed_bytes, body, signature })
}

/// Checks an unsigned frame (magic, version, length, checksum) and decodes its body. Frames that
/// are never signed (state) use this: any flag is an error.
pub fn decode<T: Wire>(
    bytes: &[u8],
    magic: [u8; 4],
    format: u16,
    what: &'static str,
) -> Result<(Header, T), FrameError> {
    let (header, body) = unsigned_since(bytes, magic, format, format, what)?;
    Ok((header, decode_body(body)?))
}

/// Checks an unsigned frame of any format version from `oldest` to `format` and returns its
/// header and body, for the caller to decode by version.
pub fn unsigned_since<'a>(
    bytes: &'a [u8],
    magic: [u8; 4],
    oldest: u16,
    format: u16,
    what: &'static str,
) -> Result<(Header, &'a [u8]), FrameError> {
    let frame = split_frame(bytes, magic, oldest, format, what, false)?;
    Ok((frame.header, frame.body))
}

/// Decodes a body, requiring that every byte is used.
pub fn decode_body<T: Wire>(body: &[u8]) -> Result<T, FrameError> {
    from_bytes(body).map_err(FrameError::Body)
}

/// Magic bytes as text for messages: a byte that is not printable ASCII shows as `.`.
fn push_printable(out: &mut String, magic: &[u8; 4]) {
    for &b in magic {
        out.push(if b.is_ascii_graphic() { char::from(b) } else { '.' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let bytes = encode(*b"TEST", 1, 7, &(1u32, "hello".to_string()));
        let (h, v): (Header, (u32, String)) = decode(&bytes, *b"TEST", 1, "test frame").unwrap();
        assert_eq!(h.model_version, 7);
        assert_eq!(v, (1, "hello".to_string()));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            let r: Result<(Header, (u32, String)), _> = decode(&bad, *b"TEST", 1, "test frame");
            // The model version is not covered by the checksum; every other byte is.
            if (8..12).contains(&i) {
                assert!(r.is_ok());
            } else {
                assert!(r.is_err(), "flip at {i} accepted");
            }
        }
        for n in 0..bytes.len() {
            let r: Result<(Header, (u32, String)), _> = decode(&bytes[..n], *b"TEST", 1, "test frame");
            assert!(r.is_err());
        }
    }

    #[test]
    fn flags_and_signature_trailer() {
        let mut bytes = encode_with_flags(*b"TEST", 1, FLAG_SIGNED, 7, &5u8);
        // Signed but no trailer yet.
        let err = split(&bytes, *b"TEST", 1, "test frame").unwrap_err();
        assert!(
            matches!(err, FrameError::SignedLengthMismatch { declared: 1, expected: 65, actual: 1 }),
            "{err}"
        );
        bytes.extend_from_slice(&[9; SIGNATURE_LEN]);
        let frame = split(&bytes, *b"TEST", 1, "test frame").unwrap();
        assert_eq!(frame.body, &[5]);
        assert_eq!(frame.signed_bytes.len(), HEADER_LEN + 1);
        assert_eq!(frame.signature, Some(&[9; SIGNATURE_LEN]));
        // Frames that are never signed (state) refuse the flag.
        assert_eq!(decode::<u8>(&bytes, *b"TEST", 1, "test frame").unwrap_err(), FrameError::ReservedNotZero);
        let unknown = encode_with_flags(*b"TEST", 1, 2, 7, &5u8);
        assert_eq!(
            split(&unknown, *b"TEST", 1, "test frame").unwrap_err().to_string(),
            "header flags 2 include unknown bits: the header is corrupt or from a newer format"
        );
    }

    #[test]
    fn messages_with_small_integers() {
        let e = FrameError::UnsupportedVersion { found: 65_535, supported: 1 };
        assert_eq!(e.to_string(), "format version 65535 is not supported (this build reads version 1)");
        let e = crate::profile::window::StateError::TooManyValues { len: 300, max: 256 };
        assert_eq!(e.to_string(), "300 distinct values stored, the feature keeps at most 256");
        let e = crate::profile::window::StateError::OutOfRange { day: -3, lo: -2_147_483_655, hi: 4 };
        assert_eq!(e.to_string(), "day -3 is outside the kept days -2147483655..=4");
        let e = crate::token::TokenError::Expired { exp: 1_728_000_000_000, now: 1_728_000_000_001 };
        assert_eq!(e.to_string(), "trait token expired at 1728000000000 ms, it is now 1728000000001 ms");
    }

    #[test]
    fn push_int_writes_every_i64() {
        for v in [0, 7, -7, 10, -10, 1_728_000_000_000, i64::MAX, i64::MIN, i64::MIN + 1] {
            let mut s = String::new();
            push_int(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x0a, 0xff, 0]), "0aff00");
        for v in [0, 1, 0xdead_beef, u64::MAX] {
            assert_eq!(hex(&v.to_be_bytes()), format!("{v:016x}"));
        }
    }

    /// Review finding A2: an over-limit body was reported as "header declares a N-byte body but
    /// N bytes follow", which contradicts itself.
    #[test]
    fn a_body_over_the_limit_names_the_limit() {
        let body = vec![0u8; MAX_BODY_LEN + 1];
        let bytes = frame(*b"TEST", 1, 0, 1, &body);
        let err = split(&bytes, *b"TEST", 1, "test frame").unwrap_err();
        assert_eq!(
            err.to_string(),
            "header declares a 16777217-byte body, over the 16 MiB (16777216-byte) limit"
        );
        let mut signed = frame(*b"TEST", 1, FLAG_SIGNED, 1, &body);
        signed.extend_from_slice(&[0; SIGNATURE_LEN]);
        let err = split(&signed, *b"TEST", 1, "test frame").unwrap_err();
        assert_eq!(
            err.to_string(),
            "header declares a 16777217-byte body, over the 16 MiB (16777216-byte) limit"
        );
        // At the limit the length check passes (the checksum is what fails here).
        let mut at = frame(*b"TEST", 1, 0, 1, &body[..MAX_BODY_LEN]);
        at[HEADER_LEN] ^= 1;
        assert_eq!(split(&at, *b"TEST", 1, "test frame").unwrap_err(), FrameError::ChecksumMismatch);
    }

    #[test]
    fn wrong_magic_names_the_kind() {
        let bytes = encode(*b"KST8", 1, 0, &0u8);
        let err = decode::<u8>(&bytes, *b"KSNP", 1, "Kairos snapshot").unwrap_err();
        assert_eq!(err.to_string(), "magic is `KST8`, expected `KSNP`: this is not a Kairos snapshot");
    }
}
