//! Journey fixtures: timed steps (consent, identify, traits, events, decisions) and what is
//! expected after each. The same JSON files (tests/fixtures/) run against this core and the
//! JavaScript package; `kairos simulate` prints them.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::engine::{input, Engine, Reason};
use crate::outbox::OutboxEvent;
use crate::profile::identity::IdKind;
use crate::time;

/// A journey fixture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journey {
    /// Short name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// The model file, relative to the repository root; optional when the caller supplies the
    /// model (`kairos simulate --model`).
    #[serde(default)]
    pub model: Option<String>,
    /// The install id, 16 hex digits (a u64; JSON numbers cannot hold one exactly).
    pub install_id: String,
    /// The steps.
    pub steps: Vec<Step>,
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
            None => "",
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
            // A misspelt action first: its fields would be called unknown instead.
            _ => {
                let hint = if fields.contains_key("do") {
                    crate::suggest::closest(action, ACTIONS).map(|a| format!("; did you mean `{a}`?"))
                } else {
                    None
                };
                let what = if fields.contains_key("do") {
                    format!("unknown `do`: `{action}`")
                } else {
                    "a step needs `do`".into()
                };
                return Err(format!(
                    "{what}{}",
                    hint.unwrap_or_else(|| format!(", expected one of {}", one_of()))
                ));
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

/// Why a journey could not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JourneyError {
    /// The install id is not 16 hex digits.
    #[error("install_id `{0}` is not 16 hex digits")]
    InstallId(String),
    /// A step's time (`at`, or a `traits` step's `expires`) does not parse.
    #[error("steps[{step}].{field}: `{at}` is not an RFC 3339 time")]
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
    #[error("steps[{step}].expect.{field}: {problem}")]
    Expect {
        /// Step index.
        step: usize,
        /// `stage`, `segments`, `items`, `reason` or `outbox`.
        field: &'static str,
        /// What is unknown, with a suggestion.
        problem: String,
    },
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
