//! Snapshot bytes: a [`crate::codec`] frame (magic `KSNP`) whose body is the compiled
//! [`Model`], optionally followed by a 64-byte Ed25519 signature over header and body (header
//! flag bit 0). Layout in `docs/snapshot-format.md`. Decoding trusts nothing: the frame is
//! checked (length, SHA-256), then the signature against the trusted keys, then every index and
//! bound of the model.

use alloc::{string::String, vec::Vec};

use crate::codec::{self, push_uint, FrameError, Header, Message, FLAG_SIGNED};
use crate::compiled::Model;
use crate::sign::{SecretKey, Trust};

/// Magic of a snapshot frame.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"KSNP";
/// Snapshot format version this build reads and writes.
pub const SNAPSHOT_FORMAT: u16 = 1;

/// Why a snapshot was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Not a valid frame: wrong magic, version, length or checksum.
    Frame(FrameError),
    /// The header's model version differs from the body's.
    VersionMismatch {
        /// From the header.
        header: u32,
        /// From the body.
        body: u32,
    },
    /// The body decodes but breaks an invariant (an index out of range, a bad rule).
    Invalid(String),
    /// The snapshot has no signature and unsigned snapshots are not allowed.
    Unsigned,
    /// The signature does not verify against any trusted key.
    BadSignature {
        /// How many keys were tried.
        keys: usize,
    },
    /// A cold start from a snapshot older than the newest one the device applied.
    OlderThanApplied {
        /// Offered version.
        offered: u32,
        /// `Trust::min_version`.
        floor: u32,
    },
    /// The snapshot is not newer than the running model (a rollback).
    NotNewer {
        /// Offered version.
        offered: u32,
        /// Running version.
        running: u32,
    },
}

// The three corrupt cases share their prefix.
impl Message for SnapshotError {
    fn write_message(&self, out: &mut String) {
        use SnapshotError as E;
        if matches!(self, E::Frame(_) | E::VersionMismatch { .. } | E::Invalid(_)) {
            out.push_str("snapshot is corrupt: ");
        }
        match self {
            E::Frame(e) => e.write_message(out),
            E::VersionMismatch { header, body } => {
                out.push_str("header says model version ");
                push_uint(out, u64::from(*header));
                out.push_str(", body says ");
                push_uint(out, u64::from(*body));
            }
            E::Invalid(message) => out.push_str(message),
            E::Unsigned => {
                out.push_str("snapshot is unsigned, and this engine accepts only signed snapshots")
            }
            E::BadSignature { keys: 0 } => out.push_str(
                "this engine trusts no keys, so no signature verifies: create it with the brand's \
                 public keys (fromSignedSnapshot)",
            ),
            E::BadSignature { keys } => {
                out.push_str("snapshot signature does not verify against the ");
                push_uint(out, *keys as u64);
                out.push_str(" trusted key(s): the bytes were changed or signed with another key");
            }
            E::OlderThanApplied { offered, floor } => {
                out.push_str("snapshot version ");
                push_uint(out, u64::from(*offered));
                out.push_str(" is older than version ");
                push_uint(out, u64::from(*floor));
                out.push_str(", the newest this device has applied");
            }
            E::NotNewer { offered, running } => {
                out.push_str("snapshot version ");
                push_uint(out, u64::from(*offered));
                out.push_str(" is not newer than the running version ");
                push_uint(out, u64::from(*running));
            }
        }
    }
}

codec::display_by_message!(SnapshotError);

impl core::error::Error for SnapshotError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SnapshotError::Frame(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FrameError> for SnapshotError {
    fn from(e: FrameError) -> Self {
        SnapshotError::Frame(e)
    }
}

/// Encodes a compiled model, unsigned.
pub fn encode(model: &Model) -> Vec<u8> {
    codec::encode(SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, model.version, model)
}

/// Encodes a compiled model and signs it: flag bit 0 set, then the Ed25519 signature of the
/// header and body appended.
pub fn encode_signed(model: &Model, key: &SecretKey) -> Vec<u8> {
    let mut out =
        codec::encode_with_flags(SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, FLAG_SIGNED, model.version, model);
    let sig = key.sign(&out);
    out.extend_from_slice(&sig);
    out
}

/// A snapshot that passed every check of [`verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The model.
    pub model: Model,
    /// Index in [`Trust::snapshot_keys`] of the key that signed it; `None` for an unsigned
    /// snapshot that the policy allowed.
    pub key: Option<usize>,
}

/// What `inspect` shows of a snapshot's frame, without trusting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// The header.
    pub header: Header,
    /// Body bytes.
    pub body_len: usize,
    /// Whether a signature trailer is present.
    pub signed: bool,
}

/// Checks the frame (magic, flags, format, lengths, checksum) without decoding the body.
pub fn parts(bytes: &[u8]) -> Result<Parts, SnapshotError> {
    let frame = codec::split(bytes, SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, "Kairos snapshot")?;
    Ok(Parts { header: frame.header, body_len: frame.body.len(), signed: frame.signature.is_some() })
}

/// Checks a snapshot against a trust policy and decodes it: the frame first, then the signature
/// (before the body is parsed), then the body and its invariants. A signed snapshot must verify
/// against one of `trust.snapshot_keys`; an unsigned one passes only when `trust.allow_unsigned`.
pub fn verify(bytes: &[u8], trust: &Trust) -> Result<Verified, SnapshotError> {
    checked(bytes, Some(trust))
}

/// Whether the snapshot is signed by one of `keys` (for `inspect`); `None` when unsigned or
/// not a valid frame.
pub fn signed_by(bytes: &[u8], keys: &[crate::sign::PublicKey]) -> Option<Option<usize>> {
    let frame = codec::split(bytes, SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, "Kairos snapshot").ok()?;
    frame.signature.map(|sig| Trust::find(keys, frame.signed_bytes, sig))
}

/// Reads only the header (for `inspect`).
pub fn header(bytes: &[u8]) -> Result<Header, SnapshotError> {
    Ok(codec::read_header(bytes, SNAPSHOT_MAGIC, "Kairos snapshot")?)
}

/// Decodes and validates snapshot bytes, signed or not, WITHOUT checking the signature: for
/// tools and for hosts that checked the origin themselves. Devices use [`verify`].
pub fn decode(bytes: &[u8]) -> Result<Model, SnapshotError> {
    checked(bytes, None).map(|v| v.model)
}

/// [`verify`] against `trust`, or with no trust policy [`decode`]: both in one copy.
pub(crate) fn checked(bytes: &[u8], trust: Option<&Trust>) -> Result<Verified, SnapshotError> {
    let frame = codec::split(bytes, SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, "Kairos snapshot")?;
    // Not `ok_or(SnapshotError::..)`, which would build (and drop) the error on success.
    let key = match (trust, frame.signature) {
        (None, _) => None,
        (Some(trust), Some(sig)) => match Trust::find(&trust.snapshot_keys, frame.signed_bytes, sig) {
            Some(key) => Some(key),
            None => return Err(SnapshotError::BadSignature { keys: trust.snapshot_keys.len() }),
        },
        (Some(trust), None) if trust.allow_unsigned => None,
        (Some(_), None) => return Err(SnapshotError::Unsigned),
    };
    let model: Model = codec::decode_body(frame.body)?;
    let header = frame.header;
    if header.model_version != model.version {
        return Err(SnapshotError::VersionMismatch { header: header.model_version, body: model.version });
    }
    model.validate().map_err(SnapshotError::Invalid)?;
    Ok(Verified { model, key })
}
