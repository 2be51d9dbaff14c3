//! Pseudonymous identifiers: normalize a raw id, then keep only a salted SHA-256 of it.
//!
//! The profile never stores a raw phone number, email or external id. [`normalize`] turns what a
//! shopper typed into one canonical string, and [`hashed_id`] hashes that string with the brand's
//! salt. A brand's backend computes the same hash to match the shopper across platforms.
//!
//! # Hash input (part of the state format: must not change)
//!
//! ```text
//! SHA-256( u64_be(len(salt)) || salt || tag || 0x00 || normalized )
//! ```
//!
//! - `u64_be(len(salt))`: the salt's length in bytes, 8 bytes big endian, so any salt (even one
//!   holding zero bytes) is unambiguous;
//! - `tag`: the ASCII kind tag, [`IdKind::tag`]: `phone`, `email` or `external`;
//! - `normalized`: the UTF-8 output of [`normalize`].
//!
//! In Python: `sha256(len(salt).to_bytes(8, "big") + salt + b"phone" + b"\0" + n.encode()).hexdigest()`.
//!
//! # Errors and privacy
//!
//! [`IdError`] messages never contain the input: at most one offending character and counts. This
//! crate logs nothing; callers should not log raw ids either.

use alloc::{borrow::ToOwned, string::String};
use sha2::{Digest, Sha256};

/// Longest external id accepted, in bytes after trimming.
pub const MAX_EXTERNAL_LEN: usize = 128;

/// Longest email accepted, in bytes after trimming (the SMTP path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Most digits a phone number in international form may have (E.164).
const MAX_E164_DIGITS: usize = 15;

/// Fewest digits a phone number in international form may have.
const MIN_E164_DIGITS: usize = 8;

/// What kind of identifier a raw id is.
///
/// The wire encoding (variant index 0, 1, 2) is part of the state format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub enum IdKind {
    /// A phone number: the cross-platform matching key in China. Normalized to E.164.
    Phone,
    /// An email address. Trimmed, ASCII-lowercased.
    Email,
    /// An opaque id from another system (a CRM member number, a platform user id). Trimmed only.
    External,
}

crate::codec::wire_enum!(IdKind[Phone, Email, External]);

impl IdKind {
    /// The ASCII tag hashed with the id (see the module docs).
    pub const fn tag(self) -> &'static str {
        match self {
            IdKind::Phone => "phone",
            IdKind::Email => "email",
            IdKind::External => "external",
        }
    }

    /// How error messages name this kind.
    const fn noun(self) -> &'static str {
        match self {
            IdKind::Phone => "phone number",
            IdKind::Email => "email",
            IdKind::External => "external id",
        }
    }
}

/// Why a raw id was rejected. Messages never include the raw id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The id is empty or only whitespace.
    Empty {
        /// The kind of id, as named in messages (`phone number`, `email`, `external id`).
        kind: &'static str,
    },
    /// The id is longer than its kind allows.
    TooLong {
        /// The kind of id, as named in messages.
        kind: &'static str,
        /// Length in bytes after trimming.
        len: usize,
        /// Longest length accepted.
        max: usize,
    },
    /// A phone number holds a character that is not a digit, a leading `+` or a separator.
    PhoneCharacter {
        /// The offending character.
        ch: char,
        /// Its position, counting characters from 1, after trimming.
        position: usize,
    },
    /// A phone number has the wrong number of digits for the form it is written in.
    PhoneLength {
        /// The form recognised: `national`, `86-prefixed`, `+86`, `0086` or `international`.
        form: &'static str,
        /// Digits found (after the country code `86` for the China forms).
        digits: usize,
        /// What would be valid, e.g. `11`.
        expected: &'static str,
    },
    /// A number for China (+86) is not a mainland mobile: 11 digits starting `13` to `19`.
    NotChinaMobile {
        /// The form recognised: `national`, `86-prefixed`, `+86` or `0086`.
        form: &'static str,
    },
    /// An international number starts with the digit 0, which no country code does.
    PhoneCountryCode {
        /// The form recognised: `international` (written with `+` or `00`).
        form: &'static str,
    },
    /// An email does not have exactly one `@` with text on both sides.
    EmailShape,
    /// An email contains whitespace or a control character inside it.
    EmailCharacter,
}

impl crate::codec::Message for IdError {
    fn write_message(&self, out: &mut String) {
        use crate::codec::push_uint;
        match self {
            IdError::Empty { kind } => {
                out.push_str(kind);
                out.push_str(" is empty");
            }
            IdError::TooLong { kind, len, max } => {
                out.push_str(kind);
                out.push_str(" is ");
                push_uint(out, *len as u64);
                out.push_str(" bytes, longer than the ");
                push_uint(out, *max as u64);
                out.push_str("-byte limit");
            }
            IdError::PhoneCharacter { ch, position } => {
                out.push_str("phone number has `");
                out.push(*ch);
                out.push_str("` at character ");
                push_uint(out, *position as u64);
                out.push_str(": only digits, one leading `+`, spaces, `-`, `.` and parentheses are allowed");
            }
            IdError::PhoneLength { form, digits, expected } => {
                out.push_str("phone number in ");
                out.push_str(form);
                out.push_str(" form has ");
                push_uint(out, *digits as u64);
                out.push_str(" digits, expected ");
                out.push_str(expected);
            }
            IdError::NotChinaMobile { form } => {
                out.push_str("phone number in ");
                out.push_str(form);
                out.push_str(
                    " form is not a mainland china mobile: expected 11 digits starting with `13` to `19`",
                );
            }
            IdError::PhoneCountryCode { form } => {
                out.push_str("phone number in ");
                out.push_str(form);
                out.push_str(" form starts with `0` after the country prefix: no country code does");
            }
            IdError::EmailShape => out.push_str("email must contain exactly one `@` with text on both sides"),
            IdError::EmailCharacter => out.push_str("email contains whitespace or a control character"),
        }
    }
}

crate::codec::display_by_message!(IdError);

impl core::error::Error for IdError {}

/// Turns a raw id into its canonical form, the input of [`hashed_id`].
///
/// - [`IdKind::Phone`]: mainland China mobiles in common forms (`13812345678`, `+86 138 1234 5678`,
///   `+86-138-1234-5678`, `0086 13812345678`, `86 13812345678`, `(+86) 138 1234 5678`, full-width
///   digits, `＋` and spaces too) become `+8613812345678`. Other numbers written with `+` or `00` and
///   8 to 15 digits become `+` and their digits. Separators allowed: spaces, `-`, `.`, `(`, `)`.
/// - [`IdKind::Email`]: trimmed, ASCII letters lowercased; exactly one `@` with text on both sides,
///   no whitespace or control characters, at most [`MAX_EMAIL_LEN`] bytes.
/// - [`IdKind::External`]: trimmed, non-empty, at most [`MAX_EXTERNAL_LEN`] bytes, otherwise as given.
///
/// ```
/// use kairos::profile::identity::{normalize, IdKind};
/// assert_eq!(normalize(IdKind::Phone, "+86 138-1234-5678").as_deref(), Ok("+8613812345678"));
/// assert_eq!(normalize(IdKind::Email, " Nancy@Example.COM ").as_deref(), Ok("nancy@example.com"));
/// ```
pub fn normalize(kind: IdKind, raw: &str) -> Result<String, IdError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdError::Empty { kind: kind.noun() });
    }
    match kind {
        IdKind::Phone => normalize_phone(trimmed),
        IdKind::Email => normalize_email(trimmed),
        IdKind::External => {
            check_len(kind, trimmed, MAX_EXTERNAL_LEN)?;
            Ok(trimmed.to_owned())
        }
    }
}

/// The salted SHA-256 of a normalized id, as documented in the module docs.
///
/// `normalized` should come from [`normalize`]; this function hashes whatever it is given.
pub fn hashed_id(salt: &[u8], kind: IdKind, normalized: &str) -> [u8; 32] {
    // usize is at most 64 bits on every target Rust supports.
    let salt_len = u64::try_from(salt.len()).unwrap_or(u64::MAX);
    let mut hasher = Sha256::new();
    hasher.update(salt_len.to_be_bytes());
    hasher.update(salt);
    hasher.update(kind.tag().as_bytes());
    hasher.update([0u8]);
    hasher.update(normalized.as_bytes());
    hasher.finalize().into()
}

/// [`normalize`] then [`hashed_id`]: the only form of an id the profile keeps.
pub fn pseudonymous_id(salt: &[u8], kind: IdKind, raw: &str) -> Result<[u8; 32], IdError> {
    normalize(kind, raw).map(|n| hashed_id(salt, kind, &n))
}

fn check_len(kind: IdKind, s: &str, max: usize) -> Result<(), IdError> {
    if s.len() > max {
        return Err(IdError::TooLong { kind: kind.noun(), len: s.len(), max });
    }
    Ok(())
}

fn normalize_email(s: &str) -> Result<String, IdError> {
    check_len(IdKind::Email, s, MAX_EMAIL_LEN)?;
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(IdError::EmailCharacter);
    }
    // Bytes, not `split('@')` (whose searcher was inlined here): `@` is ASCII.
    let b = s.as_bytes();
    let ats = b.iter().filter(|&&c| c == b'@').count();
    if ats != 1 || b.first() == Some(&b'@') || b.last() == Some(&b'@') {
        return Err(IdError::EmailShape);
    }
    // ASCII only, so a backend in any language lowercases the same way.
    Ok(s.to_ascii_lowercase())
}

/// Digits of a phone number with separators removed, and whether it began with `+`.
struct PhoneDigits {
    plus: bool,
    // INVARIANT: only ASCII digits; at most `MAX_KEPT` of them, `count` counts all.
    digits: String,
    count: usize,
}

/// Digits kept while scanning; longer inputs are rejected on their count alone.
const MAX_KEPT: usize = 20;

fn scan_phone(s: &str) -> Result<PhoneDigits, IdError> {
    let mut out = PhoneDigits { plus: false, digits: String::new(), count: 0 };
    for (i, c) in s.chars().enumerate() {
        let c = fold_width(c);
        if c.is_ascii_digit() {
            out.count += 1;
            if out.digits.len() < MAX_KEPT {
                out.digits.push(c);
            }
        } else if c == '+' && !out.plus && out.count == 0 {
            out.plus = true;
        } else if !is_phone_separator(c) {
            return Err(IdError::PhoneCharacter { ch: c, position: i + 1 });
        }
    }
    Ok(out)
}

/// Maps full-width digits and signs (common with Chinese input methods) to ASCII.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFF01 + 0x21).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn is_phone_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '-' | '.' | '(' | ')' | '\u{00A0}' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

fn normalize_phone(s: &str) -> Result<String, IdError> {
    let p = scan_phone(s)?;
    let digits = p.digits.as_str();
    if p.plus {
        return international(digits, p.count, "+86");
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return international(rest, p.count.saturating_sub(2), "0086");
    }
    if p.count == 11 {
        return china_mobile(digits, "national");
    }
    if let Some(rest) = digits.strip_prefix("86") {
        if p.count == 13 {
            return china_mobile(rest, "86-prefixed");
        }
        return Err(IdError::PhoneLength {
            form: "86-prefixed",
            digits: p.count.saturating_sub(2),
            expected: AFTER_86,
        });
    }
    Err(IdError::PhoneLength { form: "national", digits: p.count, expected: "11" })
}

/// What a +86 number needs after its country code.
const AFTER_86: &str = "11 after `86`";

/// `digits` follow `+` or `00`; `count` is their full count; `china_form` names the +86 case.
fn international(digits: &str, count: usize, china_form: &'static str) -> Result<String, IdError> {
    if let Some(national) = digits.strip_prefix("86") {
        if count != 13 {
            return Err(IdError::PhoneLength {
                form: china_form,
                digits: count.saturating_sub(2),
                expected: AFTER_86,
            });
        }
        return china_mobile(national, china_form);
    }
    if !(MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&count) {
        return Err(IdError::PhoneLength { form: "international", digits: count, expected: "8 to 15" });
    }
    if digits.starts_with('0') {
        return Err(IdError::PhoneCountryCode { form: "international" });
    }
    // Concatenated, not formatted: no formatting machinery for a prefix.
    Ok("+".to_owned() + digits)
}

/// `national` has exactly 11 ASCII digits.
fn china_mobile(national: &str, form: &'static str) -> Result<String, IdError> {
    let b = national.as_bytes();
    let mobile = matches!((b.first(), b.get(1)), (Some(b'1'), Some(b'3'..=b'9')));
    if !mobile || b.len() != 11 {
        return Err(IdError::NotChinaMobile { form });
    }
    Ok("+86".to_owned() + national)
}

#[cfg(test)]
mod tests;
