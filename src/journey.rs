//! Journey fixtures: timed steps (consent, identify, traits, events, decisions) and what is
//! expected after each. The same JSON files (tests/fixtures/) run against this core and the
//! JavaScript package; `kairos simulate` prints them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::compile::syntax::{self, Described};
use crate::engine::input::InputError;
use crate::engine::{input, Engine, Reason};
use crate::outbox::OutboxEvent;
use crate::profile::identity::IdKind;
use crate::time;

/// A journey fixture. [`parse`] reads one, naming the step that is wrong; serde reads it too.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "JourneyFields")]
pub struct Journey {
    /// Short name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The model file, relative to the repository root; optional when the caller supplies the
    /// model (`kairos simulate --model`).
    pub model: Option<String>,
    /// The install id, 16 hex digits (a u64; JSON numbers cannot hold one exactly).
    pub install_id: String,
    /// The steps.
    pub steps: Vec<Step>,
}

/// [`Journey`] as serde derives it, its steps still JSON: each is read on its own, so an error
/// in one names it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JourneyFields {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    model: Option<String>,
    install_id: String,
    steps: Vec<Json>,
}

impl TryFrom<JourneyFields> for Journey {
    type Error = JourneyError;

    fn try_from(j: JourneyFields) -> Result<Journey, JourneyError> {
        let steps = j
            .steps
            .into_iter()
            .enumerate()
            .map(|(step, json)| Step::try_from(json).map_err(|e| e.in_step(step)))
            .collect::<Result<_, _>>()?;
        Ok(Journey {
            name: j.name,
            description: j.description,
            model: j.model,
            install_id: j.install_id,
            steps,
        })
    }
}

/// Reads a journey from its JSON text. An error in a step is [`JourneyError::Step`] or
/// [`JourneyError::UnknownField`], with its number; other errors (a name given twice in one object
/// too) are [`JourneyError::Json`], with their line and column, in the model compiler's words.
pub fn parse(text: &str) -> Result<Journey, JourneyError> {
    let json = |path: &str, e: &serde_json::Error| {
        let Described { path, line, column, message } = syntax::describe(text, path, e, "journey");
        JourneyError::Json { place: path, line, column, message }
    };
    // serde_json's values keep the last of a name given twice (two `expect`s in a step).
    crate::compile::unique_pass(text).map_err(|e| json(&e.path().to_string(), e.inner()))?;
    let de = &mut serde_json::Deserializer::from_str(text);
    let fields: JourneyFields =
        serde_path_to_error::deserialize(&mut *de).map_err(|e| json(&e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| json("", &e))?;
    Journey::try_from(fields)
}

/// One step. A field its action does not take is refused (a misspelt `expect` would otherwise
/// check nothing): serde cannot combine `deny_unknown_fields` with `flatten`, so the fields are
/// checked first, on the JSON object.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Json")]
pub struct Step {
    /// When, RFC 3339.
    pub at: String,
    /// What happens.
    #[serde(flatten)]
    pub action: Action,
    /// What a person would say happens here.
    #[serde(default)]
    pub note: Option<String>,
    /// What is expected afterwards.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// [`Step`] as serde derives it, once its fields are checked.
#[derive(Deserialize)]
struct StepFields {
    at: String,
    #[serde(flatten)]
    action: Action,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    expect: Option<Expect>,
}

/// The fields an `expect` takes, as [`Expect`] has them.
const EXPECT: [&str; 6] = ["stage", "segments", "items", "reason", "outbox", "error"];

impl TryFrom<Json> for Step {
    type Error = JourneyError;

    /// The error names step 1 (index 0): which step this is, only its journey knows.
    fn try_from(json: Json) -> Result<Step, JourneyError> {
        let problem =
            |field: &str, problem: String| JourneyError::Step { step: 0, field: field.into(), problem };
        let Json::Object(fields) = &json else {
            return Err(problem(
                "",
                "a step is an object such as {\"at\": \"2026-11-21T10:00:00+08:00\", \"do\": \"check\"}"
                    .into(),
            ));
        };
        const ACTIONS: [&str; 7] = ["consent", "identify", "traits", "track", "decide", "check", "forget"];
        let one_of = || ACTIONS.map(|a| format!("`{a}`")).join(", ");
        let action = match fields.get("do") {
            Some(Json::String(a)) => a.as_str(),
            None => {
                return Err(problem("", format!("`do` is missing: it names the action, one of {}", one_of())))
            }
            // `"do": 5` read as an empty action was called unknown `do`: ``.
            Some(other) => {
                return Err(problem(
                    "",
                    format!("`do` must be text naming the action, not `{other}`: one of {}", one_of()),
                ))
            }
        };
        let own: &[&str] = match action {
            "consent" => &["value"],
            "identify" => &["kind", "value"],
            "traits" => &["traits", "expires"],
            "track" => &["event"],
            "decide" => &["placement", "context"],
            "check" | "forget" => &[],
            // `"do": ""` was called unknown `do`: ``.
            "" => {
                return Err(problem("", format!("`do` is empty: it names the action, one of {}", one_of())))
            }
            // A misspelt action first: its fields would be called unknown instead.
            _ => {
                let hint = match crate::suggest::closest(action, ACTIONS) {
                    Some(a) => format!("; did you mean `{a}`?"),
                    None => format!(", expected one of {}", one_of()),
                };
                return Err(problem("", format!("unknown `do`: `{action}`{hint}")));
            }
        };
        let known = [&["at", "do", "note", "expect"][..], own].concat();
        unknown_field(fields, "", format!("a `{action}` step"), &known)?;
        if let Some(Json::Object(expect)) = fields.get("expect") {
            unknown_field(expect, "expect", "`expect`".into(), &EXPECT)?;
            // Only a decision has items and a reason: expected elsewhere, they would check nothing.
            if let Some(k) =
                ["items", "reason"].into_iter().find(|k| action != "decide" && expect.contains_key(*k))
            {
                return Err(problem(
                    &format!("expect.{k}"),
                    format!("only a `decide` step has {k}, not a `{action}` step"),
                ));
            }
        }
        let StepFields { at, action, note, expect } =
            serde_path_to_error::deserialize(&json).map_err(|e| refused(fields, own, e))?;
        Ok(Step { at, action, note, expect })
    }
}

/// Refuses a field of a step (`parent` empty) or of its `expect` that is not `known`.
fn unknown_field(
    fields: &Map<String, Json>,
    parent: &'static str,
    within: String,
    known: &[&'static str],
) -> Result<(), JourneyError> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(name) => Err(JourneyError::UnknownField {
            step: 0,
            parent,
            name: name.clone(),
            within,
            known: known.to_vec(),
        }),
        None => Ok(()),
    }
}

/// Why serde refused a step, in the model compiler's words, at the field it refused (`value`,
/// `expect.segments`) or else at the step.
fn refused(
    fields: &Map<String, Json>,
    own: &[&str],
    e: serde_path_to_error::Error<serde_json::Error>,
) -> JourneyError {
    let path = e.path().to_string();
    let error = e.into_inner();
    // The action's fields are read flattened, where serde knows no names (the path is the
    // step's, `.`): each is read again alone to find the one refused.
    let alone = (path == "." && !error.to_string().starts_with("missing field"))
        .then(|| refused_alone(fields, own))
        .flatten();
    let (path, error) = alone.as_ref().map_or((path.as_str(), &error), |(k, e)| (*k, e));
    let Described { path, message, .. } = syntax::describe("", path, error, "journey");
    JourneyError::Step { step: 0, field: path, problem: message }
}

/// The first of an action's `own` fields that serde refuses when it is read alone with `do`, and
/// why.
fn refused_alone<'a>(fields: &Map<String, Json>, own: &[&'a str]) -> Option<(&'a str, serde_json::Error)> {
    let action = fields.get("do")?;
    own.iter().find_map(|&k| {
        let one =
            Map::from_iter([("do".to_string(), action.clone()), (k.to_string(), fields.get(k)?.clone())]);
        let e = Action::deserialize(Json::Object(one)).err()?;
        (!e.to_string().starts_with("missing field")).then_some((k, e))
    })
}

/// What a step does.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Grant or withdraw consent.
    Consent {
        /// Granted.
        value: bool,
    },
    /// Add an identifier.
    Identify {
        /// `phone`, `email` or `external`.
        kind: String,
        /// The raw identifier.
        value: String,
    },
    /// Supply server traits.
    Traits {
        /// The traits.
        traits: Json,
        /// Expiry, RFC 3339.
        #[serde(default)]
        expires: Option<String>,
    },
    /// Track an event.
    Track {
        /// The event.
        event: Json,
    },
    /// Decide a placement.
    Decide {
        /// Placement name.
        placement: String,
        /// Page context.
        #[serde(default)]
        context: Json,
    },
    /// Only check expectations.
    Check,
    /// Forget the shopper.
    Forget,
}

/// Expectations after a step. Absent fields are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The stage (`null` for none).
    #[serde(default, deserialize_with = "some")]
    pub stage: Option<Option<String>>,
    /// Exactly these segments, in model order.
    #[serde(default)]
    pub segments: Option<Vec<String>>,
    /// The decision's items: `offer`, `offer/variant`, or `offer (control)`.
    #[serde(default)]
    pub items: Option<Vec<String>>,
    /// The decision's reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// Types of the outbox events this step produced.
    #[serde(default)]
    pub outbox: Option<Vec<String>>,
    /// A substring of the error this step must fail with.
    #[serde(default)]
    pub error: Option<String>,
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What happened at one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// Step index.
    pub step: usize,
    /// When, as written.
    pub at: String,
    /// The action, for people.
    pub action: String,
    /// The note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Stage afterwards.
    pub stage: Option<String>,
    /// Segments afterwards.
    pub segments: Vec<String>,
    /// Items decided, formatted like [`Expect::items`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    /// Reason of the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Titles of the content shown (first item or fallback), for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shows: Option<String>,
    /// Outbox events produced.
    #[serde(serialize_with = "outbox_json")]
    pub outbox: Vec<OutboxEvent>,
    /// The error, if the step failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Expectations not met.
    pub mismatches: Vec<String>,
}

/// Why a journey could not be read, or could not run at all. A step is counted from 1 in the
/// messages, from 0 in the fields (and in [`StepResult::step`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JourneyError {
    /// The text is not JSON, a name is given twice in one object, or a field of the journey
    /// itself is missing, unknown or of the wrong type: the model compiler's message for it (with
    /// its hints for JSON syntax errors). The line and column are not in the message, which
    /// callers put them before ([`JourneyError::position`]).
    #[error("{}{message}", affixed("", place, ": "))]
    Json {
        /// Where in the journey (`install_id`, `steps[2]`), or empty for the whole of it.
        place: String,
        /// Line, 1-based, or 0 when unknown.
        line: usize,
        /// Column, 1-based (in bytes, as serde_json counts), or 0 when unknown.
        column: usize,
        /// What is wrong, with what would be valid.
        message: String,
    },
    /// A step is not one: not an object, its `do` missing, empty or unknown, or a field missing
    /// or of the wrong type.
    #[error("step {}{}: {problem}", step + 1, affixed(", ", field, ""))]
    Step {
        /// Step index.
        step: usize,
        /// The field the problem is with (`value`, `expect.stage`), or empty for the step.
        field: String,
        /// What is wrong, with what would be valid.
        problem: String,
    },
    /// A step, or its `expect`, has a field that it does not take (a misspelt `expect` would
    /// check nothing).
    #[error("step {}: unknown field `{name}` in {within}{}", step + 1, unknown_hint(name, known))]
    UnknownField {
        /// Step index.
        step: usize,
        /// `expect`, or empty for the step itself.
        parent: &'static str,
        /// The field.
        name: String,
        /// What does not take it, in words: "a `traits` step", "`expect`".
        within: String,
        /// The fields that it takes.
        known: Vec<&'static str>,
    },
    /// The install id is not 16 hex digits.
    #[error("install_id `{0}` is not 16 hex digits")]
    InstallId(String),
    /// A step's time (`at`, or a `traits` step's `expires`) does not parse.
    #[error("step {}, {field}: `{at}` is not an RFC 3339 time", step + 1)]
    Time {
        /// Step index.
        step: usize,
        /// `at` or `expires`.
        field: &'static str,
        /// The text.
        at: String,
    },
    /// An expectation that could never be met: it names what the model does not have, or a
    /// control item with a variant.
    #[error("step {}, expect.{field}: {problem}", step + 1)]
    Expect {
        /// Step index.
        step: usize,
        /// `stage`, `segments`, `items`, `reason` or `outbox`.
        field: &'static str,
        /// What is unknown, with a suggestion.
        problem: String,
    },
}

impl JourneyError {
    /// The place in the journey's JSON that the error is about (`steps[2].expect.stage`), for
    /// finding its line and column; `None` for a [`JourneyError::Json`] with a
    /// [`position`](JourneyError::position) or about the whole journey.
    pub fn place(&self) -> Option<String> {
        match self {
            JourneyError::Json { place, line, .. } => {
                (*line == 0 && !place.is_empty()).then(|| place.clone())
            }
            JourneyError::InstallId(_) => Some("install_id".into()),
            JourneyError::Step { step, field, .. } => {
                Some(format!("steps[{step}]{}", affixed(".", field, "")))
            }
            JourneyError::UnknownField { step, parent, name, .. } => {
                Some(format!("steps[{step}]{}.{name}", affixed(".", parent, "")))
            }
            JourneyError::Time { step, field, .. } => Some(format!("steps[{step}].{field}")),
            JourneyError::Expect { step, field, .. } => Some(format!("steps[{step}].expect.{field}")),
        }
    }

    /// The line and column (1-based; the column in bytes) serde_json found a
    /// [`JourneyError::Json`] at, if it did; the others are found by their
    /// [`place`](JourneyError::place).
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            JourneyError::Json { line, column, .. } if *line > 0 => Some((*line, *column)),
            _ => None,
        }
    }

    /// The error of a step read alone ([`Step`]'s `TryFrom`), as the error of step `i`.
    fn in_step(self, i: usize) -> JourneyError {
        match self {
            JourneyError::Step { field, problem, .. } => JourneyError::Step { step: i, field, problem },
            JourneyError::UnknownField { parent, name, within, known, .. } => {
                JourneyError::UnknownField { step: i, parent, name, within, known }
            }
            other => other,
        }
    }
}

/// `place` between `before` and `after`, or nothing for no place: `install_id: ` before a
/// message, `, value` after `step 1`, `.value` after `steps[0]`.
fn affixed(before: &str, place: &str, after: &str) -> String {
    if place.is_empty() {
        String::new()
    } else {
        format!("{before}{place}{after}")
    }
}

/// What follows "unknown field `name` in …": the field meant and the fields taken, as the
/// compiler's "unknown value" has them, or else the fields taken.
fn unknown_hint(name: &str, known: &[&str]) -> String {
    let listed = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    match crate::suggest::closest(name, known.iter().copied()) {
        Some(meant) => format!("; did you mean `{meant}`? (one of {listed})"),
        None => format!(", expected one of {listed}"),
    }
}

/// Refuses expectations that name a stage, segment, offer, variant, reason or report type the
/// model does not have, or a control item with a variant: a typo there would only show as a
/// mismatch that no model could mend.
fn check_expect(model: &crate::Model, step: usize, x: &Expect) -> Result<(), JourneyError> {
    let fail = |field, what: &str, name: &str, known: &mut dyn Iterator<Item = &str>| {
        let known: Vec<&str> = known.collect();
        let hint = crate::suggest::closest(name, known.iter().copied())
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        Err(JourneyError::Expect { step, field, problem: format!("no {what} `{name}` in the model{hint}") })
    };
    if let Some(Some(name)) = &x.stage {
        if !model.stages.iter().any(|s| s.name == *name) {
            return fail("stage", "stage", name, &mut model.stages.iter().map(|s| s.name.as_str()));
        }
    }
    for name in x.segments.iter().flatten() {
        if !model.segments.iter().any(|s| s.name == *name) {
            return fail("segments", "segment", name, &mut model.segments.iter().map(|s| s.name.as_str()));
        }
    }
    for item in x.items.iter().flatten() {
        // `offer`, `offer/variant` or `offer (control)`.
        let control = item.strip_suffix(" (control)");
        let item = control.unwrap_or(item);
        let (id, variant) = item.split_once('/').map_or((item, None), |(o, v)| (o, Some(v)));
        if control.is_some() && variant.is_some() {
            // Who is held out sees no variant, so the decision names none.
            return Err(JourneyError::Expect {
                step,
                field: "items",
                problem: format!("`{item} (control)`: a control item has no variant; write `{id} (control)`"),
            });
        }
        let Some(offer) = model.offers.iter().find(|o| o.id == id) else {
            return fail("items", "offer", id, &mut model.offers.iter().map(|o| o.id.as_str()));
        };
        if let Some(v) = variant.filter(|v| !offer.variants.iter().any(|x| x.id == *v)) {
            return fail("items", "variant", v, &mut offer.variants.iter().map(|x| x.id.as_str()));
        }
    }
    if let Some(reason) = x.reason.as_deref().filter(|r| !Reason::ALL.iter().any(|x| x.as_str() == *r)) {
        return fail("reason", "reason", reason, &mut Reason::ALL.iter().map(|x| x.as_str()));
    }
    const REPORTS: [&str; 4] = ["stage_changed", "exposure", "conversion", "forgotten"];
    match x.outbox.iter().flatten().find(|k| !REPORTS.contains(&k.as_str())) {
        Some(kind) => fail("outbox", "report type", kind, &mut REPORTS.into_iter()),
        None => Ok(()),
    }
}

fn outbox_json<S: serde::Serializer>(events: &[OutboxEvent], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(events.iter().map(OutboxEvent::to_json))
}

fn id_kind(s: &str) -> Option<IdKind> {
    match s {
        "phone" => Some(IdKind::Phone),
        "email" => Some(IdKind::Email),
        "external" => Some(IdKind::External),
        _ => None,
    }
}

/// Runs a journey on a fresh engine for `model`.
pub fn run(journey: &Journey, model: crate::Model) -> Result<Vec<StepResult>, JourneyError> {
    let id = &journey.install_id;
    let install = u64::from_str_radix(id, 16)
        .ok()
        .filter(|_| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| JourneyError::InstallId(id.clone()))?;
    // Every time is checked before the first step runs.
    let mut times = Vec::with_capacity(journey.steps.len());
    for (i, step) in journey.steps.iter().enumerate() {
        let time = |field, text: &String| {
            time::parse_rfc3339(text).ok_or_else(|| JourneyError::Time { step: i, field, at: text.clone() })
        };
        if let Action::Traits { expires: Some(e), .. } = &step.action {
            time("expires", e)?;
        }
        times.push(time("at", &step.at)?);
        if let Some(x) = &step.expect {
            check_expect(&model, i, x)?;
        }
    }
    let mut engine = Engine::new(model, install);
    let mut out = Vec::new();
    let mut erasures = 0;
    for ((i, step), now) in journey.steps.iter().enumerate().zip(times) {
        out.push(run_step(&mut engine, i, step, now, &mut erasures));
    }
    Ok(out)
}

/// The install id an engine takes at a journey's `n`th erasure (a `forget`, or a withdrawal of
/// the consent she gave), counted from 0 and then counted: `0x5eed + n`. The package draws one
/// at random; the JavaScript runner passes these, so the two run alike.
fn next_install(n: &mut u64) -> u64 {
    *n += 1;
    0x5eed + *n - 1
}

fn run_step(engine: &mut Engine, i: usize, step: &Step, now: i64, erasures: &mut u64) -> StepResult {
    let mut items = None;
    let mut reason = None;
    let mut shows = None;
    let mut context = Vec::new();
    let (action, result): (String, Result<(), String>) = match &step.action {
        Action::Consent { value } => {
            if *value {
                engine.set_consent(true);
            } else if engine.profile().consent {
                engine.withdraw_consent(next_install(erasures), now);
            }
            (format!("consent {value}"), Ok(()))
        }
        Action::Identify { kind, value } => {
            let r = match id_kind(kind) {
                Some(k) => engine.identify(k, value).map_err(|e| e.to_string()),
                None => Err(format!("unknown identifier kind `{kind}`")),
            };
            (format!("identify {kind}"), r)
        }
        Action::Traits { traits, expires } => {
            let exp = expires.as_deref().and_then(time::parse_rfc3339);
            // A device gets traits as a signed token, which may not carry an anniversary's year:
            // a journey that passed with one would fail in production (marketer review).
            // (The test is host::token_traits's; a shared function made the .wasm 64 B bigger.)
            let anniversary = |n: &str| {
                engine
                    .model()
                    .traits
                    .iter()
                    .any(|(t, ty)| t == n && *ty == crate::model::TraitType::Anniversary)
            };
            let year = traits.as_object().and_then(|o| {
                o.iter().find(|(n, v)| v.as_str().is_some_and(|s| s.len() != 5) && anniversary(n))
            });
            let r = match year {
                Some((name, _)) => {
                    Err(InputError::YearInToken { field: format!("traits.{name}") }.to_string())
                }
                None => engine.set_traits_json(traits, exp).map_err(|e| e.to_string()),
            };
            (format!("traits {traits}"), r)
        }
        Action::Track { event } => {
            let label = event.get("type").and_then(Json::as_str).unwrap_or("?").to_string();
            (format!("track {label}"), engine.track_json(event, now).map(|_| ()).map_err(|e| e.to_string()))
        }
        Action::Decide { placement, context: ctx } => {
            let r = input::placement_index(engine.model(), placement)
                .and_then(|p| input::context(engine.model(), ctx).map(|c| (p, c)))
                .map_err(|e| e.to_string());
            match r {
                Ok((p, c)) => {
                    let d = engine.decide(p, &c, now);
                    let model = engine.model();
                    let labels = d
                        .items
                        .iter()
                        .map(|it| {
                            let offer = model.offers.get(it.offer);
                            let id = offer.map_or("?", |o| o.id.as_str());
                            if it.control {
                                format!("{id} (control)")
                            } else if let Some(v) =
                                it.variant.and_then(|v| offer.and_then(|o| o.variants.get(v)))
                            {
                                format!("{id}/{}", v.id)
                            } else {
                                id.to_string()
                            }
                        })
                        .collect();
                    let content = d.items.first().map_or(d.fallback, |it| it.content);
                    shows = content.and_then(|c| model.contents.get(c as usize)).map(|text| {
                        serde_json::from_str::<Json>(text)
                            .ok()
                            .and_then(|j| j.get("title").and_then(Json::as_str).map(str::to_string))
                            .unwrap_or_else(|| text.clone())
                    });
                    items = Some(labels);
                    reason = Some(d.reason.as_str().to_string());
                    context = c;
                    (format!("decide {placement}"), Ok(()))
                }
                Err(e) => (format!("decide {placement}"), Err(e)),
            }
        }
        Action::Check => ("check".to_string(), Ok(())),
        Action::Forget => {
            engine.forget(next_install(erasures), now);
            ("forget".to_string(), Ok(()))
        }
    };
    let stage = engine.stage().map(str::to_string);
    let segments: Vec<String> = engine.segments(&context, now).into_iter().map(str::to_string).collect();
    let outbox = engine.drain_outbox();
    let error = result.err();
    let mut mismatches = Vec::new();
    if let Some(x) = &step.expect {
        let mut check = |what: &str, want: String, got: String| {
            if want != got {
                mismatches.push(format!("{what}: expected {want}, got {got}"));
            }
        };
        // A stage as its name, or `none`.
        let named =
            |s: &Option<String>| s.as_deref().map_or_else(|| "none".to_string(), |s| format!("`{s}`"));
        if let Some(want) = &x.stage {
            check("stage", named(want), named(&stage));
        }
        if let Some(want) = &x.segments {
            check("segments", format!("{want:?}"), format!("{segments:?}"));
        }
        if let Some(want) = &x.items {
            check("items", format!("{want:?}"), format!("{:?}", items.clone().unwrap_or_default()));
        }
        if let Some(want) = &x.reason {
            check("reason", want.clone(), reason.clone().unwrap_or_default());
        }
        if let Some(want) = &x.outbox {
            let got: Vec<&str> = outbox.iter().map(OutboxEvent::kind).collect();
            check("outbox", format!("{want:?}"), format!("{got:?}"));
        }
        match (&x.error, &error) {
            (Some(want), Some(got)) if !got.contains(want.as_str()) => {
                mismatches.push(format!("error: expected one containing `{want}`, got `{got}`"))
            }
            (Some(want), None) => {
                mismatches.push(format!("error: expected one containing `{want}`, got none"))
            }
            _ => {}
        }
    }
    if let (Some(e), None) = (&error, step.expect.as_ref().and_then(|x| x.error.as_ref())) {
        mismatches.push(format!("unexpected error: {e}"));
    }
    StepResult {
        step: i,
        at: step.at.clone(),
        action,
        note: step.note.clone(),
        stage,
        segments,
        items,
        reason,
        shows,
        outbox,
        error,
        mismatches,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::{parse, JourneyError};

    /// A step's error named no step (serde placed it after the step's end), and `"do": ""` read
    /// unknown `do`: ``.
    #[test]
    fn a_step_that_is_not_one_is_named_by_its_number() {
        let journey = |step: &str| {
            format!(
                r#"{{"name": "x", "install_id": "00000000000000a1", "steps": [
                    {{"at": "2026-11-20T09:00:00+08:00", "do": "check"}}, {step}]}}"#
            )
        };
        let cases = [
            (
                r#"{"at": "2026-11-20T09:00:00+08:00", "do": ""}"#,
                "step 2: `do` is empty: it names the action, one of `consent`, ",
                "steps[1]",
            ),
            (
                r#"{"at": "2026-11-20T09:00:00+08:00"}"#,
                "step 2: `do` is missing: it names the action, one of ",
                "steps[1]",
            ),
            (
                r#"{"at": "2026-11-20T09:00:00+08:00", "do": "chek"}"#,
                "step 2: unknown `do`: `chek`; did you mean `check`?",
                "steps[1]",
            ),
            (
                r#"{"at": "2026-11-20T09:00:00+08:00", "do": "decide"}"#,
                "step 2: missing field `placement`",
                "steps[1]",
            ),
            (r#"{"at": 5, "do": "check"}"#, "step 2, at: `5` is not text in double quotes", "steps[1].at"),
            ("[]", "step 2: a step is an object", "steps[1]"),
        ];
        for (step, want, place) in cases {
            let e = parse(&journey(step)).unwrap_err();
            assert!(matches!(e, JourneyError::Step { step: 1, .. }), "{e:?}");
            assert!(e.to_string().starts_with(want), "{step}: {e}");
            assert_eq!(e.place().as_deref(), Some(place));
        }
        // Serde reads a journey as `parse` does.
        let e = serde_json::from_str::<super::Journey>(&journey(r#"{"do": ""}"#)).unwrap_err();
        assert!(e.to_string().starts_with("step 2: `do` is empty"), "{e}");
        let e = parse(r#"{"name": "x", "install_id": 5, "steps": []}"#).unwrap_err();
        assert_eq!(e.to_string(), "install_id: `5` is not text in double quotes");
        assert_eq!((e.position(), e.place()), (Some((1, 29)), None));
        assert_eq!(
            parse(&journey(r#"{"at": "2026-11-20T09:00:00+08:00", "do": "forget"}"#)).unwrap().steps.len(),
            2
        );
    }

    /// The field of a flattened action that serde refused was named by no one: serde reads it
    /// without its name (`invalid type: string "yes", expected a boolean`).
    #[test]
    fn a_field_of_the_wrong_type_is_named() {
        let step = |fields: &str| {
            format!(
                r#"{{"name": "x", "install_id": "00000000000000a1", "steps": [
                    {{"at": "2026-11-20T09:00:00+08:00", {fields}}}]}}"#
            )
        };
        let cases = [
            (r#""do": "consent", "value": "yes""#, "value", r#"the text "yes" is not true or false"#),
            (r#""do": "identify", "value": "a@b.c", "kind": 5"#, "kind", "`5` is not text in double quotes"),
            (
                r#""do": "identify", "kind": "email", "value": null"#,
                "value",
                "`null` is not text in double quotes",
            ),
            (
                r#""do": "traits", "traits": {}, "expires": []"#,
                "expires",
                "a list `[ ]` is not text in double quotes",
            ),
            (
                r#""do": "check", "expect": {"outbox": "exposure"}"#,
                "expect.outbox",
                r#"the text "exposure" is not a list in [ ]"#,
            ),
            (
                r#""do": "check", "expect": {"stage": 1.5}"#,
                "expect.stage",
                "`1.5` is not text in double quotes",
            ),
        ];
        for (fields, field, problem) in cases {
            let e = parse(&step(fields)).unwrap_err();
            assert_eq!(e.to_string(), format!("step 1, {field}: {problem}"), "{fields}");
            assert_eq!(e.place(), Some(format!("steps[0].{field}")));
        }
    }

    /// `EXPECT`, checked by hand for its "did you mean", is what [`super::Expect`] takes.
    #[test]
    fn expect_lists_the_fields_of_expect() {
        let e = serde_json::from_str::<super::Expect>(r#"{"_": 1}"#).unwrap_err().to_string();
        let listed: Vec<String> = super::EXPECT.iter().map(|k| format!("`{k}`")).collect();
        let want = format!("unknown field `_`, expected one of {} at line 1 column 4", listed.join(", "));
        assert_eq!(e, want);
    }
}
