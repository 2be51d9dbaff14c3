//! PLACEHOLDER until the profile branch merges.
use serde::{Deserialize, Serialize};
/// Kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdKind {
    /// Phone.
    Phone,
    /// Email.
    Email,
    /// External.
    External,
}
/// Error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad id")]
pub struct IdError;
/// Placeholder.
pub fn normalize(_kind: IdKind, raw: &str) -> Result<String, IdError> {
    Ok(raw.to_string())
}
/// Placeholder.
pub fn hashed_id(salt: &[u8], _kind: IdKind, n: &str) -> [u8; 32] {
    crate::codec::sha256(&[salt, n.as_bytes()].concat())
}
