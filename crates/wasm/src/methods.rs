//! The engine's methods that JavaScript reaches through one export, `__call`, by number; the
//! package's JavaScript (pkg/fast.js) makes each of them a method of `Engine` again. One export
//! instead of 25 makes the module and its glue smaller: each export brings a shim of its
//! own (argument handles, the borrow of the engine, the error return).

use alloc::{string::String, vec::Vec};
use js_sys::{Array, JsString, Object, Uint8Array};
use kairos::engine::host;
use kairos::engine::input;
use kairos::engine::Tracked;
use wasm_bindgen::prelude::*;

use crate::convert::{self, set_str};
use crate::error::{self, code};
use crate::{bytes_arg, install_id, name_arg, now, snapshot_bytes, Engine};

/// The methods `__call` runs, by number (pkg/fast.js uses the same numbers), with the method's
/// arguments in order as `a`, `b` and `c`.
pub mod method {
    /// `track(event, now)`: the checked path of the fast `track`.
    pub const TRACK: u32 = 0;
    /// `decide(placement, context, now)`: the checked path of the fast `decide`. The decision goes
    /// to the fast paths' output buffer (after `__prepare`), which pkg/fast.js makes an object
    /// of; this returns how many numbers.
    pub const DECIDE: u32 = 1;
    /// `segments(context, now)`: the checked path of the fast `segments`. The segments' indices go
    /// to the fast paths' output buffer (after `__prepare`); this returns how many.
    pub const SEGMENTS: u32 = 2;
    /// `scores(context, now)`.
    pub const SCORES: u32 = 3;
    /// `features(now)`.
    pub const FEATURES: u32 = 4;
    /// `explain(offer, context, now)`.
    pub const EXPLAIN: u32 = 5;
    /// `stage()`.
    pub const STAGE: u32 = 6;
    /// `setConsent(consent, now, installId)`.
    pub const SET_CONSENT: u32 = 7;
    /// `identify(kind, value)`.
    pub const IDENTIFY: u32 = 8;
    /// `forget(installId, now)`.
    pub const FORGET: u32 = 9;
    /// `setTraits(traits, expiresMs)`.
    pub const SET_TRAITS: u32 = 10;
    /// `setTraitsToken(token, now)`.
    pub const SET_TRAITS_TOKEN: u32 = 11;
    /// `applySnapshot(bytes)`.
    pub const APPLY_SNAPSHOT: u32 = 12;
    /// `applySignedSnapshot(bytes)`.
    pub const APPLY_SIGNED_SNAPSHOT: u32 = 13;
    /// `outbox()`.
    pub const OUTBOX: u32 = 14;
    /// `drainOutbox()`.
    pub const DRAIN_OUTBOX: u32 = 15;
    /// `exportState()`.
    pub const EXPORT_STATE: u32 = 16;
    /// `importState(bytes)`.
    pub const IMPORT_STATE: u32 = 17;
    /// `__prepare()`: the fast paths' names and buffers, see `Engine::prepare`.
    pub const PREPARE: u32 = 18;
    /// `__intern(string)`: a string's index for the fast paths, see `Engine::intern`.
    pub const INTERN: u32 = 19;
    /// `peek(placement, context, now)`: the checked path of the fast `peek`, what `decide` would
    /// decide, recording nothing (to the output buffer like `decide`).
    pub const PEEK: u32 = 20;
    /// `refresh(placement, context, now)`, the checked path of the fast `refresh`: what the view
    /// shown with the decision fast.js wrote after the context in the input buffer shows now (see
    /// `Engine::read_shown`), to the output buffer like `decide`.
    pub const REFRESH: u32 = 21;
    /// `__takeErasures(state)`: the erasure requests held undrained in another engine's exported
    /// state, into this one's outbox (pkg/sync.js's `reset`; see `Engine::take_erasures`).
    pub const TAKE_ERASURES: u32 = 22;
    /// The getter `consent`: whether the shopper consented to profiling.
    pub const CONSENT: u32 = 23;
    /// The getter `modelVersion`: the running model's version.
    pub const MODEL_VERSION: u32 = 24;
    /// The getter `pid`: the shopper's pseudonymous id (what trait tokens and outbox batches are
    /// keyed by).
    pub const PID: u32 = 25;
    /// The getter `traitsTokenExpiresMs`: when the traits set by a token expire (ms), or `null`
    /// when no token's traits are held (none set yet, or dropped: a stored token that no longer
    /// verifies, a new pid), so the host fetches a fresh token then or before.
    pub const TRAITS_TOKEN_EXPIRES_MS: u32 = 26;
    /// The getter `stageNames`: the model's lifecycle stages, in order.
    pub const STAGE_NAMES: u32 = 27;
}

#[wasm_bindgen]
impl Engine {
    /// For the package's JavaScript (pkg/fast.js): runs the method numbered `which` (see
    /// [`method`]) with its arguments `a`, `b`, `c`; what it returns, `undefined` for the methods
    /// that return nothing.
    #[wasm_bindgen(js_name = __call)]
    pub fn call(&mut self, which: u32, a: &JsValue, b: &JsValue, c: &JsValue) -> Result<JsValue, JsValue> {
        let done = |r: Result<(), JsValue>| r.map(|()| JsValue::UNDEFINED);
        match which {
            method::TRACK => self.track_checked(a, b),
            // Both write to the output buffer and return how many numbers.
            method::DECIDE | method::PEEK | method::REFRESH | method::SEGMENTS => {
                let n = if which == method::SEGMENTS {
                    self.segments(a, b)
                } else {
                    self.decide_checked(a, b, c, which)
                };
                n.map(JsValue::from)
            }
            method::SCORES => self.scores(a, b).map(JsValue::from),
            method::FEATURES => self.features(a).map(JsValue::from),
            method::EXPLAIN => self.explain(a, b, c).map(JsValue::from),
            method::STAGE => Ok(self.core.stage().map_or(JsValue::UNDEFINED, JsValue::from_str)),
            method::SET_CONSENT | method::FORGET => {
                self.forget_strings();
                done(if which == method::FORGET {
                    self.forget(a, b)
                } else {
                    self.set_consent_checked(a, b, c)
                })
            }
            method::IDENTIFY => done(self.identify(a, b)),
            method::SET_TRAITS => done(self.set_traits(a, b)),
            method::SET_TRAITS_TOKEN => done(self.set_traits_token(a, b)),
            method::APPLY_SNAPSHOT | method::APPLY_SIGNED_SNAPSHOT => {
                done(self.apply(which == method::APPLY_SIGNED_SNAPSHOT, a))
            }
            method::OUTBOX | method::DRAIN_OUTBOX => {
                let out = Array::new();
                let drain = which == method::DRAIN_OUTBOX;
                self.core.each_outbox_event(drain, &mut |e| {
                    out.push(&convert::outbox_event(e));
                });
                Ok(out.into())
            }
            method::EXPORT_STATE => Ok(Uint8Array::from(self.core.export_state().as_slice()).into()),
            method::IMPORT_STATE | method::TAKE_ERASURES => {
                let b = bytes_arg(a, "state", code::STATE_INVALID)?;
                let r = if which == method::IMPORT_STATE {
                    self.core.import_state(&b)
                } else {
                    self.core.take_erasures(&b)
                };
                done(r.map_err(|e| error::state(&e)))
            }
            method::PREPARE => Ok(self.prepare().into()),
            // Not a string: -1, as for one too long (fast.js sends strings only).
            method::INTERN => Ok(a.as_string().map_or(-1, |s| self.intern(s)).into()),
            method::CONSENT => Ok(self.core.profile().consent.into()),
            method::MODEL_VERSION => Ok(self.core.model().version.into()),
            method::PID => Ok(self.core.profile().pid().into()),
            method::TRAITS_TOKEN_EXPIRES_MS => {
                let p = self.core.profile();
                Ok(match (&p.traits_token, p.traits_expire_ms) {
                    (Some(_), Some(ms)) => JsValue::from_f64(ms as f64),
                    _ => JsValue::NULL,
                })
            }
            method::STAGE_NAMES => {
                let out = Array::new();
                for s in &self.core.model().stages {
                    out.push(&JsValue::from_str(&s.name));
                }
                Ok(out.into())
            }
            _ => Err(error::error(code::ARGUMENT_INVALID, "__call: no such method")),
        }
    }
}

/// For Rust callers (the wasm-bindgen tests): the methods as JavaScript has them, through
/// [`Engine::call`] as pkg/fast.js calls it.
impl Engine {
    /// `track`: see [`Engine::call`].
    pub fn track(&mut self, event: &JsValue, now: &JsValue) -> Result<JsString, JsValue> {
        self.call(method::TRACK, event, now, &JsValue::UNDEFINED).map(JsCast::unchecked_into)
    }

    /// `decide`: see [`Engine::call`].
    pub fn decide(
        &mut self,
        placement: &JsValue,
        context: &JsValue,
        now: &JsValue,
    ) -> Result<Object, JsValue> {
        self.call(method::DECIDE, placement, context, now).map(JsCast::unchecked_into)
    }

    /// `stage`: see [`Engine::call`].
    pub fn stage(&mut self) -> Option<String> {
        let none = &JsValue::UNDEFINED;
        self.call(method::STAGE, none, none, none).ok().and_then(|s| s.as_string())
    }

    /// `setConsent`: see [`Engine::call`].
    pub fn set_consent(&mut self, consent: &JsValue) -> Result<(), JsValue> {
        let none = &JsValue::UNDEFINED;
        self.call(method::SET_CONSENT, consent, none, none).map(drop)
    }

    /// `applySnapshot`: see [`Engine::call`].
    pub fn apply_snapshot(&mut self, bytes: &JsValue) -> Result<(), JsValue> {
        let none = &JsValue::UNDEFINED;
        self.call(method::APPLY_SNAPSHOT, bytes, none, none).map(drop)
    }

    /// `drainOutbox`: see [`Engine::call`].
    pub fn drain_outbox(&mut self) -> Array {
        let none = &JsValue::UNDEFINED;
        self.call(method::DRAIN_OUTBOX, none, none, none)
            .map_or_else(|_| Array::new(), JsCast::unchecked_into)
    }

    /// `exportState`: see [`Engine::call`].
    pub fn export_state(&mut self) -> Vec<u8> {
        let none = &JsValue::UNDEFINED;
        let bytes = self.call(method::EXPORT_STATE, none, none, none);
        bytes.map_or_else(|_| Vec::new(), |b| b.unchecked_into::<Uint8Array>().to_vec())
    }

    /// `importState`: see [`Engine::call`].
    pub fn import_state(&mut self, bytes: &JsValue) -> Result<(), JsValue> {
        let none = &JsValue::UNDEFINED;
        self.call(method::IMPORT_STATE, bytes, none, none).map(drop)
    }
}

impl Engine {
    /// Tracks an event `{type: "view", ...}`: `"recorded"`, or `"no_consent"` (nothing kept).
    fn track_checked(&mut self, event: &JsValue, now: &JsValue) -> Result<JsValue, JsValue> {
        let now = self::now(now)?;
        let kind = self.event(event).map_err(|e| error::input(&e, code::EVENT_INVALID))?;
        Ok(JsValue::from_str(match self.core.track(kind, &self.props, now) {
            Tracked::Recorded => "recorded",
            Tracked::NoConsent => "no_consent",
        }))
    }

    /// Decides what `placement` shows for page `context`; records the exposure (or, unless
    /// `record`, nothing). The decision goes to the output buffer; how many numbers.
    fn decide_checked(
        &mut self,
        placement: &JsValue,
        context: &JsValue,
        now: &JsValue,
        which: u32,
    ) -> Result<u32, JsValue> {
        let now = self::now(now)?;
        let name = name_arg(placement, "placement", code::PLACEMENT_UNKNOWN)?;
        let p = input::placement_index(self.core.model(), &name)
            .map_err(|e| error::input(&e, code::PLACEMENT_UNKNOWN))?;
        self.fill_context(context)?;
        Ok(self.decide_with(p, now, which))
    }

    /// The segments the shopper is in now, in model order: their indices go to the fast paths'
    /// output buffer (after `__prepare`), which pkg/fast.js makes names of; how many.
    fn segments(&mut self, context: &JsValue, now: &JsValue) -> Result<u32, JsValue> {
        let now = self::now(now)?;
        self.fill_context(context)?;
        Ok(self.write_segments(now))
    }

    /// Every score by name.
    fn scores(&mut self, context: &JsValue, now: &JsValue) -> Result<Object, JsValue> {
        let now = self::now(now)?;
        self.fill_context(context)?;
        let out = Object::new();
        for &(name, x) in &self.core.scores(&self.context, now) {
            set_str(&out, name, &JsValue::from_f64(x));
        }
        Ok(out)
    }

    /// Feature values by name; `null` for a missing time.
    fn features(&self, now: &JsValue) -> Result<Object, JsValue> {
        let now = self::now(now)?;
        let out = Object::new();
        for &(name, v) in &self.core.features(now) {
            set_str(&out, name, &v.map_or(JsValue::NULL, JsValue::from_f64));
        }
        Ok(out)
    }

    /// Why offer `offer` is or is not eligible now, without recording anything.
    fn explain(&mut self, offer: &JsValue, context: &JsValue, now: &JsValue) -> Result<Object, JsValue> {
        let now = self::now(now)?;
        let id = name_arg(offer, "offer", code::OFFER_UNKNOWN)?;
        let o =
            input::offer_index(self.core.model(), &id).map_err(|e| error::input(&e, code::OFFER_UNKNOWN))?;
        self.fill_context(context)?;
        let x = self
            .core
            .explain(o, &self.context, now)
            .ok_or_else(|| error::error(code::OFFER_UNKNOWN, "unknown offer"))?;
        let out = Object::new();
        set_str(&out, "offer", &JsValue::from_str(&x.offer));
        set_str(&out, "eligible", &JsValue::from_bool(x.eligible));
        let checks = Array::new();
        for c in &x.checks {
            let o = Object::new();
            set_str(&o, "name", &JsValue::from_str(c.name));
            set_str(&o, "passed", &JsValue::from_bool(c.passed));
            set_str(&o, "detail", &JsValue::from_str(&c.detail));
            checks.push(&o);
        }
        set_str(&out, "checks", &checks);
        Ok(out)
    }

    /// Grants or withdraws consent (withdrawing erases the behavioural profile and the reports
    /// not yet drained, queues a `forgotten` request for the backend and starts a new install id,
    /// `install` or a drawn one).
    fn set_consent_checked(
        &mut self,
        consent: &JsValue,
        now: &JsValue,
        install: &JsValue,
    ) -> Result<(), JsValue> {
        let c = consent
            .as_bool()
            .ok_or_else(|| error::error(code::ARGUMENT_INVALID, "consent must be true or false"))?;
        // `now` and `installId` are checked whatever is asked, as every method checks them.
        let now = self::now(now)?;
        let id = install_id(install)?;
        if c {
            self.core.set_consent(true);
        } else if self.core.profile().consent {
            self.new_install(id)?;
            self.core.withdraw_consent(id, now);
        }
        Ok(())
    }

    /// Refuses `id` as the new install id of an erasure when it is the current one (the erased
    /// shopper's pid and decision ids would carry on) or one an erasure waiting in the outbox
    /// retired (its reports are to be erased).
    fn new_install(&self, id: u64) -> Result<(), JsValue> {
        if id == self.core.profile().install_id || self.core.erased(id) {
            return Err(error::error(
                code::ARGUMENT_INVALID,
                "installId must be a new one, not the current nor an erased one",
            ));
        }
        Ok(())
    }

    /// Adds an identifier: kind `phone`, `email` or `external`. Only a salted hash is kept.
    fn identify(&mut self, kind: &JsValue, value: &JsValue) -> Result<(), JsValue> {
        let k = name_arg(kind, "identifier kind", code::IDENTITY_INVALID)?;
        let k = host::id_kind(&k)
            .ok_or_else(|| error::joined(code::IDENTITY_INVALID, &["unknown identifier kind `", &k, "`"]))?;
        let v = name_arg(value, "identifier", code::IDENTITY_INVALID)?;
        self.core.identify(k, &v).map_err(|e| error::input(&e, code::IDENTITY_INVALID))
    }

    /// Wipes the profile; the outbox keeps a `forgotten` event. A new install id is drawn unless
    /// given.
    fn forget(&mut self, install: &JsValue, now: &JsValue) -> Result<(), JsValue> {
        let id = install_id(install)?;
        self.new_install(id)?;
        let now = self::now(now)?;
        self.core.forget(id, now);
        Ok(())
    }

    /// Sets traits the host supplies unsigned, valid until `expires` when given. Refused
    /// (`TRAITS_UNSIGNED`) by an engine that trusts token keys unless it allows unsigned traits:
    /// traits then come only through `setTraitsToken`.
    fn set_traits(&mut self, traits: &JsValue, expires: &JsValue) -> Result<(), JsValue> {
        let traits = convert::traits(traits)?;
        let exp = if expires.is_undefined() || expires.is_null() { None } else { Some(now(expires)?) };
        self.core.set_traits(traits, exp).map_err(|e| error::input(&e, code::TRAITS_INVALID))
    }

    /// Sets the server's traits from a signed token (`kt1.…`): its signature, expiry and user
    /// (this shopper's pseudonymous id) are checked first; a rejected token changes nothing.
    fn set_traits_token(&mut self, token: &JsValue, now: &JsValue) -> Result<(), JsValue> {
        let now = self::now(now)?;
        let token = match convert::string(token, 16_384) {
            Some(Ok(t)) => t,
            _ => return Err(error::error(code::TOKEN_INVALID, "token must be a string of at most 16 KiB")),
        };
        self.core.set_traits_token(&token, now).map_err(|e| error::token(&e))
    }

    /// Replaces the model with a newer snapshot; a rejected one leaves the running model. Signed:
    /// the snapshot must be signed by a trusted key. Unsigned: an engine that trusts keys checks
    /// the signature all the same.
    fn apply(&mut self, signed: bool, bytes: &JsValue) -> Result<(), JsValue> {
        let bytes = snapshot_bytes(bytes)?;
        let applied =
            if signed { self.core.apply_signed_snapshot(&bytes) } else { self.core.apply_snapshot(&bytes) };
        applied.map_err(|e| error::snapshot(&e))?;
        self.model_changed();
        Ok(())
    }
}
