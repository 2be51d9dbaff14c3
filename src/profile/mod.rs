//! The shopper's on-device profile.
pub mod identity;
pub mod window;
