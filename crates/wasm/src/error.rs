//! Failures as real JavaScript `Error`s with a stable `code` property.

use alloc::string::String;
use kairos::codec::Message;
use kairos::engine::input::InputError;
use kairos::profile::StateError;
use kairos::SnapshotError;
use wasm_bindgen::JsValue;

use crate::convert::set_str;

/// The stable codes (also in `pkg/index.d.ts`).
pub mod code {
    /// Snapshot bytes that are not a valid snapshot (frame, checksum, version, content).
    pub const SNAPSHOT_CORRUPT: &str = "SNAPSHOT_CORRUPT";
    /// A valid snapshot whose model version is not newer than the running one.
    pub const SNAPSHOT_NOT_NEWER: &str = "SNAPSHOT_NOT_NEWER";
    /// State bytes that are corrupt, foreign or of another version.
    pub const STATE_INVALID: &str = "STATE_INVALID";
    /// A state of the shopper this engine erased (its `forgotten` request not yet drained).
    pub const STATE_ERASED: &str = "STATE_ERASED";
    /// An event that is not an object, has no known `type`, or a property of the wrong type.
    pub const EVENT_INVALID: &str = "EVENT_INVALID";
    /// A page context that is not an object or has a field of the wrong type.
    pub const CONTEXT_INVALID: &str = "CONTEXT_INVALID";
    /// A placement name the model does not define.
    pub const PLACEMENT_UNKNOWN: &str = "PLACEMENT_UNKNOWN";
    /// An offer id the model does not define.
    pub const OFFER_UNKNOWN: &str = "OFFER_UNKNOWN";
    /// Traits that are not an object, or a trait unknown or of the wrong type.
    pub const TRAITS_INVALID: &str = "TRAITS_INVALID";
    /// Unsigned traits (`setTraits`) on an engine that trusts token keys: traits must come as a
    /// signed token, unless the host allows unsigned traits (development).
    pub const TRAITS_UNSIGNED: &str = "TRAITS_UNSIGNED";
    /// An identifier kind or value that does not normalize.
    pub const IDENTITY_INVALID: &str = "IDENTITY_INVALID";
    /// The operation needs the shopper's consent.
    pub const NO_CONSENT: &str = "NO_CONSENT";
    /// `now` that is not a finite number of ms.
    pub const TIME_INVALID: &str = "TIME_INVALID";
    /// An argument of the wrong type (not one of the above).
    pub const ARGUMENT_INVALID: &str = "ARGUMENT_INVALID";
    /// A snapshot's signature is missing or not by a trusted key.
    pub const SNAPSHOT_SIGNATURE: &str = "SNAPSHOT_SIGNATURE";
    /// A trait token is malformed, forged, expired or for another shopper.
    pub const TOKEN_INVALID: &str = "TOKEN_INVALID";
    /// A public key is not in the `kairos-ed25519-public:` text form.
    pub const KEY_INVALID: &str = "KEY_INVALID";
}

/// A JavaScript `Error` named `KairosError` with `code`.
pub fn error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    // Through `Reflect.set` like every property: `Error::set_name` would be one more import.
    set_str(&e, "name", &JsValue::from_str("KairosError"));
    set_str(&e, "code", &JsValue::from_str(code));
    e.into()
}

/// An error with `e`'s message. (Through the core's `Message`, not `Display`: no `core::fmt` in
/// the module for error texts.)
pub fn described(code: &str, e: &dyn Message) -> JsValue {
    error(code, &kairos::codec::message(e))
}

/// An error whose message is `parts` one after the other.
pub fn joined(code: &str, parts: &[&str]) -> JsValue {
    let mut m = String::new();
    for p in parts {
        m.push_str(p);
    }
    error(code, &m)
}

/// An input error, with `fallback` as the code for malformed input at this call site.
pub fn input(e: &InputError, fallback: &str) -> JsValue {
    let c = match e {
        InputError::NoConsent(_) => code::NO_CONSENT,
        InputError::Identity(_) => code::IDENTITY_INVALID,
        InputError::BadTime => code::TIME_INVALID,
        InputError::UnsignedTraits => {
            return error(
                code::TRAITS_UNSIGNED,
                "setTraits: this engine trusts token keys, so traits come only through setTraitsToken \
                 (for development, pass { allowUnsignedTraits: true } to fromSignedSnapshot or sync)",
            )
        }
        InputError::Unknown { kind: "placement", .. } => code::PLACEMENT_UNKNOWN,
        InputError::Unknown { kind: "offer", .. } => code::OFFER_UNKNOWN,
        _ => fallback,
    };
    described(c, e)
}

/// A rejected snapshot.
pub fn snapshot(e: &SnapshotError) -> JsValue {
    let c = match e {
        SnapshotError::NotNewer { .. } | SnapshotError::OlderThanApplied { .. } => code::SNAPSHOT_NOT_NEWER,
        SnapshotError::Unsigned | SnapshotError::BadSignature { .. } => code::SNAPSHOT_SIGNATURE,
        _ => code::SNAPSHOT_CORRUPT,
    };
    described(c, e)
}

/// Rejected state.
pub fn state(e: &StateError) -> JsValue {
    let c = if matches!(e, StateError::Erased(_)) { code::STATE_ERASED } else { code::STATE_INVALID };
    described(c, e)
}

/// A rejected trait token.
pub fn token(e: &kairos::token::TokenError) -> JsValue {
    let c = match e {
        kairos::token::TokenError::NoConsent => code::NO_CONSENT,
        _ => code::TOKEN_INVALID,
    };
    described(c, e)
}
