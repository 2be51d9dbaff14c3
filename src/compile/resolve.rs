//! Name resolution for rules: variable paths to slots, domain operators to host calls.

use std::cell::RefCell;

use serde_json::Value as Json;

use crate::compiled::{op, slot};
use crate::logic::{HostCall, Resolver};
use crate::model::AggKind;
use crate::suggest;
use crate::time;

/// The operators a model's rules have beyond JsonLogic's: they read the shopper's profile, the
/// model's segments and scores, or its calendars (docs/rules.md).
pub const MODEL_OPERATORS: [&str; 6] =
    ["segment", "score", "hours_since", "days_since", "days_to_anniversary", "in_calendar"];

/// The names a model defines, in index order.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub events: Vec<String>,
    pub event_props: Vec<Vec<String>>,
    pub context: Vec<String>,
    /// The context fields' types, by index.
    pub context_types: Vec<crate::model::ValueType>,
    pub traits: Vec<String>,
    /// The traits' types, by index.
    pub trait_types: Vec<crate::model::TraitType>,
    pub features: Vec<(String, AggKind)>,
    pub scores: Vec<String>,
    pub segments: Vec<String>,
    pub calendars: Vec<String>,
    /// Lifecycle stage names, in order.
    pub stages: Vec<String>,
}

/// What a rule refers to, recorded while resolving (for cycles and consent checks).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Uses {
    /// Segments referenced.
    pub segments: Vec<usize>,
    /// Scores referenced.
    pub scores: Vec<usize>,
    /// Whether anything about the shopper (features, traits, scores, segments, stage, events) is read.
    pub personal: bool,
    /// The first page context field read (`context.channel`), if any.
    pub context: Option<String>,
}

/// Resolves names for one rule.
pub(crate) struct ModelResolver<'a> {
    pub names: &'a Names,
    /// In a feature filter: the event type whose properties `event.<prop>` reads.
    pub event: Option<usize>,
    /// Whether `context.*` is readable: not in lifecycle rules and feature filters, which are
    /// about the shopper, not the page (they are evaluated without a page context).
    pub context: bool,
    pub uses: RefCell<Uses>,
}

impl<'a> ModelResolver<'a> {
    pub fn new(names: &'a Names, event: Option<usize>) -> Self {
        ModelResolver { names, event, context: event.is_none(), uses: RefCell::new(Uses::default()) }
    }

    fn personal(&self) {
        self.uses.borrow_mut().personal = true;
    }

    fn lookup(&self, kind: &'static str, list: &[String], name: &str) -> Result<usize, String> {
        list.iter()
            .position(|n| n == name)
            .ok_or_else(|| unknown(kind, name, list.iter().map(String::as_str)))
    }

    fn segment(&self, name: &str) -> Result<usize, String> {
        let i = self.lookup("segment", &self.names.segments, name)?;
        self.uses.borrow_mut().segments.push(i);
        self.personal();
        Ok(i)
    }

    fn score(&self, name: &str) -> Result<usize, String> {
        let i = self.lookup("score", &self.names.scores, name)?;
        self.uses.borrow_mut().scores.push(i);
        self.personal();
        Ok(i)
    }

    fn feature(&self, name: &str) -> Result<usize, String> {
        let names: Vec<&str> = self.names.features.iter().map(|f| f.0.as_str()).collect();
        let i =
            names.iter().position(|n| *n == name).ok_or_else(|| unknown("feature", name, names.clone()))?;
        self.personal();
        Ok(i)
    }

    /// Resolves `hours_since` / `days_since`.
    fn since(&self, hours: bool, args: &[Json]) -> Result<HostCall, String> {
        let opname = if hours { "hours_since" } else { "days_since" };
        let first = args.first().ok_or_else(|| format!("`{opname}` needs an event name or a time"))?;
        let which = match args.get(1) {
            None => "last",
            Some(Json::String(s)) if s == "first" || s == "last" => s.as_str(),
            Some(other) => {
                return Err(format!("`{opname}` takes `\"first\"` or `\"last\"` second, not `{other}`"))
            }
        };
        if args.len() > 2 {
            return Err(format!("`{opname}` takes at most 2 arguments, got {}", args.len()));
        }
        let value_op = if hours { op::HOURS_SINCE_VALUE } else { op::DAYS_SINCE_VALUE };
        let literal_time = |s: &str| time::parse_rfc3339(s).is_some() || time::parse_date(s).is_some();
        let name = match first {
            Json::String(s) if !literal_time(s) => s,
            _ if args.len() > 1 => {
                return Err(format!(
                    "`{opname}` of a time takes one argument; `\"{which}\"` applies to event names"
                ))
            }
            _ => return Ok(HostCall { op: value_op, imm: 0, args: vec![0] }),
        };
        self.personal();
        if let Some(e) = self.names.events.iter().position(|n| n == name) {
            let op = match (hours, which) {
                (true, "first") => op::HOURS_SINCE_EVENT_FIRST,
                (true, _) => op::HOURS_SINCE_EVENT_LAST,
                (false, "first") => op::DAYS_SINCE_EVENT_FIRST,
                (false, _) => op::DAYS_SINCE_EVENT_LAST,
            };
            return Ok(HostCall { op, imm: e as u32, args: vec![] });
        }
        if let Some(f) = self.names.features.iter().position(|f| f.0 == *name) {
            if args.len() > 1 {
                return Err(format!(
                    "`\"{which}\"` applies to event names; feature `{name}` already holds one time"
                ));
            }
            if !matches!(self.names.features.get(f).map(|f| f.1), Some(AggKind::First | AggKind::Last)) {
                return Err(format!(
                    "`{opname}` of feature `{name}` needs a `first` or `last` feature, which holds a time"
                ));
            }
            let op = if hours { op::HOURS_SINCE_FEATURE } else { op::DAYS_SINCE_FEATURE };
            return Ok(HostCall { op, imm: f as u32, args: vec![] });
        }
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "`{opname}` of `{name}`: not a date or time{}; write a date `2026-11-11` or a time \
                 `2026-11-11T20:00:00+08:00`",
                super::when::problem(name)
            ));
        }
        let all = self.names.events.iter().chain(self.names.features.iter().map(|f| &f.0));
        Err(format!(
            "`{opname}` of `{name}`: no event type or time feature has that name{}",
            suggest::hint(name, all.map(String::as_str))
        ))
    }
}

pub(crate) fn unknown<'b>(
    kind: &str,
    name: &str,
    valid: impl IntoIterator<Item = &'b str> + Clone,
) -> String {
    format!("unknown {kind} `{name}`{}", unknown_hint(name, valid))
}

/// What follows "unknown x `name`": a suggestion, else the names defined, else that there are none.
pub(crate) fn unknown_hint<'b>(name: &str, valid: impl IntoIterator<Item = &'b str> + Clone) -> String {
    let hint = suggest::hint(name, valid.clone());
    if !hint.is_empty() {
        return hint;
    }
    // Each name once: a name defined twice is an error of its own (review: "defined: `lapsed`,
    // `lapsed`" followed it).
    let mut names: Vec<&str> = Vec::new();
    for n in valid {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let all = names.len();
    let list: Vec<String> = names.iter().take(12).map(|n| format!("`{n}`")).collect();
    if list.is_empty() {
        ": the model defines none".to_string()
    } else if all > list.len() {
        // Said, so the list is not read as complete (CLI review of 2026-11-25).
        format!("; defined: {}, and {} more", list.join(", "), all - list.len())
    } else {
        format!("; defined: {}", list.join(", "))
    }
}

const ROOTS: &str = "`features.<name>`, `traits.<name>`, `scores.<name>`, `segments.<name>`, \
                     `context.<name>`, `stage`, `hours_in_stage`, `now`, `consent` or `targetingKey`";

impl Resolver for ModelResolver<'_> {
    fn var(&self, path: &str) -> Result<Option<u32>, String> {
        let special = match path {
            "stage" => Some(slot::STAGE),
            "hours_in_stage" => Some(slot::HOURS_IN_STAGE),
            "now" => Some(slot::NOW),
            "consent" => Some(slot::CONSENT),
            "targetingKey" => Some(slot::TARGETING_KEY),
            _ => None,
        };
        if let Some(s) = special {
            if s != slot::NOW && s != slot::CONSENT {
                self.personal();
            }
            return Ok(Some(slot::pack(slot::SPECIAL, s as usize)));
        }
        let Some((root, name)) = path.split_once('.') else {
            // A name without its root (`referrals` for `features.referrals`): say which it is.
            let n = &self.names;
            let roots: [(&str, Vec<&str>); 5] = [
                ("features", n.features.iter().map(|f| f.0.as_str()).collect()),
                ("traits", n.traits.iter().map(String::as_str).collect()),
                ("scores", n.scores.iter().map(String::as_str).collect()),
                ("segments", n.segments.iter().map(String::as_str).collect()),
                (
                    "context",
                    if self.context { n.context.iter().map(String::as_str).collect() } else { Vec::new() },
                ),
            ];
            let guess =
                roots.iter().find(|(_, names)| names.contains(&path)).map(|(r, _)| format!("`{r}.{path}`"));
            return Err(match guess {
                Some(g) => format!("unknown variable `{path}`; did you mean {g}? (variables are {ROOTS})"),
                None => format!("unknown variable `{path}`; variables are {ROOTS}"),
            });
        };
        let (ns, i) = match root {
            "features" => (slot::FEATURE, self.feature(name)?),
            "traits" => {
                self.personal();
                (slot::TRAIT, self.lookup("trait", &self.names.traits, name)?)
            }
            "scores" => (slot::SCORE, self.score(name)?),
            "segments" => (slot::SEGMENT, self.segment(name)?),
            "context" if !self.context => {
                return Err(format!(
                    "`{path}`: the page context is not available here: lifecycle stages and feature filters \
                     describe the shopper, not the page being viewed"
                ))
            }
            "context" => {
                let i = self.lookup("context field", &self.names.context, name)?;
                self.uses.borrow_mut().context.get_or_insert_with(|| path.to_string());
                (slot::CONTEXT, i)
            }
            "event" => {
                let Some(e) = self.event else {
                    return Err(format!(
                        "`{path}`: `event.<property>` is only readable in a feature's `where`"
                    ));
                };
                let props = self.names.event_props.get(e).map(Vec::as_slice).unwrap_or_default();
                let ev = self.names.events.get(e).map(String::as_str).unwrap_or_default();
                let kind = if ev.is_empty() { "property" } else { "event property" };
                let i = props.iter().position(|p| p == name).ok_or_else(|| {
                    let mut m = unknown(kind, name, props.iter().map(String::as_str));
                    m.push_str(&format!(" (event `{ev}`)"));
                    m
                })?;
                (slot::EVENT, i)
            }
            _ => {
                let roots = ["features", "traits", "scores", "segments", "context", "event"];
                let guess = suggest::closest(root, roots)
                    .map(|r| format!("; did you mean `{r}.{name}`?"))
                    .unwrap_or_default();
                return Err(format!("unknown variable `{path}`{guess} (variables are {ROOTS})"));
            }
        };
        Ok(Some(slot::pack(ns, i)))
    }

    fn dynamic_vars(&self) -> bool {
        false
    }

    fn host_op_names(&self) -> &[&str] {
        &MODEL_OPERATORS
    }

    fn host_op(&self, name: &str, args: &[Json]) -> Result<Option<HostCall>, String> {
        let one_name = |what: &str| -> Result<&str, String> {
            match args {
                [Json::String(s)] => Ok(s.as_str()),
                _ => Err(format!("`{name}` takes one {what} name, like {{\"{name}\": \"vip\"}}")),
            }
        };
        let call = match name {
            "segment" => {
                HostCall { op: op::SEGMENT, imm: self.segment(one_name("segment")?)? as u32, args: vec![] }
            }
            "score" => HostCall { op: op::SCORE, imm: self.score(one_name("score")?)? as u32, args: vec![] },
            "hours_since" => self.since(true, args)?,
            "days_since" => self.since(false, args)?,
            "days_to_anniversary" => {
                if args.len() != 1 {
                    return Err(format!(
                        "`days_to_anniversary` takes one date, got {} arguments",
                        args.len()
                    ));
                }
                HostCall { op: op::DAYS_TO_ANNIVERSARY, imm: 0, args: vec![0] }
            }
            "in_calendar" => {
                let Some(Json::String(cal)) = args.first() else {
                    return Err("`in_calendar` takes a calendar name, then optionally a date".to_string());
                };
                let c = self.lookup("calendar", &self.names.calendars, cal)?;
                match args.len() {
                    1 => HostCall { op: op::IN_CALENDAR_TODAY, imm: c as u32, args: vec![] },
                    2 => HostCall { op: op::IN_CALENDAR_VALUE, imm: c as u32, args: vec![1] },
                    n => return Err(format!("`in_calendar` takes 1 or 2 arguments, got {n}")),
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(call))
    }
}
