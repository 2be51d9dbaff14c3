//! The engine: one shopper's profile against one model. `track` and `decide` are the hot path:
//! no string lookups, no JSON, no allocation once warm. Time comes in as `now` (ms).

mod decide;
mod env;
pub mod host;
pub mod input;

use alloc::string::{String, ToString};
use alloc::{vec, vec::Vec};

#[cfg(feature = "std")]
use serde_json::Value as Json;

pub use decide::{unmix as decision_counter, Check, Condition, Decision, Explanation, Item, Reason};
pub use input::InputError;

use crate::compiled::Model;
use crate::logic::Value;
use crate::outbox::{Compact, Outbox, OutboxEvent};
use crate::profile::identity::{self, IdKind};
use crate::profile::window::distinct_key;
use crate::profile::{Profile, Recent, Seen, StateError, StoredState, RECENT_EXPOSURES};
use crate::sign::Trust;
use crate::snapshot::{self, SnapshotError};
use crate::time;
use crate::token::{self, TokenError};
use env::{Eval, Memo};
use host::Raw;

/// What `track` did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// Recorded in the profile.
    Recorded,
    /// Ignored: no consent, so nothing is profiled.
    NoConsent,
}

/// How state was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// From the stored state.
    Restored,
    /// The stored state was rejected; the engine kept its current state.
    Kept,
}

/// One shopper's engine.
#[derive(Debug)]
pub struct Engine {
    model: Model,
    profile: Profile,
    outbox: Outbox,
    stage_names: Vec<Value>,
    memo: Memo,
    scratch: Vec<(u32, f64)>,
    /// Time of the latest event tracked since the stage was last evaluated: the stage is
    /// evaluated lazily, as of that time, when next read.
    stage_stale_at: Option<i64>,
    /// The time the stage was last evaluated at (by a decision or a settled event). Events
    /// tracked late, with times before it (a host replaying a queue), settle as of it: the stage
    /// is never evaluated, nor a change stamped, before one already reported. Not stored: an
    /// imported profile's stage time stands in for it.
    stage_seen_at: i64,
    /// The decision counter when this engine's exposures were last erased or replaced (consent
    /// withdrawn, another install's state imported): decisions up to it are no view `refresh`
    /// keeps (see [`Engine::refresh_into`]). Not stored: a decision lives as long as its page.
    view_floor: u64,
    /// The latest day the features were pruned to (see [`Engine::prune_to`]). Not stored.
    pruned_day: i32,
    /// Keys this engine trusts for snapshots and trait tokens; none by default.
    trust: Trust,
    /// Whether the model's stage rules read time by the day only ([`stages_by_day`]).
    stages_by_day: bool,
    /// The stage last found, for its day and whether traits were live then: while nothing in the
    /// profile changes, the stage of such a model is the same all day. Every call that changes
    /// the profile or the model clears it.
    stage_memo: Option<(i32, bool, Option<usize>)>,
}

impl Engine {
    /// A fresh engine (no consent yet) for a compiled model. `install_id` is a random number the
    /// host draws once per install and keeps: the core draws no randomness itself.
    pub fn new(model: Model, install_id: u64) -> Self {
        Engine::with_trust(model, install_id, Trust::default())
    }

    /// [`Engine::new`] trusting `trust`.
    fn with_trust(model: Model, install_id: u64, trust: Trust) -> Self {
        let profile = Profile::new(&model, install_id);
        let stage_names = stage_names(&model);
        Engine {
            stages_by_day: stages_by_day(&model),
            stage_memo: None,
            model,
            profile,
            outbox: Outbox::default(),
            stage_names,
            memo: Memo::default(),
            scratch: Vec::new(),
            stage_stale_at: None,
            stage_seen_at: i64::MIN,
            view_floor: 0,
            pruned_day: i32::MIN,
            trust,
        }
    }

    /// A fresh engine from snapshot bytes checked against `trust` (signature, or unsigned only
    /// when `trust.allow_unsigned`; version at least `trust.min_version`). The engine keeps
    /// `trust` for later snapshots and tokens.
    pub fn from_signed_snapshot(bytes: &[u8], trust: Trust, install_id: u64) -> Result<Self, SnapshotError> {
        Engine::from_snapshot_with(bytes, Some(trust), install_id)
    }

    /// [`Engine::from_signed_snapshot`] with `trust`, or [`Engine::from_snapshot`] without: both
    /// in one copy (the bindings' constructor makes either).
    pub fn from_snapshot_with(
        bytes: &[u8],
        trust: Option<Trust>,
        install_id: u64,
    ) -> Result<Self, SnapshotError> {
        let model = snapshot::checked(bytes, trust.as_ref())?.model;
        let trust = match trust {
            Some(t) if model.version < t.min_version => {
                return Err(SnapshotError::OlderThanApplied { offered: model.version, floor: t.min_version })
            }
            t => t.unwrap_or_default(),
        };
        Ok(Engine::with_trust(model, install_id, trust))
    }

    /// Sets the keys this engine trusts and whether it accepts unsigned snapshots and traits.
    /// The current traits stay only if they would be accepted under the new trust.
    pub fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
        self.restore_traits();
    }

    /// The keys this engine trusts.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Checks snapshot bytes against the engine's trust (a signature from a trusted key, or
    /// unsigned only when allowed), then applies them if their version is newer. On any error
    /// (corrupt, bad signature, unsigned, rollback) the current model stays and the error says why.
    pub fn apply_signed_snapshot(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let verified = snapshot::verify(bytes, &self.trust)?;
        self.apply_model(verified.model)
    }

    /// Sets traits from a signed token (see [`crate::token`]): the signature must verify against
    /// one of the trusted token keys, the token must not have expired at `now`, and its `sub`
    /// must be this shopper's pseudonymous id ([`Profile::pid`]). The traits then expire with the
    /// token, and exported state keeps the token, not the values. On any error the current
    /// traits stay.
    pub fn set_traits_token(&mut self, token: &str, now: i64) -> Result<(), TokenError> {
        if !self.profile.consent {
            return Err(TokenError::NoConsent);
        }
        let token = token.trim();
        let claims = token::verify(token, &self.trust.token_keys, now)?;
        self.check_user(&claims)?;
        let traits = host::token_traits(&self.model, claims.traits, true)
            .map_err(|e| TokenError::Traits(crate::codec::message(&e)))?;
        // A stage change the events before call for is theirs, stamped with their time.
        self.settle_stage();
        self.profile.traits = traits;
        self.profile.traits_expire_ms = Some(claims.exp);
        self.profile.traits_token = Some(token.to_string());
        self.stage_memo = None;
        Ok(())
    }

    fn check_user(&self, claims: &token::Claims) -> Result<(), TokenError> {
        if claims.sub == self.profile.pid() {
            return Ok(());
        }
        Err(TokenError::WrongUser { expected: self.profile.pid().to_string(), found: claims.sub.clone() })
    }

    /// After the profile was rebuilt from stored state (an import, or a new model): traits kept
    /// as a token count again only if the token still verifies against the trusted token keys
    /// and is this shopper's (an edited copy, a rotated key or another shopper's token drops
    /// them: the host fetches a fresh token); plain traits only if unsigned traits are
    /// accepted ([`Trust::unsigned_traits_ok`]). Everything else in the profile stays.
    fn restore_traits(&mut self) {
        self.stage_memo = None;
        let restored = match self.profile.traits_token.take() {
            Some(t) => match token::open(&t, &self.trust.token_keys) {
                Ok(claims) if self.check_user(&claims).is_ok() => {
                    self.profile.traits =
                        host::token_traits(&self.model, claims.traits, false).unwrap_or_default();
                    self.profile.traits_expire_ms = Some(claims.exp);
                    self.profile.traits_token = Some(t);
                    true
                }
                _ => false,
            },
            None => self.trust.unsigned_traits_ok(),
        };
        if !restored {
            self.drop_traits();
        }
    }

    fn drop_traits(&mut self) {
        for t in &mut self.profile.traits {
            *t = Value::Null;
        }
        self.profile.traits_expire_ms = None;
        self.profile.traits_token = None;
    }

    /// A fresh engine from snapshot bytes, WITHOUT checking a signature (the caller checked the
    /// origin, e.g. a snapshot bundled in the app). Devices use [`Engine::from_signed_snapshot`].
    pub fn from_snapshot(bytes: &[u8], install_id: u64) -> Result<Self, SnapshotError> {
        Engine::from_snapshot_with(bytes, None, install_id)
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The profile (read only).
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Replaces the model, keeping the profile where it still applies. A model whose version is
    /// not newer is refused (rollback) and the current one stays.
    pub fn apply_model(&mut self, model: Model) -> Result<(), SnapshotError> {
        if model.version <= self.model.version {
            return Err(SnapshotError::NotNewer { offered: model.version, running: self.model.version });
        }
        self.settle_stage();
        self.outbox.render(&self.model);
        let (profile, outbox) = self.profile.remodel(&self.model, &self.outbox, &model);
        self.stage_names = stage_names(&model);
        self.stages_by_day = stages_by_day(&model);
        self.model = model;
        self.profile = profile;
        // A new window may keep fewer days: the next decision or event drops the rest.
        self.pruned_day = i32::MIN;
        self.outbox = outbox;
        self.restore_traits();
        Ok(())
    }

    /// Decodes snapshot bytes and applies them WITHOUT checking a signature (tests, tools, and
    /// hosts that checked the origin); devices use [`Engine::apply_signed_snapshot`]. An engine
    /// that trusts snapshot keys checks them all the same: once a device takes signed models
    /// only, no call gives it an unsigned one (unless [`Trust::allow_unsigned`]). On any error
    /// the current model stays.
    pub fn apply_snapshot(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        if !self.trust.snapshot_keys.is_empty() {
            return self.apply_signed_snapshot(bytes);
        }
        let model = snapshot::decode(bytes)?;
        self.apply_model(model)
    }

    /// Whether an erasure request waiting in the outbox retired install `install`: a host must
    /// not give it as a new install id (its reports are to be erased).
    pub fn erased(&self, install: u64) -> bool {
        self.outbox.retired(install)
    }

    /// Withdraws consent as the package's `setConsent(false)` does: as [`Engine::forget`], the
    /// behavioural profile is erased, and so are the reports not yet drained, which were about
    /// her; a `forgotten` request for her pid is queued (at `now`), so the backend erases what it
    /// already holds (PIPL, art. 47); and the install takes the new id `install_id`. Should she
    /// consent again, her pid and decision ids are then new ones, which nothing links to the pid
    /// the backend was asked to erase. (An `install_id` equal to the current one keeps it and its
    /// counter, so decision ids still never repeat; the package refuses it.) Without consent
    /// already, nothing happens.
    pub fn withdraw_consent(&mut self, install_id: u64, now: i64) {
        if self.profile.consent {
            self.forget(install_id, now);
        }
    }

    /// Grants or withdraws consent. Withdrawing here erases the behavioural profile (events,
    /// features, stage, traits, exposures) but keeps the install id and the undrained outbox;
    /// [`Engine::withdraw_consent`] also erases the undrained reports, asks the backend to erase
    /// the rest and starts a new install id.
    ///
    /// The consent she already gave, given again, changes nothing: the stage the latest events
    /// call for is still evaluated when next read (review: it was dropped, and a change of stage
    /// went unreported).
    pub fn set_consent(&mut self, consent: bool) {
        if consent == self.profile.consent {
            return;
        }
        if !consent {
            let mut fresh = Profile::new(&self.model, self.profile.install_id);
            fresh.seq = self.profile.seq;
            self.profile = fresh;
            self.view_floor = self.profile.seq;
            self.stage_seen_at = i64::MIN;
        }
        self.profile.consent = consent;
        self.stage_stale_at = None;
        self.stage_memo = None;
    }

    /// Adds an identifier (phone, email, external id). Only its salted SHA-256 is kept.
    pub fn identify(&mut self, kind: IdKind, raw: &str) -> Result<(), InputError> {
        if !self.profile.consent {
            return Err(InputError::NoConsent("identify"));
        }
        let normalized =
            identity::normalize(kind, raw).map_err(|e| InputError::Identity(crate::codec::message(&e)))?;
        let hash = identity::hashed_id(self.model.id_salt.as_bytes(), kind, &normalized);
        if !self.profile.ids.iter().any(|(k, h)| *k == kind && *h == hash) {
            self.settle_stage();
            if self.profile.ids.len() >= 8 {
                // The oldest but the first (the pid's).
                crate::profile::remove_at(&mut self.profile.ids, 1);
            }
            self.profile.ids.push((kind, hash));
            self.profile.refresh_key();
            self.stage_memo = None;
            // A token names the shopper by pid: signed traits of the old pid are not hers to
            // keep once it changed (the first identifier becomes the pid).
            if self.profile.traits_token.is_some() && self.profile.ids.len() == 1 {
                self.drop_traits();
            }
        }
        Ok(())
    }

    /// Wipes the profile: ids, history, stage, traits, consent. The outbox keeps a `forgotten`
    /// event naming the pseudonymous id, the install id and the decision counters of its reports
    /// (see [`OutboxEvent::Forgotten`]) so the backend can erase what it holds and the install's
    /// reports (and the erasure
    /// requests of earlier `forget`s not yet drained; every other event goes). `install_id` is
    /// the new random install id from the host (the current one would keep her pid; the package
    /// refuses it). With the current one the decision counter goes on, so ids never repeat.
    pub fn forget(&mut self, install_id: u64, now: i64) {
        let pid = self.profile.pid().to_string();
        let install = crate::codec::hex(&self.profile.install_id.to_be_bytes());
        let same = install_id == self.profile.install_id;
        // A retired install's every report; one that goes on, those made until now.
        let decisions = if same { self.profile.seq } else { crate::outbox::ERASE_ALL };
        self.outbox.retain_erasures();
        self.outbox.push(OutboxEvent::Forgotten { pid, install, decisions, at: now });
        let seq = if same { self.profile.seq } else { 0 };
        self.profile = Profile::new(&self.model, install_id);
        self.profile.seq = seq;
        self.stage_stale_at = None;
        self.stage_seen_at = i64::MIN;
        self.stage_memo = None;
        self.view_floor = seq;
    }

    /// Sets traits the host supplies unsigned (all at once; absent ones become missing), valid
    /// until `expires_ms`. Refused when the engine trusts token keys, unless the host allows
    /// unsigned traits ([`Trust::unsigned_traits_ok`]): then traits come only as tokens
    /// ([`Engine::set_traits_token`]).
    pub fn set_traits(
        &mut self,
        traits: Vec<(String, Raw)>,
        expires_ms: Option<i64>,
    ) -> Result<(), InputError> {
        if !self.profile.consent {
            return Err(InputError::NoConsent("setTraits"));
        }
        if !self.trust.unsigned_traits_ok() {
            return Err(InputError::UnsignedTraits);
        }
        let traits = host::traits(&self.model, traits)?;
        // A stage change the events before call for is theirs, stamped with their time.
        self.settle_stage();
        self.profile.traits = traits;
        self.profile.traits_expire_ms = expires_ms;
        self.profile.traits_token = None;
        self.stage_memo = None;
        Ok(())
    }

    /// [`Engine::set_traits`] from a JSON object `{"tier": "gold", "birthday": "1996-03-14"}`.
    #[cfg(feature = "std")]
    pub fn set_traits_json(&mut self, traits: &Json, expires_ms: Option<i64>) -> Result<(), InputError> {
        let Json::Object(obj) = traits else {
            return Err(InputError::NotAnObject { what: "traits", example: r#"{"tier": "gold"}"# });
        };
        self.set_traits(obj.iter().map(|(k, v)| (k.clone(), input::raw(v))).collect(), expires_ms)
    }

    /// Tracks an event given as JSON `{"type": "view", "category": "qipao"}`.
    #[cfg(feature = "std")]
    pub fn track_json(&mut self, event: &Json, now: i64) -> Result<Tracked, InputError> {
        let (kind, props) = input::event(&self.model, event)?;
        Ok(self.track(kind, &props, now))
    }

    /// Tracks event type `kind` with property values in the model's order (see
    /// [`input::event`]). The hot path: no lookups by name, no allocation once warm.
    pub fn track(&mut self, kind: usize, props: &[Value], now: i64) -> Tracked {
        if !self.profile.consent {
            return Tracked::NoConsent;
        }
        let Some(def) = self.model.events.get(kind) else { return Tracked::NoConsent };
        let today = time::day_of(now, self.model.offset_ms);
        self.memo.reset(&self.model);
        // Every `where` sees the profile from before the event: the filters first, then the
        // records (recording in turn let a filter see what the features before it had just
        // counted, so whether an event counted depended on the order features are declared in).
        // The features whose filter passed, in `decide`'s scratch vector (its allocation kept).
        let mut passed = core::mem::take(&mut self.scratch);
        passed.clear();
        for &f in &def.features {
            let Some(fdef) = self.model.features.get(f as usize) else { continue };
            let pass = match &fdef.filter {
                None => true,
                Some(rule) => {
                    let ev = Eval {
                        model: &self.model,
                        profile: &self.profile,
                        stage_names: &self.stage_names,
                        context: &[],
                        event: props,
                        now,
                        today,
                        memo: &self.memo,
                    };
                    ev.test(rule)
                }
            };
            if pass {
                passed.push((u32::from(f), 0.0));
            }
        }
        for &(f, _) in &passed {
            let Some(fdef) = self.model.features.get(f as usize) else { continue };
            let of = fdef.of.and_then(|p| props.get(p as usize));
            let (amount, key) = match of {
                Some(Value::Number(n)) => (*n, n.to_bits()),
                Some(Value::String(s)) => (0.0, distinct_key(s)),
                Some(Value::Bool(b)) => (0.0, u64::from(*b)),
                _ if fdef.of.is_some() => continue,
                _ => (0.0, 0),
            };
            if let Some(agg) = self.profile.features.get_mut(f as usize) {
                agg.record(&fdef.spec, today, now, amount, key);
            }
        }
        // Left empty, as `decide` takes it.
        passed.clear();
        self.scratch = passed;
        // After the filters, which see the event type's times from before it too.
        if let Some(seen) = self.profile.events.get_mut(kind) {
            *seen = Some(match *seen {
                Some(s) => Seen { first_ms: s.first_ms.min(now), last_ms: s.last_ms.max(now) },
                None => Seen { first_ms: now, last_ms: now },
            });
        }
        for &o in &def.converts {
            let Some((_, window)) = self.model.offers.get(o as usize).and_then(|x| x.conversion) else {
                continue;
            };
            // The latest matching exposure, by index from the end.
            let recent = &mut self.profile.recent;
            let hit = (0..recent.len()).rev().find(|&i| {
                recent
                    .get(i)
                    .is_some_and(|r| r.offer == o && now >= r.at_ms && now.saturating_sub(r.at_ms) <= window)
            });
            if let Some(r) = hit.and_then(|i| crate::profile::remove_at(recent, i)) {
                self.outbox.push_compact(Compact::Conversion {
                    decision: r.decision,
                    offer: o,
                    event: kind as u16,
                    control: r.control,
                    at: now,
                });
            }
        }
        self.stage_stale_at = Some(self.stage_stale_at.map_or(now, |t| t.max(now)));
        self.stage_memo = None;
        self.prune_to(today);
        Tracked::Recorded
    }

    /// Evaluates the stage as of the latest tracked event, if events came since it was last
    /// evaluated. Every read of the stage (and `decide`) settles it first.
    fn settle_stage(&mut self) {
        if let Some(t) = self.stage_stale_at.take() {
            let t = t.max(self.stage_seen_at);
            self.update_stage(t, time::day_of(t, self.model.offset_ms));
        }
    }

    /// Re-evaluates the lifecycle stage (without page context: a stage describes the shopper);
    /// records a change in the outbox.
    fn update_stage(&mut self, now: i64, today: i32) {
        if !self.profile.consent || (self.model.stages.is_empty() && self.profile.stage_gone.is_none()) {
            return;
        }
        // Set, not raised: a decision at a clock set back (a wrong clock corrected) is the time
        // from then on, so one decision at a wrong, later time does not settle every later event
        // at it.
        self.stage_seen_at = now;
        let found = self.stage_at(now, today);
        let current = self.profile.stage.map(|s| s.0);
        // A stage the model no longer has is the one she leaves (she is in none meanwhile; a model
        // that has it again takes her back into it, through the stored state, before this runs).
        let gone = self.profile.stage_gone.take().map(|(name, _)| name);
        if found != current || gone.is_some() {
            let name = |i: usize| self.model.stages.get(i).map(|s| s.name.clone());
            let from = current.and_then(name).or(gone);
            self.outbox.push(match found.and_then(name) {
                Some(to) => OutboxEvent::StageChanged { from, to, at: now },
                None => OutboxEvent::StageLeft { from, at: now },
            });
            self.profile.stage = found.map(|to| (to, now));
        }
    }

    /// Drops, once a day, the windowed feature data that can no longer count (days and distinct
    /// values past the window, with a week of margin; see
    /// [`crate::profile::window::Aggregate::drop_past`]) and the exposure days past the longest cap
    /// or 30 days ([`crate::profile::window::DayCounts::drop_past`]), so stored state holds no more
    /// behaviour than the model reads, even for features whose events stopped or offers no longer
    /// shown.
    /// Every decision and event calls it: one comparison, except on the first call of a day.
    fn prune_to(&mut self, today: i32) {
        if today <= self.pruned_day {
            return;
        }
        self.pruned_day = today;
        for (def, agg) in self.model.features.iter().zip(&mut self.profile.features) {
            agg.drop_past(&def.spec, today);
        }
        // Exposure days for as long as a cap reads them (at least 30: see `drop_past`).
        let longest = |caps: &[crate::compiled::CapDef]| caps.iter().map(|c| c.days).max().unwrap_or(0);
        for (def, state) in self.model.offers.iter().zip(&mut self.profile.offers) {
            state.exposures.drop_past(today, longest(&def.caps));
        }
        self.profile.global.drop_past(today, longest(&self.model.caps));
    }

    fn record_exposure(&mut self, decision: u64, placement: usize, item: &Item, now: i64, today: i32) {
        let o = item.offer;
        let global = self.model.offers.get(o).is_some_and(|x| x.global_caps);
        if let Some(state) = self.profile.offers.get_mut(o) {
            state.exposures.record(today, now);
        }
        if global {
            self.profile.global.record(today, now);
        }
        // Held for linking conversions: only exposures of offers that convert (a review found
        // 32 views of an offer without a conversion pushing out another's exposure, whose
        // purchase then went unreported). When all places are taken, the one whose window closes
        // first goes (the oldest among equals), one that cannot convert any more (its offer has no
        // conversion now) before any, so a week-long win-back outlives an hour-long banner's many
        // exposures. One stamped a little after `now` (a clock stepped back) counts as stamped
        // now: not before one whose window closed (a review: a few ms back evicted a live
        // win-back while closed exposures stayed); one stamped a day or more after ranks as
        // closing now.
        let offers = &self.model.offers;
        if offers.get(o).is_some_and(|x| x.conversion.is_some()) {
            let recent = &mut self.profile.recent;
            if recent.len() >= RECENT_EXPOSURES {
                // A plain loop: `min_by_key` over `enumerate` is 0.2 KB more in the module.
                let (mut first, mut soonest) = (0, i64::MAX);
                for (i, r) in recent.iter().enumerate() {
                    let closes = match offers.get(r.offer as usize).and_then(|x| x.conversion) {
                        // Stamped a day or more ahead (by a clock that ran ahead, set right since),
                        // it converts only once the clock gets there: it ranks as closing now,
                        // after the closed ones and before the live ones (as stamped now it held
                        // its place over live ones until the clock came by; a review of ranking it
                        // with the closed ones: a win-back 2 days ahead went before 31 closed
                        // banners). Ahead means after `now`, so `min` gives `now` for it.
                        Some((_, window)) => {
                            let ahead = r.at_ms >= now.saturating_add(time::DAY_MS);
                            r.at_ms.min(now).saturating_add(if ahead { 0 } else { window })
                        }
                        None => i64::MIN,
                    };
                    if closes < soonest {
                        (first, soonest) = (i, closes);
                    }
                }
                crate::profile::remove_at(recent, first);
            }
            recent.push(Recent { decision, offer: o as u32, at_ms: now, control: item.control });
        }
        self.outbox.push_compact(Compact::Exposure {
            decision,
            placement: placement as u16,
            offer: o as u32,
            variant: item.variant.map(|v| v as u16),
            control: item.control,
            at: now,
        });
    }

    /// The current stage's name, as of the latest event or decision.
    pub fn stage(&mut self) -> Option<&str> {
        self.settle_stage();
        self.current_stage()
    }

    /// The stage the shopper is in at `now` (first stage whose rule holds), without recording
    /// it: the stage memo's while it holds, else evaluated (resetting the evaluation memo).
    fn stage_at(&mut self, now: i64, today: i32) -> Option<usize> {
        let live = self.profile.traits_expire_ms.is_none_or(|t| now < t);
        if let Some((day, traits, stage)) = self.stage_memo {
            if day == today && traits == live {
                return stage;
            }
        }
        let stage = self.find_stage(now, today);
        self.stage_memo = self.stages_by_day.then_some((today, live, stage));
        stage
    }

    fn find_stage(&mut self, now: i64, today: i32) -> Option<usize> {
        self.memo.reset(&self.model);
        let ev = Eval {
            model: &self.model,
            profile: &self.profile,
            stage_names: &self.stage_names,
            context: &[],
            event: &[],
            now,
            today,
            memo: &self.memo,
        };
        self.model.stages.iter().position(|s| ev.test(&s.rule))
    }

    fn current_stage(&self) -> Option<&str> {
        self.profile.stage.and_then(|(i, _)| self.model.stages.get(i)).map(|s| s.name.as_str())
    }

    /// The segments the shopper is in now, by name.
    pub fn segments(&mut self, context: &[Value], now: i64) -> Vec<&str> {
        let mut at = Vec::new();
        self.segments_each(context, now, |i| at.push(i));
        let named = at.iter().filter_map(|&i| self.model.segments.get(i));
        named.map(|s| s.name.as_str()).collect()
    }

    /// Calls `f` with the index of each segment the shopper is in now, in model order (hosts
    /// that hold the names already need no strings).
    pub fn segments_each(&mut self, context: &[Value], now: i64, mut f: impl FnMut(usize)) {
        self.settle_stage();
        if !self.profile.consent {
            return;
        }
        let today = time::day_of(now, self.model.offset_ms);
        self.memo.reset(&self.model);
        let ev = self.eval(context, now, today);
        for i in 0..self.model.segments.len() {
            if ev.segment(i) {
                f(i);
            }
        }
    }

    /// Every score by name.
    pub fn scores(&mut self, context: &[Value], now: i64) -> Vec<(&str, f64)> {
        self.settle_stage();
        let today = time::day_of(now, self.model.offset_ms);
        self.memo.reset(&self.model);
        let ev = self.eval(context, now, today);
        let consent = self.profile.consent;
        let mut out = Vec::with_capacity(self.model.scores.len());
        for (i, s) in self.model.scores.iter().enumerate() {
            out.push((s.name.as_str(), if consent { ev.score(i) } else { 0.0 }));
        }
        out
    }

    /// Feature values by name (missing ones as `None`).
    pub fn features(&self, now: i64) -> Vec<(&str, Option<f64>)> {
        let today = time::day_of(now, self.model.offset_ms);
        let mut out = Vec::with_capacity(self.model.features.len());
        for (f, a) in self.model.features.iter().zip(&self.profile.features) {
            out.push((f.name.as_str(), a.read(&f.spec, today)));
        }
        out
    }

    fn eval<'a>(&'a self, context: &'a [Value], now: i64, today: i32) -> Eval<'a> {
        Eval {
            model: &self.model,
            profile: &self.profile,
            stage_names: &self.stage_names,
            context,
            event: &[],
            now,
            today,
            memo: &self.memo,
        }
    }

    /// The outbox events without removing them: the erasure requests, then the reports, each
    /// oldest first.
    pub fn outbox(&mut self) -> Vec<OutboxEvent> {
        self.settle_stage();
        self.outbox.events(&self.model)
    }

    /// Removes and returns the outbox events, in [`Engine::outbox`]'s order.
    pub fn drain_outbox(&mut self) -> Vec<OutboxEvent> {
        self.settle_stage();
        self.outbox.drain(&self.model)
    }

    /// Gives each outbox event, in [`Engine::outbox`]'s order, to `f` without copying it:
    /// [`Engine::outbox`], or [`Engine::drain_outbox`] when `drain` (the events are then removed).
    pub fn each_outbox_event(&mut self, drain: bool, f: &mut dyn FnMut(&OutboxEvent)) {
        self.settle_stage();
        self.outbox.each(&self.model, f);
        if drain {
            self.outbox.clear();
        }
    }

    /// Events dropped from a full outbox since the last drain.
    pub fn outbox_dropped(&self) -> u32 {
        self.outbox.dropped
    }

    /// Exports the profile and outbox as versioned bytes with a checksum.
    pub fn export_state(&mut self) -> Vec<u8> {
        self.settle_stage();
        self.profile.export(&self.model, &self.outbox)
    }

    /// Takes the erasure requests (`forgotten`) held undrained in exported state `bytes` (another
    /// engine's, whose profile a host drops: a reset) into this engine's outbox, after its own
    /// erasure requests; nothing else of that state. The backend learns of an erasure from them
    /// alone. Refused ([`StateError::Erased`]) when one of them retired this engine's own install.
    pub fn take_erasures(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.import(bytes, true)
    }

    /// Imports stored state. Corrupt or foreign state is rejected and the current state stays,
    /// and so is a state of an install this engine retired by an erasure whose `forgotten`
    /// request it still holds ([`StateError::Erased`]). The erasure requests it holds are kept.
    /// Stored state is untrusted (anyone can edit a device's storage): signed traits are kept as
    /// their token and count again only if it still verifies for this shopper, and unsigned
    /// traits only where they would be accepted now (see [`Engine::set_traits`]); otherwise the
    /// traits are dropped and the rest of the state is restored.
    pub fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.import(bytes, false)
    }

    /// [`Engine::import_state`], or with `erasures_only` [`Engine::take_erasures`]: one body, so
    /// the state is read by one copy of the code in the Wasm module.
    fn import(&mut self, bytes: &[u8], erasures_only: bool) -> Result<(), StateError> {
        let stored = StoredState::decode(bytes)?;
        let (mut profile, outbox) = Profile::from_stored(stored, &self.model);
        if erasures_only {
            // This engine's install must not be one of them: its reports would be erased with
            // the retired install's, and a tab holding the request would refuse its state.
            if outbox.retired(self.profile.install_id) {
                return Err(StateError::Erased(self.profile.install_id));
            }
            self.outbox.push_erasures_of(&outbox);
            return Ok(());
        }
        // A copy of the shopper this engine erased (another tab's, stored before it saw the
        // erasure, or a host's backup): restoring it would undo the erasure. (Never this
        // engine's own install: a host that gives back an erased id is refused when it does.)
        if profile.install_id != self.profile.install_id && self.outbox.retired(profile.install_id) {
            return Err(StateError::Erased(profile.install_id));
        }
        if profile.install_id == self.profile.install_id {
            // The same install (another tab's copy, an older one): its counter never goes back,
            // so decision ids never repeat, and the views on screen stay views.
            profile.seq = profile.seq.max(self.profile.seq);
        } else {
            self.view_floor = profile.seq;
        }
        self.profile = profile;
        // The erasure requests waiting here stay: the backend learns of an erasure from them
        // alone, and the imported copy may be from before it.
        let waiting = core::mem::replace(&mut self.outbox, outbox);
        self.outbox.push_erasures_of(&waiting);
        self.stage_stale_at = None;
        self.stage_seen_at = self.profile.stage.map_or(i64::MIN, |(_, at)| at);
        // Stored state may be days old: the next decision or event prunes it.
        self.pruned_day = i32::MIN;
        self.restore_traits();
        Ok(())
    }
}

/// Whether the stage rules, and the segments and scores they read (at any depth), read time by
/// the day only: no `now`, no hours since anything, not the stage itself or the time in it.
/// Then, while the profile does not change, the stage found at one time holds for the whole day
/// (traits aside: whether they have expired is part of the stage memo's key), and an engine
/// evaluates it once a day and after each change; otherwise at every decision and event.
pub fn stages_by_day(model: &Model) -> bool {
    use crate::compiled::{op, slot};
    use crate::logic::Ref;
    let segments = model.segments.len();
    // The segments, then the scores, already looked into: each once.
    let mut seen = vec![false; segments + model.scores.len()];
    let mut refs = Vec::new();
    for s in &model.stages {
        refs.extend(s.rule.refs());
    }
    while let Some(r) = refs.pop() {
        let (score, i) = match r {
            Ref::Slot(s) => match slot::unpack(s) {
                (slot::SEGMENT, i) => (false, i),
                (slot::SCORE, i) => (true, i),
                (slot::SPECIAL, i) if !matches!(i as u32, slot::TARGETING_KEY | slot::CONSENT) => {
                    return false
                }
                _ => continue,
            },
            Ref::Host(op::SEGMENT, i) => (false, i as usize),
            Ref::Host(op::SCORE, i) => (true, i as usize),
            Ref::Host(
                op::DAYS_SINCE_EVENT_LAST
                | op::DAYS_SINCE_EVENT_FIRST
                | op::DAYS_SINCE_FEATURE
                | op::DAYS_SINCE_VALUE
                | op::DAYS_TO_ANNIVERSARY
                | op::IN_CALENDAR_TODAY
                | op::IN_CALENDAR_VALUE,
                _,
            ) => continue,
            Ref::Host(..) => return false,
        };
        match seen.get_mut(if score { segments.saturating_add(i) } else { i }) {
            Some(done) if !*done => *done = true,
            _ => continue,
        }
        // A score's inputs are slots, read as rules read them (whatever a snapshot holds).
        if score {
            if let Some(d) = model.scores.get(i) {
                refs.extend(d.terms.iter().map(|&(s, _)| Ref::Slot(s)));
            }
        } else if let Some(d) = model.segments.get(i) {
            refs.extend(d.rule.refs());
        }
    }
    true
}

/// The stages' names as values, for the `stage` variable.
fn stage_names(model: &Model) -> Vec<Value> {
    let mut out = Vec::with_capacity(model.stages.len());
    for s in &model.stages {
        out.push(Value::String(s.name.clone()));
    }
    out
}

#[cfg(test)]
mod tests;
