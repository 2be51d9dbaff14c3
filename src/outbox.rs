//! Events for the brand's backend: stage changes, exposures and conversions, and erasure
//! requests. Bounded: when full, the oldest report is dropped and counted, so a host that never
//! drains cannot grow memory. Erasure requests are held apart from the reports, up to a larger
//! bound of their own, so that no report ever pushes one out.
//!
//! What leaves the device is the minimum: names and ids from the model, times and the decision
//! id; a `forgotten` request names the pseudonymous id (`Profile::pid`). No pid on the other
//! reports, no feature values, traits or page context (docs/cli.md says what a backend can
//! erase by a `forgotten`).

use alloc::{borrow::ToOwned, string::String, vec, vec::Vec};
use serde::Serialize;

use crate::codec::{Reader, Wire, Writer};
use crate::compiled::Model;

/// Most reports held (stage changes, exposures, conversions); erasure requests are not counted.
pub const OUTBOX_CAPACITY: usize = 256;

/// Most erasure requests (`forgotten`) held, beside the reports. Each is the backend's only notice
/// that a shopper is to be erased and what keeps her stored copies out ([`Outbox::retired`]), so
/// the bound is far above what a device meets between drains; it keeps a state within about
/// 64 KB of them and a whole drained outbox within one default upload of `kairos serve` (1,024
/// requests are about 134 KB of NDJSON; `--max-upload` is 256 KiB).
pub const MAX_ERASURES: usize = 1024;

/// The most decisions a `forgotten` request erases: 2^24. A request for an install that is
/// retired (given a new id, as the package always does) asks for every report of it up to this
/// counter, so the reports of its other copies (another tab that counted further before it took
/// the erasure) go too; no install makes that many decisions (40 a day for a thousand years).
/// Uploads are not authenticated, so it also bounds what a forged request takes of other
/// installs' reports: each falls in the range with chance 2^24 / 2^64 = 2^-40.
pub const ERASE_ALL: u64 = 1 << 24;

/// One event for the backend.
// In the state it is a variant index, then the fields in order (`Wire` below). serde's JSON form
// (externally tagged) is for `kairos simulate --json`; the form for hosts, with a `type` field,
// is `OutboxEvent::to_json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "snake_case")]
pub enum OutboxEvent {
    /// The shopper moved between lifecycle stages.
    StageChanged {
        /// Previous stage, if any.
        from: Option<String>,
        /// New stage.
        to: String,
        /// When, ms.
        at: i64,
    },
    /// An offer was shown, or held back for the control group.
    Exposure {
        /// Decision id (hex).
        decision: String,
        /// Placement name.
        placement: String,
        /// Offer id.
        offer: String,
        /// Variant id, if the offer has variants.
        variant: Option<String>,
        /// Whether the shopper is in the offer's control group (and saw the fallback).
        control: bool,
        /// The version of the model it was decided on (`meta.version`); `None` when read from a
        /// state of an older package, from before variants 6 and 7 (reported as null).
        // Left out of serde in tests, whose postcard reference (src/codec/wire_tests.rs) has one
        // layout per variant; the wire writes events with a version as variant 6 (tested apart).
        #[cfg_attr(test, serde(skip))]
        model: Option<u32>,
        /// When, ms.
        at: i64,
    },
    /// An event converted an earlier exposure.
    Conversion {
        /// Decision id of the exposure (hex).
        decision: String,
        /// Offer id.
        offer: String,
        /// Converting event type.
        event: String,
        /// Whether the exposure was to the control group.
        control: bool,
        /// The version of the model that judged it (`meta.version`: its conversion's event and
        /// window); `None` as for an exposure. (Variant 7 on the wire.)
        #[cfg_attr(test, serde(skip))]
        model: Option<u32>,
        /// When, ms.
        at: i64,
    },
    /// A `forgotten` request as packages before 2026-11-25 stored it, without the install: read
    /// from their states, reported with `install` and `decisions` null, never made.
    LegacyForgotten {
        /// The pseudonymous id used until then.
        pid: String,
        /// When, ms.
        at: i64,
    },
    /// The shopper left every stage (a model without a catch-all stage). Hosts see it as a
    /// `stage_changed` whose `to` is null; its own variant, so that states written before it
    /// read as they were.
    StageLeft {
        /// The stage left.
        from: Option<String>,
        /// When, ms.
        at: i64,
    },
    /// The profile was wiped at the shopper's request; the backend should erase `pid`'s data and
    /// the install's reports.
    Forgotten {
        /// The pseudonymous id used until then.
        pid: String,
        /// The install id used until then (16 hex digits), by which the backend finds the
        /// install's reports: their decision ids invert to counters from 1 to `decisions`
        /// ([`crate::engine::decision_counter`], `kairos erase`). For a shopper who identified,
        /// `pid` is her identifier's hash, which no report carries.
        install: String,
        /// The highest decision counter of the install's reports to erase: [`ERASE_ALL`] when the
        /// install is retired (a new install id), its counter at the erasure when it goes on (a
        /// native host that passes the current id to `forget`: its later reports are kept).
        decisions: u64,
        /// When, ms.
        at: i64,
    },
}

impl Wire for OutboxEvent {
    fn put(&self, w: &mut Writer) {
        match self {
            OutboxEvent::StageChanged { from, to, at } => {
                w.varint(0);
                from.put(w);
                w.str(to);
                at.put(w);
            }
            // With a model version, variants 6 and 7 (a state of an older package holds 1 and 2,
            // which still read, without one).
            OutboxEvent::Exposure { decision, placement, offer, variant, control, model, at } => {
                w.varint(if model.is_some() { 6 } else { 1 });
                [decision, placement, offer].iter().for_each(|s| w.str(s));
                variant.put(w);
                control.put(w);
                if let Some(v) = model {
                    w.varint(u64::from(*v));
                }
                at.put(w);
            }
            OutboxEvent::Conversion { decision, offer, event, control, model, at } => {
                w.varint(if model.is_some() { 7 } else { 2 });
                [decision, offer, event].iter().for_each(|s| w.str(s));
                control.put(w);
                if let Some(v) = model {
                    w.varint(u64::from(*v));
                }
                at.put(w);
            }
            OutboxEvent::LegacyForgotten { pid, at } => {
                w.varint(3);
                w.str(pid);
                at.put(w);
            }
            OutboxEvent::StageLeft { from, at } => {
                w.varint(4);
                from.put(w);
                at.put(w);
            }
            OutboxEvent::Forgotten { pid, install, decisions, at } => {
                w.varint(5);
                [pid, install].iter().for_each(|s| w.str(s));
                decisions.put(w);
                at.put(w);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        let v = r.variant("OutboxEvent", 8);
        match v {
            0 => OutboxEvent::StageChanged { from: Wire::take(r), to: r.string(), at: r.i64() },
            1 | 6 => OutboxEvent::Exposure {
                decision: r.string(),
                placement: r.string(),
                offer: r.string(),
                variant: Wire::take(r),
                control: r.bool(),
                model: (v == 6).then(|| r.u32()),
                at: r.i64(),
            },
            2 | 7 => OutboxEvent::Conversion {
                decision: r.string(),
                offer: r.string(),
                event: r.string(),
                control: r.bool(),
                model: (v == 7).then(|| r.u32()),
                at: r.i64(),
            },
            3 => OutboxEvent::LegacyForgotten { pid: r.string(), at: r.i64() },
            4 => OutboxEvent::StageLeft { from: Wire::take(r), at: r.i64() },
            _ => OutboxEvent::Forgotten {
                pid: r.string(),
                install: r.string(),
                decisions: Wire::take(r),
                at: r.i64(),
            },
        }
    }
}

impl OutboxEvent {
    /// The event type: `stage_changed`, `exposure`, `conversion` or `forgotten`.
    pub fn kind(&self) -> &'static str {
        match self {
            OutboxEvent::StageChanged { .. } | OutboxEvent::StageLeft { .. } => "stage_changed",
            OutboxEvent::Exposure { .. } => "exposure",
            OutboxEvent::Conversion { .. } => "conversion",
            OutboxEvent::Forgotten { .. } | OutboxEvent::LegacyForgotten { .. } => "forgotten",
        }
    }

    /// Whether this is an erasure request (`forgotten`).
    pub fn is_erasure(&self) -> bool {
        matches!(self, OutboxEvent::Forgotten { .. } | OutboxEvent::LegacyForgotten { .. })
    }

    /// The fields hosts send to the backend, `type` first, in a fixed order.
    pub fn fields(&self) -> Vec<(&'static str, Field<'_>)> {
        fn opt(s: &Option<String>) -> Field<'_> {
            s.as_deref().map_or(Field::Null, Field::Str)
        }
        fn version(v: Option<u32>) -> Field<'static> {
            v.map_or(Field::Null, |v| Field::Time(i64::from(v)))
        }
        let kind = ("type", Field::Str(self.kind()));
        match self {
            OutboxEvent::StageChanged { from, to, at } => {
                vec![kind, ("from", opt(from)), ("to", Field::Str(to)), ("at", Field::Time(*at))]
            }
            OutboxEvent::StageLeft { from, at } => {
                vec![kind, ("from", opt(from)), ("to", Field::Null), ("at", Field::Time(*at))]
            }
            OutboxEvent::Exposure { decision, placement, offer, variant, control, model, at } => vec![
                kind,
                ("decision", Field::Str(decision)),
                ("placement", Field::Str(placement)),
                ("offer", Field::Str(offer)),
                ("variant", opt(variant)),
                ("control", Field::Bool(*control)),
                ("model", version(*model)),
                ("at", Field::Time(*at)),
            ],
            OutboxEvent::Conversion { decision, offer, event, control, model, at } => vec![
                kind,
                ("decision", Field::Str(decision)),
                ("offer", Field::Str(offer)),
                ("event", Field::Str(event)),
                ("control", Field::Bool(*control)),
                ("model", version(*model)),
                ("at", Field::Time(*at)),
            ],
            OutboxEvent::LegacyForgotten { pid, at } => {
                vec![
                    kind,
                    ("pid", Field::Str(pid)),
                    ("install", Field::Null),
                    ("decisions", Field::Null),
                    ("at", Field::Time(*at)),
                ]
            }
            OutboxEvent::Forgotten { pid, install, decisions, at } => vec![
                kind,
                ("pid", Field::Str(pid)),
                ("install", Field::Str(install)),
                // At most `ERASE_ALL`, what servers take (only a forged state could hold more).
                ("decisions", Field::Time((*decisions).min(ERASE_ALL) as i64)),
                ("at", Field::Time(*at)),
            ],
        }
    }

    /// The JSON form hosts send to the backend: [`OutboxEvent::fields`] as an object.
    #[cfg(feature = "std")]
    pub fn to_json(&self) -> serde_json::Value {
        let fields = self.fields().into_iter().map(|(k, v)| {
            let v = match v {
                Field::Null => serde_json::Value::Null,
                Field::Str(s) => s.into(),
                Field::Bool(b) => b.into(),
                Field::Time(t) => t.into(),
            };
            (k.to_string(), v)
        });
        serde_json::Value::Object(fields.collect())
    }
}

/// A field of an [`OutboxEvent`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    /// Absent (`null`).
    Null,
    /// A name or id.
    Str(&'a str),
    /// A flag.
    Bool(bool),
    /// A time, ms since the epoch, or a count.
    Time(i64),
}

/// An event recorded on the hot path by index, named when drained, exported or the model changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Compact {
    /// An exposure.
    Exposure {
        /// Decision id.
        decision: u64,
        /// Placement index.
        placement: u16,
        /// Offer index.
        offer: u32,
        /// Variant index.
        variant: Option<u16>,
        /// Control group.
        control: bool,
        /// When, ms.
        at: i64,
    },
    /// A conversion.
    Conversion {
        /// Decision id.
        decision: u64,
        /// Offer index.
        offer: u32,
        /// Event type index.
        event: u16,
        /// Control group.
        control: bool,
        /// When, ms.
        at: i64,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Compact(Compact),
    Named(OutboxEvent),
}

/// A bounded queue of events: the erasure requests, then the reports.
// The reports in a ring in a `Vec` (less code in the module than a `VecDeque`): it grows to
// [`OUTBOX_CAPACITY`], then each new report takes the place of the oldest, at `start`.
// INVARIANT: `erasures` holds only erasure requests, at most `MAX_ERASURES`, each once; `entries`
// none, at most `OUTBOX_CAPACITY`.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    /// The erasure requests, oldest first. Apart from the ring: a report never pushes one out.
    erasures: Vec<OutboxEvent>,
    entries: Vec<Entry>,
    /// Where the oldest report is (0 until the ring is full).
    start: usize,
    /// Events dropped because the queue was full: reports, and erasure requests past
    /// [`MAX_ERASURES`].
    pub dropped: u32,
}

impl PartialEq for Outbox {
    /// The same events in the same order, and the same count of dropped ones.
    fn eq(&self, other: &Outbox) -> bool {
        let (a, b) = (self.ordered(), other.ordered());
        self.dropped == other.dropped
            && self.erasures == other.erasures
            && a.0.iter().chain(a.1).eq(b.0.iter().chain(b.1))
    }
}

impl Outbox {
    fn push_entry(&mut self, e: Entry) {
        if self.entries.len() < OUTBOX_CAPACITY {
            self.entries.push(e);
            return;
        }
        // Full: the new report takes the oldest one's place, which becomes the newest.
        if let Some(slot) = self.entries.get_mut(self.start) {
            *slot = e;
        }
        self.start = (self.start + 1) % OUTBOX_CAPACITY;
        self.dropped = self.dropped.saturating_add(1);
    }

    /// Keeps an erasure request, unless one with every field the same is held (a copy of the
    /// state it came in; an identified shopper's pid is the same across installs, so two
    /// erasures of her may share pid and time).
    fn push_erasure(&mut self, f: OutboxEvent) {
        use OutboxEvent::{Forgotten, LegacyForgotten};
        // Field by field, not `contains`: the derived comparison of every variant is more code.
        let held = self.erasures.iter().any(|e| match (e, &f) {
            (
                Forgotten { pid: p, install: i, decisions: d, at: t },
                Forgotten { pid: q, install: j, decisions: c, at: u },
            ) => p == q && i == j && d == c && t == u,
            (LegacyForgotten { pid: p, at: t }, LegacyForgotten { pid: q, at: u }) => p == q && t == u,
            _ => false,
        });
        if held {
            return;
        }
        // Past the bound the new request is the one not kept, and counted: the requests held
        // stay, so a page calling `forget` in a loop cannot push out a real shopper's.
        if self.erasures.len() < MAX_ERASURES {
            self.erasures.push(f);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Drops every report and keeps the erasure requests (and the count of dropped events): a
    /// second `forget` before the host drained the first must not lose it.
    pub fn retain_erasures(&mut self) {
        self.entries.clear();
        self.start = 0;
    }

    /// Appends `other`'s erasure requests, in order, but those held here already (a copy of the
    /// state they came in).
    pub fn push_erasures_of(&mut self, other: &Outbox) {
        for f in &other.erasures {
            self.push_erasure(f.clone());
        }
    }

    /// Whether an erasure request held here retired install `install`: every report of it is
    /// to be erased ([`ERASE_ALL`]), and the install was given up for a new id.
    pub fn retired(&self, install: u64) -> bool {
        let hex = crate::codec::hex(&install.to_be_bytes());
        self.erasures.iter().any(|e| {
            matches!(e, OutboxEvent::Forgotten { install: i, decisions, .. }
                if *i == hex && *decisions >= ERASE_ALL)
        })
    }

    /// The reports in two parts, oldest first.
    fn ordered(&self) -> (&[Entry], &[Entry]) {
        let (newer, older) = self.entries.split_at_checked(self.start).unwrap_or_default();
        (older, newer)
    }

    /// Appends a named event: a report drops the oldest report when full; an erasure request is
    /// kept once, and not past [`MAX_ERASURES`]. What is dropped is counted.
    pub fn push(&mut self, e: OutboxEvent) {
        if e.is_erasure() {
            self.push_erasure(e);
        } else {
            self.push_entry(Entry::Named(e));
        }
    }

    /// Appends a compact report (no allocation once the queue has grown).
    pub fn push_compact(&mut self, e: Compact) {
        self.push_entry(Entry::Compact(e));
    }

    /// Number of events held.
    pub fn len(&self) -> usize {
        self.erasures.len() + self.entries.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names every compact event against `model`, the model they were recorded under. Call
    /// before the model changes.
    pub fn render(&mut self, model: &Model) {
        for e in self.entries.iter_mut() {
            if let Entry::Compact(c) = e {
                *e = Entry::Named(name(c, model));
            }
        }
    }

    /// Gives each event, named against `model`, to `f` (no copies): the erasure requests, then
    /// the reports, each oldest first.
    pub fn each(&self, model: &Model, f: &mut dyn FnMut(&OutboxEvent)) {
        self.erasures.iter().for_each(&mut *f);
        let (older, newer) = self.ordered();
        for part in [older, newer] {
            for e in part {
                match e {
                    Entry::Compact(c) => f(&name(c, model)),
                    Entry::Named(n) => f(n),
                }
            }
        }
    }

    /// The events, named against `model`.
    pub fn events(&self, model: &Model) -> Vec<OutboxEvent> {
        let mut out = Vec::with_capacity(self.len());
        self.each(model, &mut |e| out.push(e.clone()));
        out
    }

    /// Takes every event out, named against `model`.
    pub fn drain(&mut self, model: &Model) -> Vec<OutboxEvent> {
        let out = self.events(model);
        self.clear();
        out
    }

    /// Removes every event and the count of dropped ones.
    pub fn clear(&mut self) {
        self.erasures.clear();
        self.entries.clear();
        self.start = 0;
        self.dropped = 0;
    }
}

fn name(c: &Compact, model: &Model) -> OutboxEvent {
    // Names copied by one function: each `.map(clone).unwrap_or_default()` was its own copy.
    let offer = |o: u32| model.offers.get(o as usize);
    match *c {
        Compact::Exposure { decision, placement, offer: o, variant, control, at } => OutboxEvent::Exposure {
            decision: decision_hex(decision),
            placement: owned(model.placements.get(placement as usize).map(|p| p.name.as_str())),
            offer: owned(offer(o).map(|x| x.id.as_str())),
            variant: variant
                .and_then(|v| offer(o).and_then(|x| x.variants.get(v as usize)))
                .map(|v| v.id.clone()),
            control,
            model: Some(model.version),
            at,
        },
        Compact::Conversion { decision, offer: o, event, control, at } => OutboxEvent::Conversion {
            decision: decision_hex(decision),
            offer: owned(offer(o).map(|x| x.id.as_str())),
            event: owned(model.events.get(event as usize).map(|e| e.name.as_str())),
            control,
            model: Some(model.version),
            at,
        },
    }
}

/// A name from the model, or empty when the index is out of range.
fn owned(name: Option<&str>) -> String {
    name.unwrap_or_default().to_owned()
}

/// Formats a decision id.
pub fn decision_hex(id: u64) -> String {
    crate::codec::hex(&id.to_be_bytes())
}
