//! The body encoding: postcard's stable 1.x wire format, written by hand.
//!
//! Snapshots, state and trait tokens were first written with serde and postcard; this module
//! writes and reads exactly the same bytes with far less code in the Wasm module (serde's
//! visitors monomorphize into a copy per type and per field). The format, as postcard defines it:
//!
//! | Rust type | Bytes |
//! |---|---|
//! | `bool` | one byte, `00` or `01` (anything else is refused) |
//! | `u8` | one byte |
//! | `u16`, `u32`, `u64`, lengths | varint: 7 bits a byte, low bits first, high bit set but on the last |
//! | `i32`, `i64` | zigzag (0, -1, 1, -2 become 0, 1, 2, 3), then varint |
//! | `f64` | 8 bytes, IEEE 754, little endian |
//! | `String` | varint byte length, then UTF-8 |
//! | `Vec<T>` | varint count, then the elements |
//! | `Option<T>` | `00` for none; `01` then the value |
//! | tuple, struct, `[u8; N]` | the fields in order, nothing else |
//! | enum | varint variant index (from 0, in declaration order), then the variant's fields |
//!
//! Decoding accepts exactly what postcard accepts: a varint may have redundant `80` groups but
//! no more bytes than its type needs (3 for `u16`, 5 for `u32`, 10 for `u64`), and its last
//! byte must not overflow the type.

use alloc::{borrow::ToOwned, boxed::Box, string::String, vec::Vec};

/// Most bytes reserved ahead for one sequence, whatever length it declares (serde's bound too).
const MAX_RESERVE: usize = 1024 * 1024;

/// Why bytes did not decode: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Offset in the input of the value that failed.
    pub at: usize,
    /// What went wrong.
    pub kind: WireErrorKind,
}

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireErrorKind {
    /// The input ends inside the value named.
    End(&'static str),
    /// A string or sequence declares more items (`len`) than there are bytes left (`left`).
    TooLong {
        /// What declared the length: `a string` or `a sequence`.
        what: &'static str,
        /// Declared length.
        len: usize,
        /// Bytes left after the length.
        left: usize,
    },
    /// A bool or option tag that is neither 0 nor 1.
    NotZeroOrOne(&'static str, u8),
    /// A varint longer than its type allows, or too large for it.
    Varint(&'static str),
    /// A string that is not valid UTF-8.
    Utf8,
    /// An enum variant index out of range.
    Variant {
        /// The enum.
        ty: &'static str,
        /// How many variants it has.
        count: usize,
        /// The index found.
        found: u32,
    },
    /// Bytes left over after the value.
    Trailing(usize),
    /// The value decoded but breaks an invariant.
    Invalid(String),
}

impl super::Message for WireError {
    fn write_message(&self, out: &mut String) {
        use super::push_uint;
        out.push_str("byte ");
        push_uint(out, self.at as u64);
        out.push_str(": ");
        match &self.kind {
            WireErrorKind::End(what) => {
                out.push_str("expected ");
                out.push_str(what);
                out.push_str(", but the input ends");
            }
            // The byte offset and the length say enough.
            WireErrorKind::TooLong { what, len, .. } => {
                out.push_str(what);
                out.push_str(" of length ");
                push_uint(out, *len as u64);
                out.push_str(" is longer than the rest of the input");
            }
            WireErrorKind::NotZeroOrOne(what, b) => {
                out.push_str("expected ");
                out.push_str(what);
                out.push_str(" (0 or 1), found ");
                push_uint(out, u64::from(*b));
            }
            WireErrorKind::Varint(ty) => {
                out.push_str("a varint is too long or too large for a `");
                out.push_str(ty);
                out.push('`');
            }
            WireErrorKind::Utf8 => out.push_str("a string is not valid UTF-8"),
            WireErrorKind::Variant { ty, found, .. } => {
                out.push('`');
                out.push_str(ty);
                out.push_str("` has no variant ");
                push_uint(out, u64::from(*found));
            }
            WireErrorKind::Trailing(n) => {
                push_uint(out, *n as u64);
                out.push_str(" trailing bytes after the value");
            }
            WireErrorKind::Invalid(message) => out.push_str(message),
        }
    }
}

super::display_by_message!(WireError);

impl core::error::Error for WireError {}

/// Reads values from a byte slice, front to back.
///
/// Reads never fail on the spot: the first error is recorded, the rest of the input is skipped,
/// and every later read returns a placeholder (zero, empty, the first variant). [`Reader::finish`]
/// reports the error. Decoding code is then a plain sequence of reads, with no error path (and no
/// drop of partly decoded values) after each field, which keeps the Wasm module small.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    error: Option<WireError>,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0, error: None }
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Whether a read failed.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The first error; otherwise fails if bytes are left over.
    #[inline(never)]
    pub fn finish(self) -> Result<(), WireError> {
        match (self.error, self.bytes.len().saturating_sub(self.pos)) {
            (Some(e), _) => Err(e),
            (None, 0) => Ok(()),
            (None, n) => Err(WireError { at: self.pos, kind: WireErrorKind::Trailing(n) }),
        }
    }

    /// Records an error (unless one is already recorded) and skips the rest of the input.
    #[cold]
    #[inline(never)]
    pub fn fail(&mut self, at: usize, kind: WireErrorKind) {
        if self.error.is_none() {
            self.error = Some(WireError { at, kind });
        }
        self.pos = self.bytes.len();
    }

    /// Records that the value starting at `at` decoded but breaks an invariant.
    pub fn reject(&mut self, at: usize, message: String) {
        self.fail(at, WireErrorKind::Invalid(message));
    }

    /// The next `n` bytes (`what` names them in the error); empty after an error.
    #[inline(never)]
    pub fn bytes(&mut self, n: usize, what: &'static str) -> &'a [u8] {
        let bytes = self.bytes;
        match self.pos.checked_add(n).and_then(|end| bytes.get(self.pos..end)) {
            Some(out) => {
                self.pos += n;
                out
            }
            None => {
                self.fail(self.pos, WireErrorKind::End(what));
                &[]
            }
        }
    }

    /// One byte; 0 after an error.
    #[inline(never)]
    pub fn u8(&mut self) -> u8 {
        self.bytes(1, "a byte").first().copied().unwrap_or(0)
    }

    /// A byte that must be 0 or 1.
    #[inline(never)]
    fn zero_or_one(&mut self, what: &'static str) -> bool {
        let at = self.pos;
        match self.u8() {
            0 => false,
            1 => true,
            b => {
                self.fail(at, WireErrorKind::NotZeroOrOne(what, b));
                false
            }
        }
    }

    /// A bool.
    pub fn bool(&mut self) -> bool {
        self.zero_or_one("a bool")
    }

    /// The tag of an `Option`: whether a value follows.
    pub fn option(&mut self) -> bool {
        self.zero_or_one("an option tag")
    }

    /// A varint of a type `bits` wide, refused as postcard refuses it: longer than the type
    /// needs, or with a last byte that overflows it. 0 after an error.
    #[inline(never)]
    fn varint(&mut self, bits: u32, ty: &'static str) -> u64 {
        let at = self.pos;
        let max_len = bits.div_ceil(7);
        let last_max = (1u32 << (bits % 7)) - 1;
        let mut out = 0u64;
        for i in 0..max_len {
            let Some(&b) = self.bytes.get(self.pos) else {
                self.fail(self.pos, WireErrorKind::End("a varint"));
                return 0;
            };
            self.pos += 1;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i + 1 == max_len && u32::from(b) > last_max {
                    break;
                }
                return out;
            }
        }
        self.fail(at, WireErrorKind::Varint(ty));
        0
    }

    /// A `u16` varint.
    pub fn u16(&mut self) -> u16 {
        self.varint(16, "u16") as u16
    }

    /// A `u32` varint.
    pub fn u32(&mut self) -> u32 {
        self.varint(32, "u32") as u32
    }

    /// A `u64` varint.
    pub fn u64(&mut self) -> u64 {
        self.varint(64, "u64")
    }

    /// A zigzag `i32`.
    pub fn i32(&mut self) -> i32 {
        unzigzag(self.varint(32, "i32")) as i32
    }

    /// A zigzag `i64`.
    pub fn i64(&mut self) -> i64 {
        unzigzag(self.varint(64, "i64"))
    }

    /// A little-endian `f64`.
    pub fn f64(&mut self) -> f64 {
        let mut b = [0u8; 8];
        if let Ok(bytes) = self.bytes(8, "an 8-byte float").try_into() {
            b = bytes;
        }
        f64::from_le_bytes(b)
    }

    /// A length (a `usize` varint, as wide as on the platform, as postcard reads it) that is
    /// followed by at least as many bytes: every value this format holds takes at least one byte,
    /// so a longer sequence could not decode anyway. 0 after an error.
    #[inline(never)]
    pub fn len(&mut self, what: &'static str) -> usize {
        let at = self.pos;
        let len = self.varint(usize::BITS, "usize") as usize;
        let left = self.remaining();
        if len > left {
            self.fail(at, WireErrorKind::TooLong { what, len, left });
            return 0;
        }
        len
    }

    /// A string; empty after an error.
    #[inline(never)]
    pub fn string(&mut self) -> String {
        let n = self.len("a string");
        let at = self.pos;
        let bytes = self.bytes(n, "a string");
        match core::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => {
                self.fail(at, WireErrorKind::Utf8);
                String::new()
            }
        }
    }

    /// A sequence: its length, then as many items, each read by `item` (which must read at
    /// least one byte or fail); empty after an error, and cut short by one.
    pub fn seq<T>(&mut self, item: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let mut push = Push { out: Vec::new(), item };
        self.repeat(&mut push);
        push.out
    }

    /// Reads a sequence's length, then as many items into `seq`, or until a read fails: the
    /// loop of every sequence, in one copy for all element types.
    #[inline(never)]
    fn repeat(&mut self, seq: &mut dyn ReadItem<'a>) {
        let n = self.len("a sequence");
        seq.reserve(n);
        // INVARIANT: `n` is at most the bytes left, and each item reads at least one byte or
        // fails, so this loop is bounded by the input.
        for _ in 0..n {
            if self.failed() {
                break;
            }
            seq.read_item(self);
        }
    }

    /// An enum variant index below `count`; 0 after an error.
    #[inline(never)]
    pub fn variant(&mut self, ty: &'static str, count: usize) -> usize {
        let at = self.pos;
        // INVARIANT: a 32-bit varint, so the cast is exact.
        let found = self.varint(32, "u32") as u32;
        match usize::try_from(found) {
            Ok(i) if i < count => i,
            _ => {
                self.fail(at, WireErrorKind::Variant { ty, count, found });
                0
            }
        }
    }
}

/// A sequence being read, behind [`Reader::repeat`]. A trait of its own rather than
/// `dyn FnMut`, whose vtable would carry a `call_once` copy of every element reader.
trait ReadItem<'a> {
    /// Reserves room for `n` items (fewer if they would take more than 1 MiB).
    fn reserve(&mut self, n: usize);
    /// Reads the next item.
    fn read_item(&mut self, r: &mut Reader<'a>);
}

/// The items read so far, and how to read the next one.
struct Push<T, F> {
    out: Vec<T>,
    item: F,
}

impl<'a, T, F: FnMut(&mut Reader<'a>) -> T> ReadItem<'a> for Push<T, F> {
    // Reserving ahead decodes large snapshots about 10% faster than growing; `n` is at most the
    // bytes left, and the reservation at most 1 MiB whatever the element size. Behind the trait,
    // so that the length is read and the room made in `repeat`'s one copy, not at every call of
    // `seq`.
    fn reserve(&mut self, n: usize) {
        self.out.reserve_exact(n.min(MAX_RESERVE / core::mem::size_of::<T>().max(1)));
    }
    fn read_item(&mut self, r: &mut Reader<'a>) {
        self.out.push((self.item)(r));
    }
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Writes values into a growing byte vector.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// How many bytes were written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// One byte.
    pub fn u8(&mut self, b: u8) {
        self.buf.push(b);
    }

    /// Raw bytes, with no length.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// A varint: any unsigned integer, a length, or a variant index.
    #[inline(never)]
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// A zigzag varint: any signed integer.
    pub fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A length-prefixed UTF-8 string.
    #[inline(never)]
    pub fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.bytes(s.as_bytes());
    }
}

/// A type with a postcard wire form.
///
/// INVARIANT: every implementation writes at least one byte (so a sequence cannot declare more
/// elements than there are bytes left; see [`Reader::len`]).
pub trait Wire: Sized {
    /// Appends the encoding of `self`.
    fn put(&self, w: &mut Writer);
    /// Reads one value. On bad input it records the error in `r` and returns a placeholder
    /// (see [`Reader`]); it never panics, and allocates no more than the input could hold.
    fn take(r: &mut Reader<'_>) -> Self;
}

impl Wire for bool {
    fn put(&self, w: &mut Writer) {
        w.u8(u8::from(*self));
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.bool()
    }
}

impl Wire for u8 {
    fn put(&self, w: &mut Writer) {
        w.u8(*self);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.u8()
    }
}

/// Integers: unsigned ones as varints, signed ones as zigzag varints.
macro_rules! ints {
    ($($write:ident($wide:ident): $($ty:ident),+;)+) => {$($(
        impl Wire for $ty {
            fn put(&self, w: &mut Writer) {
                w.$write($wide::from(*self));
            }
            fn take(r: &mut Reader<'_>) -> Self {
                r.$ty()
            }
        }
    )+)+};
}
ints! {
    varint(u64): u16, u32, u64;
    zigzag(i64): i32, i64;
}

impl Wire for f64 {
    fn put(&self, w: &mut Writer) {
        w.bytes(&self.to_le_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.f64()
    }
}

impl Wire for String {
    fn put(&self, w: &mut Writer) {
        w.str(self);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.string()
    }
}

impl Wire for alloc::borrow::Cow<'static, str> {
    fn put(&self, w: &mut Writer) {
        w.str(self);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        alloc::borrow::Cow::Owned(r.string())
    }
}

impl<T: Wire> Wire for Box<[T]> {
    fn put(&self, w: &mut Writer) {
        w.varint(self.len() as u64);
        self.iter().for_each(|v| v.put(w));
    }
    fn take(r: &mut Reader<'_>) -> Self {
        Vec::take(r).into_boxed_slice()
    }
}

impl<const N: usize> Wire for [u8; N] {
    fn put(&self, w: &mut Writer) {
        w.bytes(self);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.bytes(N, "a fixed-size byte array").try_into().unwrap_or([0; N])
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, w: &mut Writer) {
        match self {
            None => w.u8(0),
            Some(v) => {
                w.u8(1);
                v.put(w);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        if r.option() {
            Some(T::take(r))
        } else {
            None
        }
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, w: &mut Writer) {
        w.varint(self.len() as u64);
        self.iter().for_each(|v| v.put(w));
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.seq(T::take)
    }
}

/// Tuples: their fields in order.
macro_rules! tuples {
    ($(($($t:ident $i:tt),+))+) => {$(
        impl<$($t: Wire),+> Wire for ($($t,)+) {
            fn put(&self, w: &mut Writer) {
                $(self.$i.put(w);)+
            }
            fn take(r: &mut Reader<'_>) -> Self {
                // Tuple expressions evaluate their fields left to right.
                ($($t::take(r),)+)
            }
        }
    )+};
}
tuples!((A 0, B 1) (A 0, B 1, C 2));

/// Implements [`Wire`] for a struct: its fields in declaration order. List every field, in
/// that order (the pattern in `put` fails to compile if one is missing).
macro_rules! wire_struct {
    ($ty:ident [$($field:ident),+ $(,)?]) => {
        impl $crate::codec::Wire for $ty {
            fn put(&self, w: &mut $crate::codec::Writer) {
                let $ty { $($field),+ } = self;
                $($crate::codec::Wire::put($field, w);)+
            }
            fn take(r: &mut $crate::codec::Reader<'_>) -> Self {
                // Struct expressions evaluate their fields in the order written.
                $ty { $($field: $crate::codec::Wire::take(r)),+ }
            }
        }
    };
}
pub(crate) use wire_struct;

/// Implements [`Wire`] for a fieldless enum: its variant index. List every variant, in
/// declaration order.
macro_rules! wire_enum {
    ($ty:ident [$first:ident $(, $variant:ident)* $(,)?]) => {
        impl $crate::codec::Wire for $ty {
            fn put(&self, w: &mut $crate::codec::Writer) {
                w.varint(*self as u64);
            }
            fn take(r: &mut $crate::codec::Reader<'_>) -> Self {
                const ALL: &[$ty] = &[$ty::$first, $($ty::$variant),*];
                ALL.get(r.variant(stringify!($ty), ALL.len())).copied().unwrap_or($ty::$first)
            }
        }
    };
}
pub(crate) use wire_enum;
