//! What rules read: the profile, the page context, the event being tracked, the time.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::cell::Cell;

use crate::compiled::{op, slot, Model};
#[cfg(not(feature = "std"))]
use crate::float::F64Ext as _;
use crate::logic::{self, Env, EvalError, Rule, Value};
use crate::model::ScoreKind;
use crate::profile::Profile;
use crate::time::{self, HOUR_MS};

/// Deepest chain of segments and scores evaluating each other. The compiler rejects cycles;
/// this guard keeps a hostile snapshot from exhausting the stack.
const MAX_NESTING: u32 = 32;

/// Memoized segment, score and feature values for one decision or one track. A value is valid
/// when its generation is the current one, so `reset` costs nothing per entry.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    generation: u32,
    /// `(generation, value)` per segment (1 for a member, 0 not), then per score, then per
    /// feature (`None`: missing). One vector of one cell type: one copy of the code that sizes it.
    cells: Vec<Cell<(u32, Option<f64>)>>,
    /// Where the scores' cells start.
    scores_at: usize,
    /// Where the features' cells start.
    features_at: usize,
    nesting: Cell<u32>,
}

impl Memo {
    /// Starts a new evaluation, keeping the allocations.
    pub fn reset(&mut self, model: &Model) {
        self.nesting.set(0);
        let scores_at = model.segments.len();
        let features_at = scores_at + model.scores.len();
        let len = features_at + model.features.len();
        let sizes_ok =
            self.scores_at == scores_at && self.features_at == features_at && self.cells.len() == len;
        if sizes_ok && self.generation < u32::MAX {
            self.generation += 1;
            return;
        }
        // INVARIANT: generation 0 is never current after a reset, so zeroed cells are stale.
        self.generation = 1;
        self.scores_at = scores_at;
        self.features_at = features_at;
        self.cells.clear();
        // Pushed: `resize` brings its truncating half, which a cleared vector never needs.
        for _ in 0..len {
            self.cells.push(Cell::new((0, None)));
        }
    }

    fn segment(&self, i: usize) -> Option<&Cell<(u32, Option<f64>)>> {
        if i < self.scores_at {
            self.cells.get(i)
        } else {
            None
        }
    }

    fn score(&self, i: usize) -> Option<&Cell<(u32, Option<f64>)>> {
        if i < self.features_at.saturating_sub(self.scores_at) {
            self.cells.get(self.scores_at + i)
        } else {
            None
        }
    }

    fn feature(&self, i: usize) -> Option<&Cell<(u32, Option<f64>)>> {
        self.cells.get(self.features_at..)?.get(i)
    }
}

/// The evaluation environment.
pub(crate) struct Eval<'a> {
    pub model: &'a Model,
    pub profile: &'a Profile,
    /// Stage names as values, by stage index.
    pub stage_names: &'a [Value],
    /// Context values by context slot.
    pub context: &'a [Value],
    /// Event property values, in feature filters.
    pub event: &'a [Value],
    pub now: i64,
    pub today: i32,
    pub memo: &'a Memo,
}

static NULL: Value = Value::Null;

fn num(n: f64) -> Cow<'static, Value> {
    Cow::Owned(Value::Number(n))
}

impl Eval<'_> {
    /// Evaluates a rule to a boolean; an error counts as false.
    pub fn test(&self, rule: &Rule) -> bool {
        logic::eval_bool(rule, self).unwrap_or(false)
    }

    fn traits_live(&self) -> bool {
        self.profile.traits_expire_ms.is_none_or(|t| self.now < t)
    }

    fn feature(&self, i: usize) -> Option<f64> {
        let cell = self.memo.feature(i)?;
        let (generation, v) = cell.get();
        if generation == self.memo.generation {
            return v;
        }
        let def = self.model.features.get(i)?;
        let v = self.profile.features.get(i)?.read(&def.spec, self.today);
        cell.set((self.memo.generation, v));
        v
    }

    fn nest<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        let depth = self.memo.nesting.get();
        if depth >= MAX_NESTING {
            return None;
        }
        self.memo.nesting.set(depth + 1);
        let out = f();
        self.memo.nesting.set(depth);
        Some(out)
    }

    /// Whether the shopper is in segment `i`.
    pub fn segment(&self, i: usize) -> bool {
        let Some(cell) = self.memo.segment(i) else { return false };
        let (generation, member) = cell.get();
        if generation == self.memo.generation {
            return member == Some(1.0);
        }
        let Some(def) = self.model.segments.get(i) else { return false };
        let v = self.nest(|| self.test(&def.rule)).unwrap_or(false);
        cell.set((self.memo.generation, Some(f64::from(u8::from(v)))));
        v
    }

    /// Score `i`.
    pub fn score(&self, i: usize) -> f64 {
        let Some(cell) = self.memo.score(i) else { return 0.0 };
        let (generation, score) = cell.get();
        if generation == self.memo.generation {
            return score.unwrap_or(0.0);
        }
        let Some(def) = self.model.scores.get(i) else { return 0.0 };
        let v = self
            .nest(|| {
                let mut z = def.bias;
                for &(s, w) in &def.terms {
                    let x = match self.slot(s).as_ref() {
                        Value::Number(n) if n.is_finite() => *n,
                        Value::Bool(true) => 1.0,
                        _ => 0.0,
                    };
                    z += w * x;
                }
                match def.kind {
                    ScoreKind::Linear => z,
                    ScoreKind::Logistic => 1.0 / (1.0 + (-z).exp()),
                }
            })
            .unwrap_or(0.0);
        let v = if v.is_finite() { v } else { 0.0 };
        cell.set((self.memo.generation, Some(v)));
        v
    }

    fn event_seen(&self, e: u32, first: bool) -> Option<i64> {
        let seen = self.profile.events.get(e as usize).copied().flatten()?;
        Some(if first { seen.first_ms } else { seen.last_ms })
    }

    fn hours_since(&self, t: Option<i64>) -> Value {
        t.map_or(Value::Null, |t| Value::Number(time::elapsed_ms(self.now, t) / HOUR_MS as f64))
    }

    fn days_since(&self, t: Option<i64>) -> Value {
        t.map_or(Value::Null, |t| {
            Value::Number(f64::from(self.today) - f64::from(time::day_of(t, self.model.offset_ms)))
        })
    }

    /// A time from a rule value: ms, an RFC 3339 string, or a date (its start).
    fn instant(&self, v: &Value) -> Option<i64> {
        match v {
            Value::Number(n) if n.is_finite() => Some(*n as i64),
            Value::String(s) => time::parse_rfc3339(s)
                .or_else(|| time::parse_date(s).map(|d| time::day_start_ms(d, self.model.offset_ms))),
            _ => None,
        }
    }

    /// A day from a rule value.
    fn day(&self, v: &Value) -> Option<i32> {
        match v {
            Value::String(s) if s.len() == 10 => time::parse_date(s),
            other => self.instant(other).map(|t| time::day_of(t, self.model.offset_ms)),
        }
    }

    fn anniversary(&self, v: &Value) -> Value {
        let md = match v {
            Value::String(s) if s.len() == 5 => time::parse_month_day(s),
            other => self.day(other).map(|d| {
                let (_, m, dd) = time::civil_from_days(d);
                (m, dd)
            }),
        };
        md.map_or(Value::Null, |(m, d)| Value::Number(f64::from(time::days_to_anniversary(self.today, m, d))))
    }

    fn in_calendar(&self, cal: u32, day: Option<i32>) -> Value {
        let Some(day) = day else { return Value::Bool(false) };
        let Some((_, ranges)) = self.model.calendars.get(cal as usize) else { return Value::Bool(false) };
        // INVARIANT: ranges are sorted and disjoint (checked by Model::validate).
        let i = ranges.partition_point(|r| r.1 < day);
        Value::Bool(ranges.get(i).is_some_and(|r| r.0 <= day))
    }
}

impl Env for Eval<'_> {
    fn slot(&self, s: u32) -> Cow<'_, Value> {
        let (ns, i) = slot::unpack(s);
        match ns {
            slot::FEATURE => self.feature(i).map_or(Cow::Borrowed(&NULL), num),
            slot::TRAIT if self.traits_live() => {
                self.profile.traits.get(i).map_or(Cow::Borrowed(&NULL), Cow::Borrowed)
            }
            slot::SCORE => num(self.score(i)),
            slot::CONTEXT => self.context.get(i).map_or(Cow::Borrowed(&NULL), Cow::Borrowed),
            slot::SEGMENT => Cow::Owned(Value::Bool(self.segment(i))),
            slot::EVENT => self.event.get(i).map_or(Cow::Borrowed(&NULL), Cow::Borrowed),
            slot::SPECIAL => match i as u32 {
                slot::STAGE => self
                    .profile
                    .stage
                    .and_then(|(k, _)| self.stage_names.get(k))
                    .map_or(Cow::Borrowed(&NULL), Cow::Borrowed),
                slot::NOW => num(self.now as f64),
                slot::TARGETING_KEY => Cow::Borrowed(&self.profile.key),
                slot::HOURS_IN_STAGE => self
                    .profile
                    .stage
                    .map_or(Cow::Borrowed(&NULL), |(_, since)| Cow::Owned(self.hours_since(Some(since)))),
                slot::CONSENT => Cow::Owned(Value::Bool(self.profile.consent)),
                _ => Cow::Borrowed(&NULL),
            },
            _ => Cow::Borrowed(&NULL),
        }
    }

    fn lookup(&self, _path: &[Cow<'_, str>]) -> Option<Cow<'_, Value>> {
        None
    }

    fn call(&self, code: u16, imm: u32, args: &[Cow<'_, Value>]) -> Result<Value, EvalError> {
        let arg = args.first().map_or(&NULL, |a| a.as_ref());
        Ok(match code {
            op::SEGMENT => Value::Bool(self.segment(imm as usize)),
            op::SCORE => Value::Number(self.score(imm as usize)),
            op::HOURS_SINCE_EVENT_LAST => self.hours_since(self.event_seen(imm, false)),
            op::HOURS_SINCE_EVENT_FIRST => self.hours_since(self.event_seen(imm, true)),
            op::DAYS_SINCE_EVENT_LAST => self.days_since(self.event_seen(imm, false)),
            op::DAYS_SINCE_EVENT_FIRST => self.days_since(self.event_seen(imm, true)),
            op::HOURS_SINCE_FEATURE => self.hours_since(self.feature(imm as usize).map(|t| t as i64)),
            op::DAYS_SINCE_FEATURE => self.days_since(self.feature(imm as usize).map(|t| t as i64)),
            op::HOURS_SINCE_VALUE => self.hours_since(self.instant(arg)),
            op::DAYS_SINCE_VALUE => match self.day(arg) {
                Some(d) => Value::Number(f64::from(self.today) - f64::from(d)),
                None => Value::Null,
            },
            op::DAYS_TO_ANNIVERSARY => self.anniversary(arg),
            op::IN_CALENDAR_TODAY => self.in_calendar(imm, Some(self.today)),
            op::IN_CALENDAR_VALUE => self.in_calendar(imm, self.day(arg)),
            _ => Value::Null,
        })
    }
}
