//! Snapshot bytes: a [`crate::codec`] frame (magic `KSNP`) whose body is the compiled
//! [`Model`]. Layout in `docs/snapshot-format.md`. Decoding trusts nothing: the frame is checked
//! (length, SHA-256), then every index and bound of the model.

use crate::codec::{self, FrameError, Header};
use crate::compiled::Model;

/// Magic of a snapshot frame.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"KSNP";
/// Snapshot format version this build reads and writes.
pub const SNAPSHOT_FORMAT: u16 = 1;

/// Why a snapshot was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Not a valid frame: wrong magic, version, length or checksum.
    #[error("snapshot is corrupt: {0}")]
    Frame(#[from] FrameError),
    /// The header's model version differs from the body's.
    #[error("snapshot is corrupt: header says model version {header}, body says {body}")]
    VersionMismatch {
        /// From the header.
        header: u32,
        /// From the body.
        body: u32,
    },
    /// The body decodes but breaks an invariant (an index out of range, a bad rule).
    #[error("snapshot is corrupt: {0}")]
    Invalid(String),
    /// The snapshot is not newer than the running model (a rollback).
    #[error("snapshot version {offered} is not newer than the running version {running}")]
    NotNewer {
        /// Offered version.
        offered: u32,
        /// Running version.
        running: u32,
    },
}

/// Encodes a compiled model.
pub fn encode(model: &Model) -> Vec<u8> {
    codec::encode(SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, model.version, model)
}

/// Reads only the header (for `inspect`).
pub fn header(bytes: &[u8]) -> Result<Header, SnapshotError> {
    Ok(codec::read_header(bytes, SNAPSHOT_MAGIC, "Kairos snapshot")?)
}

/// Decodes and validates snapshot bytes.
pub fn decode(bytes: &[u8]) -> Result<Model, SnapshotError> {
    let (header, model): (Header, Model) =
        codec::decode(bytes, SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, "Kairos snapshot")?;
    if header.model_version != model.version {
        return Err(SnapshotError::VersionMismatch { header: header.model_version, body: model.version });
    }
    model.validate().map_err(SnapshotError::Invalid)?;
    Ok(model)
}
