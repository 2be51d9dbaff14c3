//! The shopper's on-device profile.
//!
//! Two forms: [`Profile`], the runtime form whose vectors line up with the model's indices, and
//! [`StoredState`], the versioned byte format that names everything (features, offers, stages)
//! so that a newer model keeps what still applies. Raw identifiers are never kept: only
//! salted SHA-256 hashes.

pub mod identity;
pub mod window;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::codec::{self, wire_struct, Message, Reader, Wire, Writer};
use crate::compiled::Model;
use crate::logic::Value;
use crate::model::TraitType;
use crate::outbox::{Outbox, OutboxEvent};
use identity::IdKind;
use window::{Aggregate, DayCounts, FeatureSpec};

/// Magic of a state frame.
pub const STATE_MAGIC: [u8; 4] = *b"KST8";
/// Version of the state format this build reads and writes.
pub const STATE_FORMAT: u16 = 3;
/// Exposures remembered for linking conversions.
pub const RECENT_EXPOSURES: usize = 32;
/// Longest kept string trait or list element, in bytes.
pub const MAX_TRAIT_STRING: usize = 256;
/// Most elements of a kept string-list trait.
const MAX_TRAIT_LIST: usize = 64;

/// An offer's assignment: held out, or shown (with a variant when it has some).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// In the control group.
    Control,
    /// Shown; the variant index when the offer has variants.
    Treatment(Option<u16>),
}

/// Per-offer runtime state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfferState {
    /// Exposures by day (caps) and the last one (gap).
    pub exposures: DayCounts,
    /// Sticky assignment.
    pub assignment: Option<Assignment>,
}

impl OfferState {
    /// Whether the offer was assigned or shown: what stored state keeps.
    fn has_history(&self) -> bool {
        self.assignment.is_some() || self.exposures != DayCounts::default()
    }
}

/// Removes and returns `v[i]`, moving the later ones down by one `copy_within` (a `memmove`: on
/// the hot paths of `track` and `decide`, which drop a distinct value or the oldest of the recent
/// exposures; also for identifiers). `Vec::remove` would bring more code into the module.
pub(crate) fn remove_at<T: Copy>(v: &mut Vec<T>, i: usize) -> Option<T> {
    let x = *v.get(i)?;
    if let Some(tail) = v.get_mut(i..) {
        tail.copy_within(1.., 0);
    }
    v.pop();
    Some(x)
}

/// Inserts `x` at `v[i]` (at the end when `i` is past it), moving the later ones up by one
/// `copy_within` (a `memmove`, as [`remove_at`]: `decide` ranks a priority group by insertion, and
/// a group may hold a hundred offers). `Vec::insert` brings its own index assertion and panic
/// location into the module.
pub(crate) fn insert_at<T: Copy>(v: &mut Vec<T>, i: usize, x: T) {
    v.push(x);
    let Some(tail) = v.get_mut(i..) else { return };
    let Some(moved) = tail.len().checked_sub(1) else { return };
    tail.copy_within(..moved, 1);
    if let Some(first) = tail.first_mut() {
        *first = x;
    }
}

/// A recent exposure, for linking a conversion to its decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recent {
    /// Decision id.
    pub decision: u64,
    /// Offer index.
    pub offer: u32,
    /// When.
    pub at_ms: i64,
    /// Held out (the offer's control group): its conversion is reported as control, whatever
    /// the offer's assignment has become since (a model update may end the experiment).
    pub control: bool,
}

/// First and last time an event type was tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct Seen {
    /// First time, ms.
    pub first_ms: i64,
    /// Last time, ms.
    pub last_ms: i64,
}

/// The runtime profile, aligned with one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Whether the shopper consented to profiling.
    pub consent: bool,
    /// Random per-install number given by the host; the default bucketing key.
    pub install_id: u64,
    /// Salted hashes of identifiers.
    pub ids: Vec<(IdKind, [u8; 32])>,
    /// Decisions made so far (for decision ids).
    pub seq: u64,
    /// Current stage index and when it was entered.
    pub stage: Option<(usize, i64)>,
    /// The stage she was in, by name, when a model without it came (an update, or stored state
    /// made under another model): the next evaluation reports leaving it. Stored in the place of
    /// the stage until then.
    pub stage_gone: Option<(String, i64)>,
    /// Per event type.
    pub events: Vec<Option<Seen>>,
    /// Per feature.
    pub features: Vec<Aggregate>,
    /// Per trait; `Null` when not supplied.
    pub traits: Vec<Value>,
    /// When the supplied traits expire, ms.
    pub traits_expire_ms: Option<i64>,
    /// The signed token the traits came from, if they came from one: stored state keeps the
    /// token, not the values, so that a stored copy proves them again when it is imported.
    pub traits_token: Option<String>,
    /// Per offer.
    pub offers: Vec<OfferState>,
    /// Exposures of offers that count against the global caps.
    pub global: DayCounts,
    /// Recent exposures, oldest first.
    pub recent: Vec<Recent>,
    /// The bucketing key (`targetingKey`): the first identifier's hash, else the install id.
    pub key: Value,
}

impl Profile {
    /// An empty profile for `model`, without consent.
    pub fn new(model: &Model, install_id: u64) -> Self {
        let mut p = Profile {
            consent: false,
            install_id,
            ids: Vec::new(),
            seq: 0,
            stage: None,
            stage_gone: None,
            events: Vec::new(),
            features: Vec::new(),
            traits: crate::engine::host::nulls(model.traits.len()),
            traits_expire_ms: None,
            traits_token: None,
            offers: Vec::new(),
            global: DayCounts::default(),
            recent: Vec::new(),
            key: Value::Null,
        };
        // Pushed: `vec![x; n]` would clone `x` with the type's own clone code, and `resize`
        // brings the truncating half that an empty vector never needs.
        for _ in &model.events {
            p.events.push(None);
        }
        for _ in &model.features {
            p.features.push(Aggregate::default());
        }
        for _ in &model.offers {
            p.offers.push(OfferState::default());
        }
        p.refresh_key();
        p
    }

    /// Recomputes the bucketing key after ids changed.
    pub fn refresh_key(&mut self) {
        let key = match self.ids.first() {
            Some((_, hash)) => codec::hex(hash.get(..16).unwrap_or(hash)),
            None => codec::hex(&self.install_id.to_be_bytes()),
        };
        self.key = Value::String(key);
    }

    /// The pseudonymous id the backend sees: the bucketing key.
    pub fn pid(&self) -> &str {
        match &self.key {
            Value::String(s) => s,
            _ => "",
        }
    }

    /// Converts to the stored, name-keyed form: the reference that tests hold
    /// [`Profile::export`] and [`Profile::remodel`] to (the engine writes state bytes straight
    /// from the profile).
    #[cfg(test)]
    pub fn to_stored(&self, model: &Model, outbox: &Outbox) -> StoredState {
        // Plain loops: each iterator chain here was its own copy of the adapters in the Wasm module.
        let mut events = Vec::new();
        for (e, s) in model.events.iter().zip(&self.events) {
            if let Some(s) = s {
                events.push((e.name.clone(), *s));
            }
        }
        // Signed traits are stored as their token only (see `traits_token`).
        let mut traits = Vec::new();
        if self.traits_token.is_none() {
            for ((name, _), v) in model.traits.iter().zip(&self.traits) {
                if let Some(t) = StoredTrait::from_value(v) {
                    traits.push((name.clone(), t));
                }
            }
        }
        let mut offers = Vec::new();
        for (o, s) in model.offers.iter().zip(&self.offers) {
            if !s.has_history() {
                continue;
            }
            let assignment = s.assignment.map(|a| match a {
                Assignment::Control => StoredAssignment::Control,
                Assignment::Treatment(v) => StoredAssignment::Treatment(
                    v.and_then(|v| o.variants.get(v as usize)).map(|v| v.id.clone()),
                ),
            });
            offers.push(StoredOffer { id: o.id.clone(), exposures: s.exposures.clone(), assignment });
        }
        let mut features = Vec::with_capacity(self.features.len());
        for (f, a) in model.features.iter().zip(&self.features) {
            features.push((f.name.clone(), f.spec, a.clone()));
        }
        let mut recent = Vec::with_capacity(self.recent.len());
        for r in &self.recent {
            let offer = model.offers.get(r.offer as usize).map(|o| o.id.clone()).unwrap_or_default();
            recent.push((r.decision, offer, r.at_ms));
        }
        let recent_control = Some(self.recent_control());
        StoredState {
            consent: self.consent,
            install_id: self.install_id,
            ids: self.ids.clone(),
            seq: self.seq,
            stage: self
                .stage
                .and_then(|(i, since)| model.stages.get(i).map(|s| (s.name.clone(), since)))
                .or_else(|| self.stage_gone.clone()),
            events,
            features,
            traits,
            traits_expire_ms: self.traits_expire_ms,
            traits_token: self.traits_token.clone(),
            offers,
            global: self.global.clone(),
            recent,
            outbox: outbox.events(model),
            outbox_dropped: outbox.dropped,
            recent_control,
        }
    }

    /// Bit `i` set: `recent[i]` was held out.
    fn recent_control(&self) -> u32 {
        let mut mask = 0;
        for (i, r) in self.recent.iter().enumerate() {
            if r.control {
                mask |= 1 << (i % 32);
            }
        }
        mask
    }

    /// The profile and outbox as state bytes: the same bytes as `to_stored(model, outbox).encode()`,
    /// written straight from the profile, without building (and cloning into) a [`StoredState`].
    pub fn export(&self, model: &Model, outbox: &Outbox) -> Vec<u8> {
        let mut w = Writer::new();
        self.put_state(model, outbox, &mut w);
        codec::frame(STATE_MAGIC, STATE_FORMAT, 0, 0, &w.into_bytes())
    }

    /// The profile and outbox moved to model `new`: `from_stored(to_stored(old, outbox), new)`,
    /// through the state bytes.
    pub fn remodel(&self, old: &Model, outbox: &Outbox, new: &Model) -> (Profile, Outbox) {
        let mut w = Writer::new();
        self.put_state(old, outbox, &mut w);
        match codec::decode_body::<StoredState>(&w.into_bytes()) {
            Ok(s) => Profile::from_stored(s, new),
            // Unreachable: the bytes were just written. Were it reached (a bug), the shopper
            // would start afresh rather than the model update fail.
            Err(_) => (Profile::new(new, self.install_id), Outbox::default()),
        }
    }

    /// Writes the body of [`Profile::export`]: [`StoredState`]'s fields in their order, each as
    /// `Profile::to_stored` (the test reference) would fill it.
    fn put_state(&self, model: &Model, outbox: &Outbox, w: &mut Writer) {
        self.consent.put(w);
        self.install_id.put(w);
        self.ids.put(w);
        self.seq.put(w);
        let gone = self.stage_gone.as_ref().map(|(name, since)| (name, *since));
        match self.stage.and_then(|(i, since)| model.stages.get(i).map(|s| (&s.name, since))).or(gone) {
            Some((name, since)) => {
                w.u8(1);
                w.str(name);
                since.put(w);
            }
            None => w.u8(0),
        }
        let events = model.events.iter().zip(&self.events);
        w.varint(events.clone().filter(|(_, s)| s.is_some()).count() as u64);
        for (e, s) in events {
            if let Some(s) = s {
                w.str(&e.name);
                s.put(w);
            }
        }
        w.varint(model.features.len().min(self.features.len()) as u64);
        for (f, a) in model.features.iter().zip(&self.features) {
            w.str(&f.name);
            f.spec.put(w);
            a.put(w);
        }
        // Signed traits are stored as their token only (see `traits_token`).
        let values: &[Value] = if self.traits_token.is_none() { &self.traits } else { &[] };
        let traits = model.traits.iter().zip(values);
        w.varint(traits.clone().filter(|(_, v)| StoredTrait::stores(v)).count() as u64);
        for ((name, _), v) in traits {
            if StoredTrait::stores(v) {
                w.str(name);
                StoredTrait::put_value(v, w);
            }
        }
        self.traits_expire_ms.put(w);
        let offers = model.offers.iter().zip(&self.offers);
        w.varint(offers.clone().filter(|(_, s)| s.has_history()).count() as u64);
        for (o, s) in offers {
            if !s.has_history() {
                continue;
            }
            w.str(&o.id);
            s.exposures.put(w);
            // `Option<StoredAssignment>`: `Some` is 1, then the variant index.
            match s.assignment {
                None => w.u8(0),
                Some(Assignment::Control) => w.bytes(&[1, 0]),
                Some(Assignment::Treatment(v)) => {
                    w.bytes(&[1, 1]);
                    match v.and_then(|v| o.variants.get(v as usize)) {
                        Some(v) => {
                            w.u8(1);
                            w.str(&v.id);
                        }
                        None => w.u8(0),
                    }
                }
            }
        }
        self.global.put(w);
        w.varint(self.recent.len() as u64);
        for r in &self.recent {
            r.decision.put(w);
            w.str(model.offers.get(r.offer as usize).map_or("", |o| &o.id));
            r.at_ms.put(w);
        }
        w.varint(outbox.len() as u64);
        outbox.each(model, &mut |e| e.put(w));
        outbox.dropped.put(w);
        self.traits_token.put(w);
        Some(self.recent_control()).put(w);
    }

    /// Rebuilds a runtime profile for `model` from stored state, keeping what still applies:
    /// features by name and kind, offers by id, variants by id, the stage by name. Traits stored
    /// as a token are not restored here: the engine verifies the token first
    /// ([`crate::engine::Engine::import_state`]).
    pub fn from_stored(mut s: StoredState, model: &Model) -> (Profile, Outbox) {
        let mut p = Profile::new(model, s.install_id);
        p.consent = s.consent;
        p.ids = s.ids;
        p.seq = s.seq;
        // By reference where nothing is moved: each consumed vector had its own drop code here.
        p.stage = s
            .stage
            .as_ref()
            .and_then(|(name, since)| model.stages.iter().position(|x| x.name == *name).map(|i| (i, *since)));
        // A stage this model lacks (an update removed it, or the state was stored under another
        // model) is kept to report leaving it. Stored state is untrusted and only names leave the
        // device: kept only if it could be a stage name, and only with consent.
        if p.stage.is_none() && p.consent && s.stage.as_ref().is_some_and(|(name, _)| could_be_name(name)) {
            p.stage_gone = s.stage.take();
        }
        for (name, seen) in &s.events {
            if let Some(slot) = model.event(name).and_then(|i| p.events.get_mut(i)) {
                *slot = Some(*seen);
            }
        }
        for (name, spec, agg) in &mut s.features {
            let mut slots = model.features.iter().zip(&mut p.features);
            let Some((def, slot)) = slots.find(|(f, _)| f.name == *name && same_kind(&f.spec, spec)) else {
                continue;
            };
            // Taken out in place: no clone, and no consumed vector with its own drop code.
            let mut agg = core::mem::take(agg);
            if def.spec != *spec {
                // A new window or `max`: keep what fits the new spec, or start empty.
                if let Some(h) = agg.horizon() {
                    agg.prune(&def.spec, h);
                }
                if agg.validate(&def.spec).is_err() {
                    agg = Aggregate::default();
                }
            }
            *slot = agg;
        }
        for (name, value) in &s.traits {
            let mut slots = model.traits.iter().zip(&mut p.traits);
            if let Some(((_, ty), slot)) = slots.find(|((n, _), _)| n == name) {
                if value.fits(*ty) {
                    *slot = value.to_value();
                }
            }
        }
        p.traits_expire_ms = s.traits_expire_ms;
        p.traits_token = s.traits_token;
        for so in &mut s.offers {
            let Some(i) = model.offer(&so.id) else { continue };
            let (Some(def), Some(slot)) = (model.offers.get(i), p.offers.get_mut(i)) else { continue };
            let assignment = so.assignment.as_ref().and_then(|a| match a {
                StoredAssignment::Control if def.control_bp > 0 => Some(Assignment::Control),
                StoredAssignment::Control => None,
                StoredAssignment::Treatment(None) if def.variants.is_empty() => {
                    Some(Assignment::Treatment(None))
                }
                StoredAssignment::Treatment(Some(v)) => def
                    .variants
                    .iter()
                    .position(|x| x.id == *v)
                    .map(|k| Assignment::Treatment(Some(k as u16))),
                StoredAssignment::Treatment(None) => None,
            });
            *slot = OfferState { exposures: core::mem::take(&mut so.exposures), assignment };
        }
        p.global = s.global;
        for (i, &(decision, ref offer, at_ms)) in s.recent.iter().enumerate() {
            if let Some(o) = model.offer(offer) {
                // Format 1 and 2 did not keep it: then the offer's assignment says.
                let control = match s.recent_control {
                    Some(mask) => mask >> (i % 32) & 1 == 1,
                    None => matches!(p.offers.get(o).and_then(|x| x.assignment), Some(Assignment::Control)),
                };
                p.recent.push(Recent { decision, offer: o as u32, at_ms, control });
            }
        }
        p.refresh_key();
        let mut outbox = Outbox::default();
        outbox.dropped = s.outbox_dropped;
        for e in &mut s.outbox {
            // Taken, not cloned (the placeholder left behind holds no allocation).
            outbox.push(core::mem::replace(e, OutboxEvent::LegacyForgotten { pid: String::new(), at: 0 }));
        }
        (p, outbox)
    }
}

fn same_kind(a: &FeatureSpec, b: &FeatureSpec) -> bool {
    core::mem::discriminant(&a.agg) == core::mem::discriminant(&b.agg)
}

/// A trait value as stored.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub enum StoredTrait {
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// A list of strings.
    List(Vec<String>),
}

impl StoredTrait {
    #[cfg(test)]
    fn from_value(v: &Value) -> Option<StoredTrait> {
        Some(match v {
            Value::Bool(b) => StoredTrait::Bool(*b),
            Value::Number(n) => StoredTrait::Number(*n),
            Value::String(s) => StoredTrait::String(s.clone()),
            Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for x in items {
                    if let Value::String(s) = x {
                        list.push(s.clone());
                    }
                }
                StoredTrait::List(list)
            }
            Value::Null | Value::Object(_) => return None,
        })
    }

    /// Whether a value is stored: whether [`StoredTrait::from_value`] gives one.
    fn stores(v: &Value) -> bool {
        !matches!(v, Value::Null | Value::Object(_))
    }

    /// Writes a stored value as `StoredTrait::from_value(v)` is written (nothing if not stored):
    /// the variant index of [`StoredTrait`]'s `put`, then the value.
    fn put_value(v: &Value, w: &mut Writer) {
        match v {
            Value::Bool(b) => w.bytes(&[0, u8::from(*b)]),
            Value::Number(n) => {
                w.u8(1);
                n.put(w);
            }
            Value::String(s) => {
                w.u8(2);
                w.str(s);
            }
            Value::Array(items) => {
                w.u8(3);
                let strings =
                    || items.iter().filter_map(|x| if let Value::String(s) = x { Some(s) } else { None });
                w.varint(strings().count() as u64);
                for s in strings() {
                    w.str(s);
                }
            }
            Value::Null | Value::Object(_) => {}
        }
    }

    /// Whether the value has an allowed shape: [`trait_value_ok`] of its value, without building
    /// it.
    fn is_ok(&self) -> bool {
        match self {
            StoredTrait::Bool(_) => true,
            StoredTrait::Number(n) => n.is_finite(),
            StoredTrait::String(s) => s.len() <= MAX_TRAIT_STRING,
            StoredTrait::List(items) => {
                items.len() <= MAX_TRAIT_LIST && items.iter().all(|s| s.len() <= MAX_TRAIT_STRING)
            }
        }
    }

    /// Whether the value still fits a trait's type (a newer model may change it).
    fn fits(&self, ty: TraitType) -> bool {
        matches!(
            (ty, self),
            (TraitType::String | TraitType::Date | TraitType::Anniversary, StoredTrait::String(_))
                | (TraitType::Number | TraitType::Timestamp, StoredTrait::Number(_))
                | (TraitType::Bool, StoredTrait::Bool(_))
                | (TraitType::StringList, StoredTrait::List(_))
        )
    }

    fn to_value(&self) -> Value {
        match self {
            StoredTrait::Bool(b) => Value::Bool(*b),
            StoredTrait::Number(n) => Value::Number(*n),
            StoredTrait::String(s) => Value::String(s.clone()),
            StoredTrait::List(items) => {
                let mut list = Vec::with_capacity(items.len());
                for s in items {
                    list.push(Value::String(s.clone()));
                }
                Value::Array(list)
            }
        }
    }
}

/// An assignment as stored: variants by id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub enum StoredAssignment {
    /// Control group.
    Control,
    /// Shown, with the variant id.
    Treatment(Option<String>),
}

/// An offer's stored state.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct StoredOffer {
    /// Offer id.
    pub id: String,
    /// Exposures.
    pub exposures: DayCounts,
    /// Assignment.
    pub assignment: Option<StoredAssignment>,
}

/// The stored state, format version 3 (see `docs/state-format.md`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct StoredState {
    /// Consent.
    pub consent: bool,
    /// Install id.
    pub install_id: u64,
    /// Hashed ids.
    pub ids: Vec<(IdKind, [u8; 32])>,
    /// Decision counter.
    pub seq: u64,
    /// Stage name and since when.
    pub stage: Option<(String, i64)>,
    /// Event types seen.
    pub events: Vec<(String, Seen)>,
    /// Features by name with their spec.
    pub features: Vec<(String, FeatureSpec, Aggregate)>,
    /// Supplied traits (a flat type: decoding never recurses on hostile bytes).
    pub traits: Vec<(String, StoredTrait)>,
    /// Trait expiry.
    pub traits_expire_ms: Option<i64>,
    /// Offers with history.
    pub offers: Vec<StoredOffer>,
    /// Global exposures.
    pub global: DayCounts,
    /// Recent exposures `(decision, offer id, at)`.
    pub recent: Vec<(u64, String, i64)>,
    /// Undrained outbox.
    pub outbox: Vec<OutboxEvent>,
    /// Outbox events dropped for lack of room.
    pub outbox_dropped: u32,
    /// The token the traits came from; `traits` is then empty. (Format 1 is format 2 without
    /// it.)
    pub traits_token: Option<String>,
    /// Bit `i` set: `recent[i]` was held out. `None` in state of formats 1 and 2 (format 2 is
    /// format 3 without it), whose recent exposures take their offer's stored assignment.
    pub recent_control: Option<u32>,
}

// The state body (docs/state-format.md): every struct is its fields in declaration order.
wire_struct!(StoredState[
    consent, install_id, ids, seq, stage, events, features, traits, traits_expire_ms, offers, global,
    recent, outbox, outbox_dropped, traits_token, recent_control,
]);
wire_struct!(StoredOffer[id, exposures, assignment]);
wire_struct!(Seen[first_ms, last_ms]);

impl Wire for StoredTrait {
    fn put(&self, w: &mut Writer) {
        match self {
            StoredTrait::Bool(b) => (0u32, *b).put(w),
            StoredTrait::Number(n) => (1u32, *n).put(w),
            StoredTrait::String(s) => {
                w.varint(2);
                w.str(s);
            }
            StoredTrait::List(items) => {
                w.varint(3);
                items.put(w);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        match r.variant("StoredTrait", 4) {
            0 => StoredTrait::Bool(r.bool()),
            1 => StoredTrait::Number(r.f64()),
            2 => StoredTrait::String(r.string()),
            _ => StoredTrait::List(Wire::take(r)),
        }
    }
}

impl Wire for StoredAssignment {
    fn put(&self, w: &mut Writer) {
        match self {
            StoredAssignment::Control => w.varint(0),
            StoredAssignment::Treatment(variant) => {
                w.varint(1);
                variant.put(w);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        match r.variant("StoredAssignment", 2) {
            0 => StoredAssignment::Control,
            _ => StoredAssignment::Treatment(Wire::take(r)),
        }
    }
}

/// Why stored state was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The bytes are not a valid state frame (wrong magic, version, length or checksum).
    Frame(codec::FrameError),
    /// The frame is intact but its content breaks an invariant.
    Content(String),
    /// A valid state of an install this engine retired by an erasure whose `forgotten` request
    /// it still holds: restoring it would undo the erasure.
    Erased(u64),
}

impl Message for StateError {
    fn write_message(&self, out: &mut String) {
        if let StateError::Erased(install) = self {
            out.push_str("state is of install ");
            out.push_str(&codec::hex(&install.to_be_bytes()));
            out.push_str(", which this engine erased: restoring it would undo the erasure");
            return;
        }
        out.push_str("state is invalid: ");
        match self {
            StateError::Frame(e) => e.write_message(out),
            StateError::Content(e) => out.push_str(e),
            StateError::Erased(_) => {}
        }
    }
}

codec::display_by_message!(StateError);

impl core::error::Error for StateError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            StateError::Frame(e) => Some(e),
            StateError::Content(_) | StateError::Erased(_) => None,
        }
    }
}

impl From<codec::FrameError> for StateError {
    fn from(e: codec::FrameError) -> Self {
        StateError::Frame(e)
    }
}

/// `place` then `e`'s message: a state check that failed, and where.
fn failed_at(place: &[&str], e: &window::StateError) -> String {
    let mut out = String::new();
    for p in place {
        out.push_str(p);
    }
    e.write_message(&mut out);
    out
}

impl StoredState {
    /// Encodes as versioned bytes with a checksum.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(STATE_MAGIC, STATE_FORMAT, 0, self)
    }

    /// Decodes and checks state bytes, of this format or of formats 1 and 2 (devices keep their
    /// profiles across the upgrade).
    pub fn decode(bytes: &[u8]) -> Result<StoredState, StateError> {
        let (header, body) = codec::unsigned_since(bytes, STATE_MAGIC, 1, STATE_FORMAT, "Kairos state")?;
        // Each older format is the next without its last field (format 2 added `traits_token`,
        // format 3 `recent_control`), and `None` is one 0 byte.
        let missing = usize::from(STATE_FORMAT.saturating_sub(header.format));
        let mut upgraded = Vec::new();
        let body = if missing > 0 {
            upgraded.reserve_exact(body.len() + missing);
            upgraded.extend_from_slice(body);
            upgraded.resize(body.len() + missing, 0);
            &upgraded
        } else {
            body
        };
        let s: StoredState = codec::decode_body(body)?;
        s.validate().map_err(StateError::Content)?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), String> {
        // Erasure requests are held apart from the reports, each kind to its own bound.
        let erasures = self.outbox.iter().filter(|e| e.is_erasure()).count();
        if self.ids.len() > 8 {
            let mut m = String::new();
            codec::push_uint(&mut m, self.ids.len() as u64);
            m.push_str(" identifiers; at most 8");
            return Err(m);
        }
        if self.features.len() > crate::compiled::limits::FEATURES
            || self.events.len() > crate::compiled::limits::EVENTS
            || self.traits.len() > crate::compiled::limits::FIELDS
            || self.offers.len() > crate::compiled::limits::OFFERS
            || self.recent.len() > RECENT_EXPOSURES
            || erasures > crate::outbox::MAX_ERASURES
            || self.outbox.len() - erasures > crate::outbox::OUTBOX_CAPACITY
        {
            return Err("more entries than any model allows".to_string());
        }
        if self.recent_control.unwrap_or(0).checked_shr(self.recent.len() as u32).unwrap_or(0) != 0 {
            return Err("held-out flags for recent exposures that are not there".to_string());
        }
        for (name, spec, agg) in &self.features {
            agg.validate(spec).map_err(|e| failed_at(&["feature `", name, "`: "], &e))?;
        }
        for o in &self.offers {
            o.exposures.validate().map_err(|e| failed_at(&["offer `", &o.id, "`: "], &e))?;
        }
        self.global.validate().map_err(|e| failed_at(&["global exposures: "], &e))?;
        for (name, v) in &self.traits {
            if !v.is_ok() {
                let mut m = String::from("trait `");
                m.push_str(name);
                m.push_str("` has a value of the wrong shape");
                return Err(m);
            }
        }
        if let Some(token) = &self.traits_token {
            if token.len() > crate::token::MAX_TOKEN_LEN {
                let mut m = String::from("the trait token is ");
                codec::push_uint(&mut m, token.len() as u64);
                m.push_str(" bytes, at most ");
                codec::push_uint(&mut m, crate::token::MAX_TOKEN_LEN as u64);
                return Err(m);
            }
            if !self.traits.is_empty() {
                return Err("plain traits beside a trait token: signed traits are stored as the token only"
                    .to_string());
            }
        }
        Ok(())
    }
}

/// Whether a stored trait value has an allowed shape (scalars and short string lists).
pub fn trait_value_ok(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(_) => true,
        Value::Number(n) => n.is_finite(),
        Value::String(s) => s.len() <= MAX_TRAIT_STRING,
        Value::Array(a) => {
            a.len() <= MAX_TRAIT_LIST
                && a.iter().all(|x| matches!(x, Value::String(s) if s.len() <= MAX_TRAIT_STRING))
        }
        Value::Object(_) => false,
    }
}

/// Whether `name` could be a model name: 1 to 64 letters, digits, `_` or `-` (at most 256 bytes;
/// non-ASCII bytes pass, as letters of other scripts do, without Unicode tables in the module).
fn could_be_name(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name.bytes().all(|b| !b.is_ascii() || b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests;
