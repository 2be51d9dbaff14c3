//! Choosing what a placement shows, and explaining why an offer is or is not eligible.
//!
//! Arbitration: the placement's offers are walked best first (priority descending, model order
//! within a priority, precomputed by the compiler). Within one priority, offers with `rank_by`
//! are ordered by their score, higher first; ties keep model order. Each offer must pass, in
//! order: consent, schedule, stage, quiet hours, its caps and gap, the global caps, and its
//! audience. A shopper in an offer's control group takes the slot but gets the fallback.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::Engine;
use crate::compiled::OfferDef;
use crate::logic::{self, Value};
use crate::profile::{Assignment, Profile};
use crate::time;

/// Why a placement shows what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// At least one offer was chosen.
    Chosen,
    /// No consent, and no offer that may be shown without consent was chosen: the fallback.
    NoConsent,
    /// The placement has no offers.
    NoOffers,
    /// No offer passed its schedule, stage and audience.
    NotEligible,
    /// Some offer passed its schedule and stage but was held by a cap or a minimum gap (its
    /// audience is not evaluated then), and none was chosen.
    Capped,
    /// Some offer passed its schedule and stage but it is quiet hours, and none was chosen.
    QuietHours,
    /// The only offers chosen were held out for their control group.
    ControlGroup,
}

impl Reason {
    /// Every reason, in declaration order (hosts index names by it).
    pub const ALL: [Reason; 7] = [
        Reason::Chosen,
        Reason::NoConsent,
        Reason::NoOffers,
        Reason::NotEligible,
        Reason::Capped,
        Reason::QuietHours,
        Reason::ControlGroup,
    ];

    /// Its position in [`Reason::ALL`] (declaration order).
    pub fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Chosen => "chosen",
            Reason::NoConsent => "no_consent",
            Reason::NoOffers => "no_offers",
            Reason::NotEligible => "not_eligible",
            Reason::Capped => "capped",
            Reason::QuietHours => "quiet_hours",
            Reason::ControlGroup => "control_group",
        }
    }
}

/// One chosen item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item {
    /// Offer index (see [`crate::Model::offers`]).
    pub offer: usize,
    /// Variant index, when the offer has variants.
    pub variant: Option<usize>,
    /// Content index into [`crate::Model::contents`]: the variant's, the offer's, or for the
    /// control group the placement's fallback.
    pub content: Option<u32>,
    /// Held out: the shopper is in the offer's control group and sees the fallback.
    pub control: bool,
    /// The offer's priority.
    pub priority: i32,
    /// The ranking score, when the offer ranks by one.
    pub score: Option<f64>,
}

/// What a placement shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Decision id, unique per install; exposures and conversions carry it. 0 without consent
    /// (nothing is reported, and no decision is counted).
    pub id: u64,
    /// Placement index.
    pub placement: usize,
    /// Chosen items, best first.
    pub items: Vec<Item>,
    /// Why.
    pub reason: Reason,
    /// The placement's fallback content, for empty or held-out slots.
    pub fallback: Option<u32>,
    /// The version of the model it was decided on (its indices are that model's).
    pub model: u32,
}

impl Decision {
    /// An empty decision, to reuse with [`Engine::decide_into`].
    pub fn empty() -> Self {
        Decision {
            id: 0,
            placement: 0,
            items: Vec::new(),
            reason: Reason::NoOffers,
            fallback: None,
            model: 0,
        }
    }
}

/// One check of an offer's eligibility.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// `consent`, `schedule`, `stage`, `quiet_hours`, `cap`, `min_gap`, `global_cap`, `audience`.
    pub name: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// Detail for people.
    pub detail: String,
}

/// Why an offer is or is not eligible right now.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Offer id.
    pub offer: String,
    /// Eligible overall.
    pub eligible: bool,
    /// Every check, in arbitration order.
    pub checks: Vec<Check>,
    /// The audience's top-level conditions, each evaluated on its own.
    pub conditions: Vec<Condition>,
}

/// One top-level condition of an offer's audience.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Its place in the model, like `offers[3].audience.and[1]`.
    pub path: String,
    /// Whether it holds now.
    pub passed: bool,
    /// The segment, when the condition is `{"segment": ...}`.
    pub segment: Option<String>,
}

/// The first failed check, as arbitration sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fail {
    // Ordered from least to most specific for the decision's reason.
    Ineligible,
    Quiet,
    Capped,
}

struct Now {
    now: i64,
    today: i32,
    minute: u16,
    /// Exposures the global caps still allow now.
    global_left: u32,
    global_quiet: bool,
}

/// Whether two items show the same: offer, variant, control group.
fn same_item(a: &Item, b: &Item) -> bool {
    (a.offer, a.variant, a.control) == (b.offer, b.variant, b.control)
}

fn in_quiet(q: Option<(u16, u16)>, minute: u16) -> bool {
    match q {
        Some((from, to)) if from < to => (from..to).contains(&minute),
        Some((from, to)) => minute >= from || minute < to,
        None => false,
    }
}

fn caps_open(profile: &Profile, o: usize, def: &OfferDef, t: &Now) -> (bool, bool) {
    let Some(state) = profile.offers.get(o) else { return (false, false) };
    let caps = def.caps.iter().all(|c| state.exposures.count_in_last(t.today, c.days) < c.max);
    let gap = def
        .min_gap_ms
        .is_none_or(|g| state.exposures.last_ms().is_none_or(|last| t.now.saturating_sub(last) >= g));
    (caps, gap)
}

impl Engine {
    fn now_for(&self, now: i64) -> Now {
        let offset = self.model.offset_ms;
        let today = time::day_of(now, offset);
        let minute = time::minute_of_day(now, offset);
        // Global caps count and hold with consent only: without it nothing is counted, and a
        // decision is not held to them (review: a decision took only `max` of its items).
        let mut global_left = u32::MAX;
        for c in self.model.caps.iter().filter(|_| self.profile.consent) {
            global_left =
                global_left.min(c.max.saturating_sub(self.profile.global.count_in_last(today, c.days)));
        }
        Now { now, today, minute, global_left, global_quiet: in_quiet(self.model.quiet, minute) }
    }

    /// Cheap checks before the audience rule. `Err` carries the failure class.
    /// `on_screen`: the offer is on screen already (see [`Engine::refresh_into`]), so its caps, gap
    /// and the global caps do not hold it: they limit new exposures.
    fn precheck(&self, def: &OfferDef, o: usize, t: &Now, on_screen: bool) -> Result<(), Fail> {
        if def.requires_consent && !self.profile.consent {
            return Err(Fail::Ineligible);
        }
        if def.start.is_some_and(|s| t.now < s) || def.end.is_some_and(|e| t.now >= e) {
            return Err(Fail::Ineligible);
        }
        if let Some(mask) = def.stages {
            let in_stage = self.profile.stage.is_some_and(|(s, _)| s < 64 && mask & (1u64 << s) != 0);
            if !in_stage {
                return Err(Fail::Ineligible);
            }
        }
        if in_quiet(def.quiet, t.minute) || (def.global_caps && t.global_quiet) {
            return Err(Fail::Quiet);
        }
        if self.profile.consent && !on_screen {
            let (caps, gap) = caps_open(&self.profile, o, def, t);
            if !caps || !gap || (def.global_caps && t.global_left == 0) {
                return Err(Fail::Capped);
            }
        }
        Ok(())
    }

    /// Decides what placement `placement` shows for page context `context` (slot values, see
    /// [`super::input::context`]). Records exposures and updates the stage.
    pub fn decide(&mut self, placement: usize, context: &[Value], now: i64) -> Decision {
        let mut d = Decision::empty();
        self.decide_into(placement, context, now, &mut d);
        d
    }

    /// Like [`Engine::decide`], reusing `out`'s allocation.
    pub fn decide_into(&mut self, placement: usize, context: &[Value], now: i64, out: &mut Decision) {
        self.decide_as(placement, context, now, out, true, None);
    }

    /// What [`Engine::decide_into`] would decide at `now`, recording nothing: no exposure (caps
    /// are not used), no stage change, no experiment assignment kept, and the id is 0. For
    /// prefetching and server-side rendering; `decide` when the content is shown, and
    /// [`Engine::refresh_into`] when a view already shown is painted again.
    pub fn peek_into(&mut self, placement: usize, context: &[Value], now: i64, out: &mut Decision) {
        self.decide_as(placement, context, now, out, false, None);
    }

    /// What a view already shown with decision `shown` shows now: for a re-render, a clock
    /// change, a new consent, a new model. `shown` is a view of this engine when it was recorded
    /// here: made with consent, by this install, since its exposures were last erased (withdrawing
    /// consent, `forget`, importing another install's state; its id inverts to a decision counter
    /// in that range), on the running model (`Decision::model`: its indices are that model's; a
    /// host that kept a decision across a model update maps it by offer id). Its offers are then
    /// on screen, so their caps, gap and the global caps do not hold them: those limit new
    /// exposures, and the view's own exposure may have filled them. When the same offers come out,
    /// in the same order, with the same variants and control, the result is `shown` again (its id)
    /// and no exposure is recorded (a stage change that came due is, as `decide` would record it). Otherwise the view changes:
    /// a new decision (a new id, the stage recorded) in which only the items not on screen already
    /// (offer, variant and control group) are exposed, so nothing is exposed twice for one view
    /// and each exposure has its own decision id and offer. A `shown` that is not a view of this
    /// engine (id 0: `peek`'s or made without consent) is decided anew, every item exposed.
    pub fn refresh_into(&mut self, shown: &Decision, context: &[Value], now: i64, out: &mut Decision) {
        if !self.is_view(shown) {
            self.decide_into(shown.placement, context, now, out);
            return;
        }
        self.decide_as(shown.placement, context, now, out, false, Some(shown));
        let same = out.items.len() == shown.items.len()
            && out.items.iter().zip(&shown.items).all(|(a, b)| same_item(a, b));
        if same {
            out.id = shown.id;
            self.update_stage(now, time::day_of(now, self.model.offset_ms));
        } else {
            self.decide_as(shown.placement, context, now, out, true, Some(shown));
        }
    }

    /// Whether `d` was recorded by this engine since its exposures were last erased, on the running
    /// model: its id's counter (ids invert to it) is above the floor and not above the counter now.
    fn is_view(&self, d: &Decision) -> bool {
        let seq = unmix(self.profile.install_id, d.id);
        d.id != 0
            && self.profile.consent
            && d.model == self.model.version
            && seq > self.view_floor
            && seq <= self.profile.seq
    }

    /// `record`: as `decide` (else as `peek`). `view`: the decision of the view shown (see
    /// [`Engine::refresh_into`]): its offers no cap holds, and its items (offer, variant, control
    /// group) are not exposed again.
    fn decide_as(
        &mut self,
        placement: usize,
        context: &[Value],
        now: i64,
        out: &mut Decision,
        record: bool,
        view: Option<&Decision>,
    ) {
        let on_screen = view.map_or(&[][..], |v| &v.items);
        self.settle_stage();
        let t = self.now_for(now);
        let recorded = self.profile.stage;
        if record {
            self.update_stage(now, t.today);
        } else {
            self.stage_unrecorded(now, t.today);
        }
        // Without consent nothing is reported, and the counter (stored, and readable from the
        // ids of later reports) does not count the shopper's page views: the id is 0.
        out.id = 0;
        out.model = self.model.version;
        if record && self.profile.consent {
            self.prune_to(t.today);
            self.profile.seq = self.profile.seq.wrapping_add(1);
            out.id = mix(self.profile.install_id, self.profile.seq);
        }
        out.placement = placement;
        out.items.clear();
        out.reason = Reason::NoOffers;
        out.fallback = None;
        let Some(p) = self.model.placements.get(placement) else {
            if !record {
                self.profile.stage = recorded;
            }
            return;
        };
        out.fallback = p.fallback;
        let fallback = p.fallback;
        let max_items = usize::from(p.max_items);
        let shown = |o: u32| on_screen.iter().any(|i| i.offer == o as usize);
        self.memo.reset(&self.model);
        let mut scratch = core::mem::take(&mut self.scratch);
        let mut worst: Option<Fail> = None;
        {
            let ev = self.eval(context, now, t.today);
            let offers = &p.offers;
            let mut i = 0;
            // Walk priority groups; `scratch` collects the eligible offers chosen so far.
            'groups: while i < offers.len() && scratch.len() < max_items {
                let priority_of = |k: usize| {
                    offers.get(k).and_then(|&o| self.model.offers.get(o as usize)).map(|d| d.priority)
                };
                let group_priority = priority_of(i);
                let mut ranked = false;
                for &o in offers.get(i..).unwrap_or_default() {
                    let Some(d) = self.model.offers.get(o as usize) else { continue };
                    if Some(d.priority) != group_priority {
                        break;
                    }
                    if d.rank_by.is_some() {
                        ranked = true;
                        break;
                    }
                }
                let base = scratch.len();
                while let Some(&o) = offers.get(i) {
                    let Some(def) = self.model.offers.get(o as usize) else { break 'groups };
                    if Some(def.priority) != group_priority {
                        break;
                    }
                    if !ranked && scratch.len() >= max_items {
                        // Not out of 'groups: the global-cap budget below still applies.
                        break;
                    }
                    i += 1;
                    match self.precheck(def, o as usize, &t, shown(o)) {
                        Err(f) => worst = worst.max(Some(f)),
                        Ok(()) if def.audience.as_ref().is_none_or(|r| ev.test(r)) => {
                            let score = def.rank_by.map_or(f64::NEG_INFINITY, |s| ev.score(s as usize));
                            // Groups are short, so inserting in rank order is cheaper than a sort
                            // (and less code). Higher scores first; equal scores keep model order
                            // (offer indices are unique).
                            let at = scratch.get(base..).map_or(0, |tail| {
                                tail.partition_point(|&(p, s)| score.total_cmp(&s).then(p.cmp(&o)).is_le())
                            });
                            crate::profile::insert_at(&mut scratch, base + at, (o, score));
                        }
                        Ok(()) => worst = worst.max(Some(Fail::Ineligible)),
                    }
                }
                // One decision may not take more than the global caps still allow.
                // Kept entries are moved down in place (less code than `retain`).
                let mut left = t.global_left;
                let mut kept = 0;
                for k in 0..scratch.len() {
                    let Some(&(o, score)) = scratch.get(k) else { break };
                    if self.model.offers.get(o as usize).is_some_and(|d| d.global_caps) && !shown(o) {
                        if left == 0 {
                            worst = worst.max(Some(Fail::Capped));
                            continue;
                        }
                        left -= 1;
                    }
                    if let Some(slot) = scratch.get_mut(kept) {
                        *slot = (o, score);
                    }
                    kept += 1;
                }
                scratch.truncate(kept.min(max_items));
            }
        }
        if !self.profile.consent && scratch.is_empty() {
            out.reason = Reason::NoConsent;
        } else if scratch.is_empty() {
            out.reason = match worst {
                Some(Fail::Capped) => Reason::Capped,
                Some(Fail::Quiet) => Reason::QuietHours,
                Some(Fail::Ineligible) => Reason::NotEligible,
                None => Reason::NoOffers,
            };
        }
        for &(o, score) in &scratch {
            let item = self.make_item(o as usize, score, fallback, record);
            out.items.push(item);
        }
        scratch.clear();
        self.scratch = scratch;
        if !out.items.is_empty() {
            out.reason =
                if out.items.iter().all(|i| i.control) { Reason::ControlGroup } else { Reason::Chosen };
        }
        if !record {
            self.profile.stage = recorded;
        } else if self.profile.consent {
            for item in &out.items {
                // Exempt from caps by offer, but exposed unless it shows as it did: a model update
                // can move the shopper to another variant, or out of a control group.
                if !on_screen.iter().any(|s| same_item(s, item)) {
                    self.record_exposure(out.id, placement, item, now, t.today);
                }
            }
        }
    }

    /// Puts the stage `decide` at `now` would record into the profile without recording it; the
    /// caller puts the recorded one back.
    fn stage_unrecorded(&mut self, now: i64, today: i32) {
        if self.profile.consent && !self.model.stages.is_empty() {
            let stage = self.stage_at(now, today);
            if stage != self.profile.stage.map(|s| s.0) {
                self.profile.stage = stage.map(|s| (s, now));
            }
        }
    }

    fn make_item(&mut self, o: usize, score: f64, fallback: Option<u32>, keep: bool) -> Item {
        let Some(def) = self.model.offers.get(o) else {
            return Item {
                offer: o,
                variant: None,
                content: fallback,
                control: false,
                priority: 0,
                score: None,
            };
        };
        let assignment = match self.profile.offers.get(o).and_then(|s| s.assignment) {
            Some(a) => a,
            None => {
                let a = assign(def, self.profile.pid());
                // Only a consenting shopper's assignment is stored (and only on exposure); otherwise
                // it is recomputed, which gives the same answer for the same install.
                if keep && self.profile.consent {
                    if let Some(s) = self.profile.offers.get_mut(o) {
                        s.assignment = Some(a);
                    }
                }
                a
            }
        };
        let score = def.rank_by.map(|_| score);
        match assignment {
            Assignment::Control => Item {
                offer: o,
                variant: None,
                content: fallback,
                control: true,
                priority: def.priority,
                score,
            },
            Assignment::Treatment(v) => {
                let variant = v.map(usize::from).filter(|&v| v < def.variants.len());
                let content =
                    variant.and_then(|v| def.variants.get(v)).and_then(|v| v.content).or(def.content);
                Item { offer: o, variant, content, control: false, priority: def.priority, score }
            }
        }
    }

    /// Explains offer `offer`'s eligibility for page context `context`, without recording anything.
    // Details are built by pushing pieces, not by `format!`: every formatting call site is code
    // in the Wasm module, and this is the largest function the package exports.
    pub fn explain(&mut self, offer: usize, context: &[Value], now: i64) -> Option<Explanation> {
        self.settle_stage();
        self.model.offers.get(offer)?;
        let t = self.now_for(now);
        // The stage as `decide` at `now` would make it, for this explanation only: it is put
        // back, unrecorded, at the end.
        let recorded = self.profile.stage;
        self.stage_unrecorded(now, t.today);
        let explanation = self.explain_at(offer, context, now, t);
        self.profile.stage = recorded;
        explanation
    }

    fn explain_at(&mut self, offer: usize, context: &[Value], now: i64, t: Now) -> Option<Explanation> {
        self.memo.reset(&self.model);
        let def = self.model.offers.get(offer)?;
        let mut checks = Vec::new();
        let mut add =
            |name: &'static str, passed: bool, detail: &str| add_check(&mut checks, name, passed, detail);
        let consent_ok = !def.requires_consent || self.profile.consent;
        add(
            "consent",
            consent_ok,
            if def.requires_consent { "needs consent" } else { "shown without consent" },
        );
        let started = def.start.is_none_or(|s| t.now >= s);
        let not_ended = def.end.is_none_or(|e| t.now < e);
        add(
            "schedule",
            started && not_ended,
            match (started, not_ended) {
                (false, _) => "not started yet",
                (_, false) => "ended",
                _ => "running",
            },
        );
        if let Some(mask) = def.stages {
            let in_stage = self.profile.stage.is_some_and(|(s, _)| s < 64 && mask & (1u64 << s) != 0);
            let mut detail = String::from("stage is `");
            detail.push_str(self.current_stage().unwrap_or("none"));
            detail.push_str("`; offer wants ");
            let mut sep = "";
            for (i, s) in self.model.stages.iter().enumerate() {
                if i < 64 && mask & (1u64 << i) != 0 {
                    detail.push_str(sep);
                    detail.push_str(&s.name);
                    sep = " or ";
                }
            }
            add("stage", in_stage, &detail);
        }
        let quiet = in_quiet(def.quiet, t.minute) || (def.global_caps && t.global_quiet);
        add("quiet_hours", !quiet, if quiet { "quiet hours now" } else { "not quiet hours" });
        // Without consent nothing is stored, so caps do not apply (as in `decide`).
        let consent = self.profile.consent;
        let (caps, gap) = if consent { caps_open(&self.profile, offer, def, &t) } else { (true, true) };
        let state = self.profile.offers.get(offer);
        let mut counts = String::new();
        for c in &def.caps {
            if !counts.is_empty() {
                counts.push_str(", ");
            }
            push_uint(&mut counts, state.map_or(0, |s| s.exposures.count_in_last(t.today, c.days)) as usize);
            counts.push_str(" of ");
            push_uint(&mut counts, c.max as usize);
            counts.push_str(" in ");
            push_uint(&mut counts, usize::from(c.days));
            counts.push_str(" days");
        }
        add("cap", caps, if counts.is_empty() { "no offer caps" } else { &counts });
        add("min_gap", gap, if gap { "gap respected" } else { "shown too recently" });
        add(
            "global_cap",
            !consent || !def.global_caps || t.global_left > 0,
            if def.global_caps { "counts against global caps" } else { "exempt from global caps" },
        );
        let ev = self.eval(context, now, t.today);
        let mut conditions = Vec::new();
        let (passed, detail) = match &def.audience {
            None => (true, "everyone".to_string()),
            Some(rule) => match logic::eval(rule, &ev) {
                Err(e) => {
                    let mut m = String::from("audience rule failed: ");
                    crate::codec::Message::write_message(&e, &mut m);
                    (false, m)
                }
                Ok(v) => {
                    let (connective, parts) = logic::conditions(rule, &ev);
                    let mut base = String::from("offers[");
                    push_uint(&mut base, offer);
                    base.push_str("].audience");
                    for c in &parts {
                        let mut path = base.clone();
                        if let Some(i) = c.index {
                            path.push('.');
                            path.push_str(connective);
                            path.push('[');
                            push_uint(&mut path, i);
                            path.push(']');
                        }
                        let segment = match c.host {
                            Some((crate::compiled::op::SEGMENT, s)) => {
                                self.model.segments.get(s as usize).map(|x| x.name.clone())
                            }
                            _ => None,
                        };
                        conditions.push(Condition { path, passed: c.value, segment });
                    }
                    // By connective and outcome: a count of the conditions, or those that
                    // decided it (the passing ones when it holds, else the failing ones).
                    let truthy = v.truthy();
                    let (before, counted, after) = match (connective, truthy) {
                        ("and", true) => ("all ", true, " conditions hold"),
                        ("or", false) => ("none of ", true, " conditions holds"),
                        ("and", false) => ("fails on ", false, ""),
                        ("or", true) => ("holds by ", false, ""),
                        (_, true) => ("", false, " holds"),
                        (_, false) => ("", false, " gave "),
                    };
                    let mut detail = String::from(before);
                    if counted {
                        push_uint(&mut detail, conditions.len());
                    } else {
                        let mut sep = "";
                        for c in conditions.iter().filter(|c| c.passed == truthy) {
                            detail.push_str(sep);
                            sep = ", ";
                            detail.push('`');
                            detail.push_str(&c.path);
                            detail.push('`');
                            if let Some(s) = &c.segment {
                                detail.push_str(" (segment `");
                                detail.push_str(s);
                                detail.push_str("`)");
                            }
                        }
                    }
                    detail.push_str(after);
                    // The whole rule as one condition, not holding: what it gave.
                    if before.is_empty() && !truthy {
                        detail.push_str(&v.brief());
                    }
                    (truthy, detail)
                }
            },
        };
        add("audience", passed, &detail);
        let eligible = checks.iter().all(|c| c.passed);
        Some(Explanation { offer: def.id.clone(), eligible, checks, conditions })
    }
}

/// Appends a check: one copy of the push for every check `explain` makes.
#[inline(never)]
fn add_check(checks: &mut Vec<Check>, name: &'static str, passed: bool, detail: &str) {
    checks.push(Check { name, passed, detail: detail.to_string() });
}

/// Appends `n` in decimal (the core's integer writer, not `core::fmt`).
fn push_uint(out: &mut String, n: usize) {
    crate::codec::push_uint(out, n as u64);
}

/// Decision id from install id and sequence (SplitMix64 finalizer: ids look random, never repeat
/// within an install).
fn mix(install: u64, seq: u64) -> u64 {
    let mut z = install ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The decision counter `mix(install, seq)` was made from: each step of [`mix`] undone (an
/// xor-shift by `k` by xoring in the shifts by `k`, `2k`, ...; a multiplication by the odd
/// constant's inverse modulo 2^64).
///
/// Public as `kairos::engine::decision_counter`, for backends: a `forgotten` request names the
/// erased `install` and its `decisions`, and a report is that install's when its decision id
/// (16 hex digits) inverts to a counter from 1 to `decisions`. Another install's id inverts to a
/// counter spread evenly over all 2^64, so it falls in that range with chance `decisions` / 2^64.
pub fn unmix(install: u64, id: u64) -> u64 {
    let mut z = id ^ (id >> 31) ^ (id >> 62);
    z = z.wrapping_mul(0x3196_42B2_D24D_8EC3);
    z ^= (z >> 27) ^ (z >> 54);
    z = z.wrapping_mul(0x96DE_1B17_3F11_9089);
    z ^= (z >> 30) ^ (z >> 60);
    (z ^ install).wrapping_mul(0xF1DE_83E1_9937_733D)
}

/// Sticky assignment of a shopper to an offer's control group or a variant: a bucket in
/// 0..10,000 from MurmurHash3 of `pid/offer`.
fn assign(def: &OfferDef, pid: &str) -> Assignment {
    // Pushed, not formatted: no formatting machinery on the decide path.
    let mut key = String::with_capacity(pid.len() + def.id.len() + 8);
    key.push_str(pid);
    key.push('/');
    key.push_str(&def.id);
    let bucket = crate::logic::murmur3_x86_32(key.as_bytes(), 0) % 10_000;
    if bucket < u32::from(def.control_bp) {
        return Assignment::Control;
    }
    if def.variants.is_empty() {
        return Assignment::Treatment(None);
    }
    let total: u64 = def.variants.iter().map(|v| u64::from(v.weight)).sum();
    key.push_str("/variant");
    let point =
        u64::from(crate::logic::murmur3_x86_32(key.as_bytes(), 0)) * total.max(1) / (u64::from(u32::MAX) + 1);
    let mut acc = 0u64;
    for (i, v) in def.variants.iter().enumerate() {
        acc += u64::from(v.weight);
        if point < acc {
            return Assignment::Treatment(Some(i as u16));
        }
    }
    Assignment::Treatment(Some(0))
}

#[cfg(test)]
mod tests {
    use super::{mix, unmix};

    #[test]
    fn unmix_gives_back_the_counter_mix_made_an_id_of() {
        for install in [0, 1, 0xc7, 0x9b7a_cfdd_7579_7a07, u64::MAX] {
            for seq in [0, 1, 2, 1000, 1 << 40, u64::MAX - 1, u64::MAX] {
                assert_eq!(unmix(install, mix(install, seq)), seq, "{install:x} {seq}");
            }
            // Another install's ids give another counter.
            assert_ne!(unmix(install ^ 1, mix(install, 5)), 5);
        }
    }
}
