//! Journey fixtures: timed steps (consent, identify, traits, events, decisions) and what is
//! expected after each. The same JSON files (tests/fixtures/) run against this core and the
//! JavaScript package; `kairos simulate` prints them.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

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
            .map(|(step, json)| Step::try_from(json).map_err(|problem| JourneyError::Step { step, problem }))
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

/// Reads a journey from its JSON text. An error in a step is [`JourneyError::Step`], with its
/// number; other errors are [`JourneyError::Json`], with serde_json's line and column.
pub fn parse(text: &str) -> Result<Journey, JourneyError> {
    let fields: JourneyFields = serde_json::from_str(text).map_err(|e| JourneyError::Json(e.to_string()))?;
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

impl TryFrom<Json> for Step {
    type Error = String;

    fn try_from(json: Json) -> Result<Step, String> {
        let Json::Object(fields) = &json else {
            return Err(
                "a step is an object such as {\"at\": \"2026-11-21T10:00:00+08:00\", \"do\": \"check\"}"
                    .into(),
            );
        };
        const ACTIONS: [&str; 7] = ["consent", "identify", "traits", "track", "decide", "check", "forget"];
        let one_of = || ACTIONS.map(|a| format!("`{a}`")).join(", ");
        let action = match fields.get("do") {
            Some(Json::String(a)) => a.as_str(),
            None => return Err(format!("`do` is missing: it names the action, one of {}", one_of())),
            // `"do": 5` read as an empty action was called unknown `do`: ``.
            Some(other) => {
                return Err(format!(
                    "`do` must be text naming the action, not `{other}`: one of {}",
                    one_of()
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
            "" => return Err(format!("`do` is empty: it names the action, one of {}", one_of())),
            // A misspelt action first: its fields would be called unknown instead.
            _ => {
                let hint = match crate::suggest::closest(action, ACTIONS) {
                    Some(a) => format!("; did you mean `{a}`?"),
                    None => format!(", expected one of {}", one_of()),
                };
                return Err(format!("unknown `do`: `{action}`{hint}"));
            }
        };
        const EVERY: [&str; 4] = ["at", "do", "note", "expect"];
        if let Some(unknown) =
            fields.keys().find(|k| !EVERY.contains(&k.as_str()) && !own.contains(&k.as_str()))
        {
            let mut known: Vec<&str> = EVERY.to_vec();
            known.extend_from_slice(own);
            return Err(format!(
                "unknown field `{unknown}` in a `{action}` step, expected one of {}",
                known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        // Only a decision has items and a reason: expected elsewhere, they would check nothing.
        if action != "decide" {
            let expect = fields.get("expect").and_then(Json::as_object);
            if let Some(k) =
                ["items", "reason"].into_iter().find(|k| expect.is_some_and(|x| x.contains_key(*k)))
            {
                return Err(format!("`expect.{k}` in a `{action}` step: only a `decide` step has {k}"));
            }
        }
        let StepFields { at, action, note, expect } =
            serde_json::from_value(json).map_err(|e| e.to_string())?;
        Ok(Step { at, action, note, expect })
    }
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
    /// The text is not JSON, or a field of the journey itself is missing, unknown or of the
    /// wrong type: serde_json's message, with its line and column.
    #[error("{0}")]
    Json(String),
    /// A step is not one: not an object, its `do` missing, empty or unknown, or a field missing,
    /// unknown or of the wrong type.
    #[error("step {}: {problem}", step + 1)]
    Step {
        /// Step index.
        step: usize,
        /// What is wrong, with what would be valid.
        problem: String,
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
    /// finding its line; `None` for [`JourneyError::Json`], whose message has its line.
    pub fn place(&self) -> Option<String> {
        match self {
            JourneyError::Json(_) => None,
            JourneyError::InstallId(_) => Some("install_id".into()),
            JourneyError::Step { step, .. } => Some(format!("steps[{step}]")),
            JourneyError::Time { step, field, .. } => Some(format!("steps[{step}].{field}")),
            JourneyError::Expect { step, field, .. } => Some(format!("steps[{step}].expect.{field}")),
        }
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
    for ((i, step), now) in journey.steps.iter().enumerate().zip(times) {
        out.push(run_step(&mut engine, i, step, now));
    }
    Ok(out)
}

fn run_step(engine: &mut Engine, i: usize, step: &Step, now: i64) -> StepResult {
    let mut items = None;
    let mut reason = None;
    let mut shows = None;
    let mut context = Vec::new();
    let (action, result): (String, Result<(), String>) = match &step.action {
        Action::Consent { value } => {
            if *value {
                engine.set_consent(true);
            } else {
                engine.withdraw_consent(now);
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
            (format!("traits {traits}"), engine.set_traits_json(traits, exp).map_err(|e| e.to_string()))
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
            engine.forget(0x5eed, now);
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
            ),
            (
                r#"{"at": "2026-11-20T09:00:00+08:00"}"#,
                "step 2: `do` is missing: it names the action, one of ",
            ),
            (
                r#"{"at": "2026-11-20T09:00:00+08:00", "do": "chek"}"#,
                "step 2: unknown `do`: `chek`; did you mean `check`?",
            ),
            (r#"{"at": "2026-11-20T09:00:00+08:00", "do": "decide"}"#, "step 2: missing field `placement`"),
            (r#"{"at": 5, "do": "check"}"#, "step 2: invalid type: integer `5`, expected a string"),
            ("[]", "step 2: a step is an object"),
        ];
        for (step, want) in cases {
            let e = parse(&journey(step)).unwrap_err();
            assert!(matches!(e, JourneyError::Step { step: 1, .. }), "{e:?}");
            assert!(e.to_string().starts_with(want), "{step}: {e}");
            assert_eq!(e.place().as_deref(), Some("steps[1]"));
        }
        // Serde reads a journey as `parse` does.
        let e = serde_json::from_str::<super::Journey>(&journey(r#"{"do": ""}"#)).unwrap_err();
        assert!(e.to_string().starts_with("step 2: `do` is empty"), "{e}");
        let e = parse(r#"{"name": "x", "install_id": 5, "steps": []}"#).unwrap_err();
        assert!(matches!(&e, JourneyError::Json(m) if m.ends_with("at line 1 column 29")), "{e:?}");
        assert_eq!(e.place(), None);
        assert_eq!(
            parse(&journey(r#"{"at": "2026-11-20T09:00:00+08:00", "do": "forget"}"#)).unwrap().steps.len(),
            2
        );
    }
}
