//! The model compiler: validates a [`WireModel`] and builds the indexed [`Model`].
//!
//! Every problem is reported with the place in the model file; compilation goes on after an
//! error where it can, so one run shows all of them.

mod error;
mod lint;
mod resolve;
mod shape;
mod size;
mod stage_names;
// Also describes the serde errors of journeys (`crate::journey`).
pub(crate) mod syntax;
mod types;
mod unique;
mod walk;
mod when;

use serde_json::Value as Json;

pub use error::{CompileError, CompileErrors, Warning};
pub use resolve::MODEL_OPERATORS;
pub use size::{body_sections, WARN_BODY_LEN};

use crate::compiled::{
    limits, CapDef, EventDef, FeatureDef, Model, Named, OfferDef, PlacementDef, ScoreDef, VariantDef,
};
use crate::logic::{self, Rule};
use crate::model::{self as wire, AggKind, WireModel};
use crate::profile::window::{Agg, FeatureSpec};
use crate::time;
use resolve::{unknown, unknown_hint, ModelResolver, Names, Uses};

/// A compiled model and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The model.
    pub model: Model,
    /// Rules that are legal but likely wrong.
    pub warnings: Vec<Warning>,
}

/// Compiles model JSON text. A UTF-8 byte order mark at the start (Windows Notepad writes one)
/// is skipped.
pub fn compile_str(text: &str) -> Result<Compiled, CompileErrors> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // First, names given twice in one object, anywhere (serde_json's values keep the last).
    unique_pass(text).map_err(|e| {
        let path = e.path().to_string();
        CompileErrors(vec![syntax::error(text, &path, e.inner())])
    })?;
    let de = &mut serde_json::Deserializer::from_str(text);
    let wire: WireModel = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        CompileErrors(vec![syntax::error(text, &path, e.inner())])
    })?;
    // Text after the model's closing brace (an extra `}` closes it early, and whatever came after
    // it would be left out without a word).
    de.end().map_err(|e| CompileErrors(vec![syntax::error(text, "", &e)]))?;
    compile(&wire)
}

/// Reads JSON text through, failing at the second occurrence of a name in one object (or at
/// a syntax error), with the path to it.
pub(crate) fn unique_pass(
    text: &str,
) -> Result<unique::Unique, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
}

/// The first name given twice in one object of JSON text, as a message naming where
/// (`traits: \`tier\` is given twice …`); `None` when there is none, or when the text is not
/// JSON (the caller's parser says why). For the CLI's other JSON inputs (trait files, rules,
/// journeys, the server's bodies), as the model's own check does for models.
pub fn duplicate_name(text: &str) -> Option<String> {
    let e = unique_pass(text).err()?;
    // The duplicate is the reader's own error; a syntax error is left to the caller's parser.
    if e.inner().classify() != serde_json::error::Category::Data {
        return None;
    }
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    Some(if path.is_empty() || path == "." { inner } else { format!("{path}: {inner}") })
}

/// Parses JSON text as `serde_json::from_str` does, but refuses a name given twice in one
/// object (serde_json keeps the last silently), naming where ([`duplicate_name`]).
pub fn json_unique(text: &str) -> Result<serde_json::Value, String> {
    match duplicate_name(text) {
        Some(twice) => Err(twice),
        None => serde_json::from_str(text).map_err(|e| e.to_string()),
    }
}

/// Compiles a parsed model.
pub fn compile(wire: &WireModel) -> Result<Compiled, CompileErrors> {
    let mut c = Compiler::default();
    c.warnings.extend(lint::missing_id_salt(&wire.meta.id_salt));
    let model = c.model(wire);
    let splits = lint::same_splits(&c.unsalted);
    c.warnings.extend(splits);
    if c.errors.is_empty() {
        match size::check(&model) {
            Ok(warning) => c.warnings.extend(warning),
            Err(e) => c.errors.push(e),
        }
    }
    if c.errors.is_empty() {
        Ok(Compiled { model, warnings: c.warnings })
    } else {
        Err(CompileErrors(c.errors))
    }
}

/// What a rule may read besides the shopper's profile.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// The page context too (segments, audiences).
    Page,
    /// Nothing else (lifecycle stages).
    Shopper,
    /// The tracked event's properties (feature filters).
    Event(usize),
}

#[derive(Default)]
struct Compiler {
    errors: Vec<CompileError>,
    warnings: Vec<Warning>,
    /// Where rules split by `targetingKey` alone ([`lint::unsalted_fractional`]).
    unsalted: Vec<String>,
    names: Names,
    contents: Vec<String>,
}

/// The rule for model names (placements, offers, variants, events, stages, ...), for messages:
/// what [`is_name`] checks.
pub const NAME_RULE: &str =
    "1 to 64 letters, digits, `_` or `-`, not starting with `-`, with no dots or spaces";

/// Whether `name` follows the model's naming rule ([`NAME_RULE`]); the server checks the names in
/// device reports by it too.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with('-')
}

fn check_name(path: &str, kind: &str, name: &str) -> Result<(), CompileError> {
    if is_name(name) {
        Ok(())
    } else {
        Err(CompileError::invalid(path, format!("{kind} name `{name}` must be {NAME_RULE}")))
    }
}

fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else {
        format!("{base}.{inner}")
    }
}

impl Compiler {
    fn err(&mut self, e: CompileError) {
        self.errors.push(e);
    }

    fn too_many(&mut self, path: &str, n: usize, max: usize) -> bool {
        if n > max {
            self.err(CompileError::invalid(path, format!("{n} entries; at most {max} are allowed")));
            return true;
        }
        false
    }

    fn names_of<T>(&mut self, section: &str, kind: &str, named: &wire::Named<T>) -> Vec<String> {
        let mut out = Vec::with_capacity(named.len());
        for (name, _) in named.iter() {
            if let Err(e) = check_name(&format!("{section}.{name}"), kind, name) {
                self.err(e);
            }
            out.push(name.to_string());
        }
        out
    }

    /// Compiles a rule, returning it and what it uses.
    fn rule(&mut self, path: &str, json: &Json, scope: Scope) -> Option<(Rule, Uses)> {
        let mut resolver = ModelResolver::new(&self.names, None);
        match scope {
            Scope::Page => {}
            Scope::Shopper => resolver.context = false,
            Scope::Event(e) => {
                resolver.event = Some(e);
                resolver.context = false;
            }
        }
        let subject = if matches!(scope, Scope::Event(_)) { "event" } else { "shopper" };
        let hints = shape::Hints { segments: &self.names.segments, stages: &self.names.stages, subject };
        if let Some((inner, message)) = shape::not_a_rule(json, &hints) {
            self.err(CompileError::Rule { path: join(path, &inner), message });
            return None;
        }
        let parsed = logic::parse(json, &resolver);
        let uses = resolver.uses.into_inner();
        match parsed {
            Ok(rule) => {
                self.warnings.extend(lint::missing_comparisons(path, json, &self.names));
                lint::unsalted_fractional(path, json, &mut self.unsalted);
                let n = &self.names;
                let types = types::Types {
                    traits: n.traits.iter().map(String::as_str).zip(n.trait_types.iter().copied()).collect(),
                    context: n
                        .context
                        .iter()
                        .map(String::as_str)
                        .zip(n.context_types.iter().copied())
                        .collect(),
                    features: n.features.iter().map(|(f, _)| f.as_str()).collect(),
                };
                self.warnings.extend(types::check(path, json, &types));
                let unknown = stage_names::check(path, json, &self.names.stages);
                let ok = unknown.is_empty();
                for e in unknown {
                    self.err(e);
                }
                ok.then_some((rule, uses))
            }
            Err(e) => {
                self.err(CompileError::Rule { path: join(path, &e.path), message: e.message });
                None
            }
        }
    }

    fn content(&mut self, json: &Json) -> u32 {
        let text = json.to_string();
        if let Some(i) = self.contents.iter().position(|c| *c == text) {
            return i as u32;
        }
        self.contents.push(text);
        (self.contents.len() - 1) as u32
    }

    fn model(&mut self, w: &WireModel) -> Model {
        let offset_ms = time::parse_offset(&w.meta.utc_offset).unwrap_or_else(|| {
            self.err(CompileError::invalid(
                "meta.utc_offset",
                format!("`{}` is not a UTC offset; write it like `+08:00`", w.meta.utc_offset),
            ));
            0
        });
        if w.meta.version == 0 {
            self.err(CompileError::invalid(
                "meta.version",
                "the version must be 1 or more, and grow with every release",
            ));
        }
        self.too_many("events", w.events.len(), limits::EVENTS);
        self.too_many("context", w.context.len(), limits::FIELDS);
        self.too_many("traits", w.traits.len(), limits::FIELDS);
        self.too_many("features", w.features.len(), limits::FEATURES);
        self.too_many("scores", w.scores.len(), limits::SCORES);
        self.too_many("lifecycle", w.lifecycle.len(), limits::STAGES);
        self.too_many("segments", w.segments.len(), limits::SEGMENTS);
        self.too_many("placements", w.placements.len(), limits::PLACEMENTS);
        self.too_many("offers", w.offers.len(), limits::OFFERS);
        self.too_many("calendars", w.calendars.len(), limits::CALENDARS);

        self.names.events = self.names_of("events", "event", &w.events);
        self.names.event_props = w
            .events
            .iter()
            .map(|(e, props)| {
                if props.len() > limits::FIELDS {
                    self.err(CompileError::invalid(format!("events.{e}"), "too many properties"));
                }
                for (p, _) in props.iter() {
                    if let Err(err) = check_name(&format!("events.{e}.{p}"), "property", p) {
                        self.err(err);
                    } else if p == "type" {
                        self.err(CompileError::invalid(
                            format!("events.{e}.type"),
                            "`type` is reserved: it names the event type in every event",
                        ));
                    }
                }
                props.iter().map(|(p, _)| p.to_string()).collect()
            })
            .collect();
        self.names.context = self.names_of("context", "context field", &w.context);
        self.names.context_types = w.context.iter().map(|(_, t)| *t).collect();
        self.names.traits = self.names_of("traits", "trait", &w.traits);
        self.names.trait_types = w.traits.iter().map(|(_, t)| *t).collect();
        self.names.features = w.features.iter().map(|(n, f)| (n.to_string(), f.agg)).collect();
        let _ = self.names_of("features", "feature", &w.features);
        self.names.scores = self.names_of("scores", "score", &w.scores);
        self.names.segments = self.names_of("segments", "segment", &w.segments);
        self.names.calendars = self.names_of("calendars", "calendar", &w.calendars);
        self.names.stages = w.lifecycle.iter().map(|s| s.stage.clone()).collect();

        let mut events: Vec<EventDef> = w
            .events
            .iter()
            .map(|(name, props)| EventDef {
                name: name.to_string(),
                props: props.iter().map(|(p, t)| (p.to_string(), *t)).collect(),
                features: Vec::new(),
                converts: Vec::new(),
            })
            .collect();
        let features = self.features(w, &mut events);
        let (scores, score_uses) = self.scores(w);
        let (stages, stage_uses) = self.stages(w);
        let (segments, segment_uses) = self.segments(w);
        self.cycles(&segment_uses, &score_uses);
        self.stage_context(&stage_uses, &segment_uses, &score_uses);
        let calendars = self.calendars(w);
        let mut placements = self.placements(w);
        let offers = self.offers(w, &mut placements, &mut events);
        let caps = self.caps("caps", &w.caps);
        let quiet = w.quiet_hours.as_ref().and_then(|q| self.quiet("quiet_hours", q));

        Model {
            name: w.meta.name.clone(),
            version: w.meta.version,
            offset_ms,
            id_salt: w.meta.id_salt.clone(),
            events,
            context: w.context.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            traits: w.traits.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            features,
            scores,
            stages,
            segments,
            calendars,
            placements,
            offers,
            contents: std::mem::take(&mut self.contents),
            caps,
            quiet,
        }
    }

    fn features(&mut self, w: &WireModel, events: &mut [EventDef]) -> Vec<FeatureDef> {
        let mut out = Vec::new();
        for (i, (name, f)) in w.features.iter().enumerate() {
            let path = format!("features.{name}");
            let Some(ev) = self.names.events.iter().position(|e| *e == f.event) else {
                let hint = unknown("event", &f.event, self.names.events.iter().map(String::as_str));
                self.err(CompileError::invalid(format!("{path}.event"), hint));
                continue;
            };
            if matches!(f.agg, AggKind::First | AggKind::Last) && self.names.events.iter().any(|e| e == name)
            {
                // `days_since`/`hours_since` of a name read the event type of that name first.
                self.warnings.push(Warning {
                    path: path.clone(),
                    message: format!(
                        "there is an event type `{name}` too, so `days_since` and `hours_since` of \
                         `{name}` read any `{name}` event, not this feature (its `where` and window do \
                         not apply there); give the feature a name of its own"
                    ),
                });
            }
            let props = events.get(ev).map(|e| e.props.clone()).unwrap_or_default();
            let of = match (&f.of, f.agg) {
                (None, AggKind::Sum | AggKind::Distinct) => {
                    self.err(CompileError::invalid(
                        format!("{path}.of"),
                        format!(
                            "a `{:?}` feature needs `of`: the property of `{}` to aggregate",
                            f.agg, f.event
                        )
                        .to_lowercase(),
                    ));
                    None
                }
                (Some(p), AggKind::Sum | AggKind::Distinct) => match props.iter().position(|(n, _)| n == p) {
                    Some(k) => {
                        let ty = props.get(k).map(|x| x.1);
                        if f.agg == AggKind::Sum && ty != Some(wire::ValueType::Number) {
                            self.err(CompileError::invalid(
                                format!("{path}.of"),
                                format!("`sum` needs a number property, and `{p}` is not one"),
                            ));
                        }
                        if f.agg == AggKind::Distinct && ty == Some(wire::ValueType::StringList) {
                            self.err(CompileError::invalid(
                                format!("{path}.of"),
                                format!("`distinct` counts single values; `{p}` is a list"),
                            ));
                        }
                        Some(k as u16)
                    }
                    None => {
                        let names = props.iter().map(|(n, _)| n.as_str());
                        let m = unknown("event property", p, names);
                        self.err(CompileError::invalid(
                            format!("{path}.of"),
                            format!("{m} (event `{}`)", f.event),
                        ));
                        None
                    }
                },
                (Some(_), _) => {
                    self.err(CompileError::invalid(
                        format!("{path}.of"),
                        "`of` only applies to `sum` and `distinct`",
                    ));
                    None
                }
                (None, _) => None,
            };
            if let Some(d) = f.window_days {
                if !(1..=limits::DAYS).contains(&d) {
                    self.err(CompileError::invalid(
                        format!("{path}.window_days"),
                        format!(
                            "{d} days; a window is 1 to {} days (leave it out for all time)",
                            limits::DAYS
                        ),
                    ));
                }
            }
            let max = f.max.unwrap_or(32);
            if f.agg == AggKind::Distinct && !(1..=limits::DISTINCT).contains(&max) {
                let why = format!("`max` is 1 to {} distinct values", limits::DISTINCT);
                self.err(CompileError::invalid(format!("{path}.max"), why));
            } else if f.agg != AggKind::Distinct && f.max.is_some() {
                self.err(CompileError::invalid(format!("{path}.max"), "`max` only applies to `distinct`"));
            }
            let agg = match f.agg {
                AggKind::Count => Agg::Count,
                AggKind::Sum => Agg::Sum,
                AggKind::First => Agg::First,
                AggKind::Last => Agg::Last,
                AggKind::Distinct => Agg::Distinct { max },
            };
            let filter = match &f.filter {
                Some(json) => self.rule(&format!("{path}.where"), json, Scope::Event(ev)).map(|r| r.0),
                None => None,
            };
            if let Some(e) = events.get_mut(ev) {
                e.features.push(i as u16);
            }
            out.push(FeatureDef {
                name: name.to_string(),
                event: ev as u16,
                spec: FeatureSpec { agg, window_days: f.window_days },
                of,
                filter,
            });
        }
        out
    }

    fn scores(&mut self, w: &WireModel) -> (Vec<ScoreDef>, Vec<Uses>) {
        let mut out = Vec::new();
        let mut all_uses = Vec::new();
        for (name, s) in w.scores.iter() {
            let path = format!("scores.{name}");
            let resolver = ModelResolver::new(&self.names, None);
            let mut terms = Vec::new();
            let mut errors = Vec::new();
            if !s.bias.is_finite() {
                errors
                    .push(CompileError::invalid(format!("{path}.bias"), "the bias must be a finite number"));
            }
            if s.weights.len() > limits::SCORE_TERMS {
                errors.push(CompileError::invalid(
                    format!("{path}.weights"),
                    format!("{} inputs; at most {}", s.weights.len(), limits::SCORE_TERMS),
                ));
            }
            for (input, weight) in s.weights.iter() {
                let at = format!("{path}.weights.{input}");
                if !weight.is_finite() {
                    errors.push(CompileError::invalid(&at, "weights must be finite numbers"));
                }
                if input.starts_with("context.") || input.starts_with("scores.") || !input.contains('.') {
                    errors.push(CompileError::invalid(
                        &at,
                        format!("`{input}`: score inputs are `features.<name>`, `traits.<name>` or `segments.<name>`"),
                    ));
                    continue;
                }
                match logic::Resolver::var(&resolver, input) {
                    Ok(Some(slot)) => terms.push((slot, *weight)),
                    Ok(None) => {}
                    Err(m) => errors.push(CompileError::Rule { path: at, message: m }),
                }
            }
            all_uses.push(resolver.uses.into_inner());
            self.errors.extend(errors);
            out.push(ScoreDef { name: name.to_string(), kind: s.kind, bias: s.bias, terms });
        }
        (out, all_uses)
    }

    /// The stages, and what each stage rule uses (by lifecycle index).
    fn stages(&mut self, w: &WireModel) -> (Vec<Named>, Vec<(usize, Uses)>) {
        let mut out = Vec::new();
        let mut all_uses = Vec::new();
        // The first stage before the last whose rule is always true: it hides the rest.
        let mut catch_all = None;
        for (i, s) in w.lifecycle.iter().enumerate() {
            let path = format!("lifecycle[{i}]");
            if let Err(e) = check_name(&format!("{path}.stage"), "stage", &s.stage) {
                self.err(e);
            }
            if w.lifecycle.iter().take(i).any(|o| o.stage == s.stage) {
                self.err(CompileError::invalid(
                    format!("{path}.stage"),
                    format!("stage `{}` is defined twice", s.stage),
                ));
            }
            if let Some((rule, uses)) = self.rule(&format!("{path}.when"), &s.when, Scope::Shopper) {
                all_uses.push((i, uses));
                let always = rule.as_const().is_some_and(logic::Value::truthy);
                if always && catch_all.is_none() && i + 1 < w.lifecycle.len() {
                    catch_all = Some(i);
                }
                out.push(Named { name: s.stage.clone(), rule });
            }
        }
        if let Some(i) = catch_all {
            let hidden: Vec<String> =
                w.lifecycle.iter().skip(i + 1).map(|s| format!("`{}`", s.stage)).collect();
            self.warnings.push(Warning {
                path: format!("lifecycle[{i}].when"),
                message: format!(
                    "this stage is always true, so the stages after it ({}) are never reached; \
                     move it to the end, or give it a rule",
                    hidden.join(", ")
                ),
            });
        } else if let Some(last) = w.lifecycle.last() {
            if last.when != Json::Bool(true) {
                self.warnings.push(Warning {
                    path: format!("lifecycle[{}].when", w.lifecycle.len() - 1),
                    message: "the last stage is not `true`, so a shopper can match no stage at all; \
                              end with a catch-all such as {\"stage\": \"anonymous\", \"when\": true}"
                        .into(),
                });
            }
        }
        (out, all_uses)
    }

    /// A stage is evaluated without a page context, so a segment it uses, directly or through
    /// other segments and scores, must not read `context.*` (it would always see it missing).
    fn stage_context(&mut self, stages: &[(usize, Uses)], segments: &[Uses], scores: &[Uses]) {
        let seg_name = |k: usize| self.names.segments.get(k).map_or("?", String::as_str).to_string();
        let score_name = |k: usize| self.names.scores.get(k).map_or("?", String::as_str).to_string();
        let mut errors = Vec::new();
        for (i, uses) in stages {
            // Depth-first through segments (and the segments scores read), each visited once,
            // with what the stage rule itself names on the way there.
            let mut seen = vec![false; segments.len()];
            let mut stack: Vec<(usize, String)> =
                uses.segments.iter().map(|&s| (s, format!("segment `{}`", seg_name(s)))).collect();
            for &k in &uses.scores {
                let via = format!("score `{}`", score_name(k));
                stack.extend(
                    scores.get(k).into_iter().flat_map(|u| u.segments.iter().map(|&s| (s, via.clone()))),
                );
            }
            while let Some((seg, via)) = stack.pop() {
                match seen.get_mut(seg) {
                    Some(v) if !*v => *v = true,
                    _ => continue,
                }
                let Some(u) = segments.get(seg) else { continue };
                if let Some(field) = &u.context {
                    let direct = format!("segment `{}`", seg_name(seg));
                    let chain =
                        if via == direct { direct } else { format!("{via}, which depends on {direct}") };
                    errors.push(CompileError::invalid(
                        format!("lifecycle[{i}].when"),
                        format!(
                            "uses {chain}, which reads `{field}`; a stage sees no page context, so that \
                             field is always missing here"
                        ),
                    ));
                    break;
                }
                stack.extend(u.segments.iter().map(|&s| (s, via.clone())));
                for &k in &u.scores {
                    stack.extend(
                        scores.get(k).into_iter().flat_map(|x| x.segments.iter().map(|&s| (s, via.clone()))),
                    );
                }
            }
        }
        self.errors.extend(errors);
    }

    fn segments(&mut self, w: &WireModel) -> (Vec<Named>, Vec<Uses>) {
        let mut out = Vec::new();
        let mut uses = Vec::new();
        for (name, rule) in w.segments.iter() {
            let path = format!("segments.{name}");
            match self.rule(&path, rule, Scope::Page) {
                Some((rule, u)) => {
                    out.push(Named { name: name.to_string(), rule });
                    uses.push(u);
                }
                None => uses.push(Uses::default()),
            }
        }
        (out, uses)
    }

    /// Finds cycles among segments and scores (a score may read a segment and a segment a score).
    fn cycles(&mut self, segments: &[Uses], scores: &[Uses]) {
        // Nodes: segments 0..n, then scores n..n+m.
        let n = segments.len();
        let edges = |node: usize| -> Vec<usize> {
            let u = if node < n { segments.get(node) } else { scores.get(node - n) };
            u.map(|u| u.segments.iter().copied().chain(u.scores.iter().map(|s| s + n)).collect())
                .unwrap_or_default()
        };
        let label = |node: usize| -> String {
            if node < n {
                format!("segments.{}", self.names.segments.get(node).map_or("?", String::as_str))
            } else {
                format!("scores.{}", self.names.scores.get(node - n).map_or("?", String::as_str))
            }
        };
        let total = n + scores.len();
        // 0 = unvisited, 1 = on the stack, 2 = done. Iterative DFS: hostile models cannot blow the stack.
        let mut state = vec![0u8; total];
        let mut reported = false;
        for start in 0..total {
            if state.get(start) != Some(&0) || reported {
                continue;
            }
            let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, edges(start))];
            if let Some(s) = state.get_mut(start) {
                *s = 1;
            }
            while let Some((node, pending)) = stack.last_mut() {
                let node = *node;
                match pending.pop() {
                    Some(next) => match state.get(next) {
                        Some(0) => {
                            if let Some(s) = state.get_mut(next) {
                                *s = 1;
                            }
                            stack.push((next, edges(next)));
                        }
                        Some(1) => {
                            let from = stack.iter().position(|(k, _)| *k == next).unwrap_or(0);
                            let mut names: Vec<String> =
                                stack.iter().skip(from).map(|(k, _)| label(*k)).collect();
                            names.push(label(next));
                            self.errors
                                .push(CompileError::Cycle { path: label(next), cycle: names.join(" -> ") });
                            reported = true;
                            break;
                        }
                        _ => {}
                    },
                    None => {
                        if let Some(s) = state.get_mut(node) {
                            *s = 2;
                        }
                        stack.pop();
                    }
                }
            }
        }
    }

    fn calendars(&mut self, w: &WireModel) -> Vec<(String, Vec<(i32, i32)>)> {
        let mut out = Vec::new();
        for (name, entries) in w.calendars.iter() {
            let path = format!("calendars.{name}");
            if self.too_many(&path, entries.len(), limits::CALENDAR_ENTRIES) {
                continue;
            }
            let mut ranges = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                let at = format!("{path}[{i}]");
                let (a, b) = match e {
                    wire::CalendarEntry::Day(d) => (d.as_str(), d.as_str()),
                    wire::CalendarEntry::Range(a, b) => (a.as_str(), b.as_str()),
                };
                match (time::parse_date(a), time::parse_date(b)) {
                    (Some(x), Some(y)) if x <= y => ranges.push((x, y)),
                    (Some(_), Some(_)) => self.err(CompileError::invalid(
                        at,
                        format!("range `{a}` to `{b}` ends before it starts"),
                    )),
                    _ => self.err(CompileError::invalid(
                        at,
                        format!(
                            "`{a}`{}: dates are `YYYY-MM-DD`",
                            if a == b { String::new() } else { format!(" to `{b}`") }
                        ),
                    )),
                }
            }
            ranges.sort_unstable();
            let mut merged: Vec<(i32, i32)> = Vec::with_capacity(ranges.len());
            for r in ranges {
                match merged.last_mut() {
                    Some(last) if r.0 <= last.1.saturating_add(1) => last.1 = last.1.max(r.1),
                    _ => merged.push(r),
                }
            }
            out.push((name.to_string(), merged));
        }
        out
    }

    fn placements(&mut self, w: &WireModel) -> Vec<PlacementDef> {
        let mut out = Vec::new();
        for (name, p) in w.placements.iter() {
            let path = format!("placements.{name}");
            if let Err(e) = check_name(&path, "placement", name) {
                self.err(e);
            }
            if !(1..=limits::MAX_ITEMS).contains(&p.max_items) {
                self.err(CompileError::invalid(
                    format!("{path}.max_items"),
                    format!("{}; a placement shows 1 to {} items", p.max_items, limits::MAX_ITEMS),
                ));
            }
            let fallback = p.fallback.as_ref().map(|c| self.content(c));
            out.push(PlacementDef {
                name: name.to_string(),
                max_items: p.max_items,
                fallback,
                offers: Vec::new(),
            });
        }
        if out.is_empty() {
            self.err(CompileError::invalid(
                "placements",
                "define at least one placement, like {\"home_hero\": {}}",
            ));
        }
        out
    }

    fn caps(&mut self, path: &str, caps: &[wire::Cap]) -> Vec<CapDef> {
        if self.too_many(path, caps.len(), limits::CAPS) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, c) in caps.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let max_ok = c.max > 0;
            let days_ok = (1..=limits::DAYS).contains(&c.days);
            if !max_ok {
                self.err(CompileError::invalid(
                    format!("{at}.max"),
                    "a cap of 0 means never shown; remove the offer or set `max` to 1 or more",
                ));
            }
            if !days_ok {
                self.err(CompileError::invalid(
                    format!("{at}.days"),
                    format!("{} days; a cap covers 1 to {} natural days", c.days, limits::DAYS),
                ));
            }
            if max_ok && days_ok {
                out.push(CapDef { max: c.max, days: c.days });
            }
        }
        out
    }

    fn quiet(&mut self, path: &str, q: &wire::QuietHours) -> Option<(u16, u16)> {
        match (time::parse_hh_mm(&q.from), time::parse_hh_mm(&q.to)) {
            (Some(a), Some(b)) if a != b => Some((a, b)),
            (Some(_), Some(_)) => {
                self.err(CompileError::invalid(path, "quiet hours start and end at the same time"));
                None
            }
            (a, _) => {
                let (field, v) = if a.is_none() { ("from", &q.from) } else { ("to", &q.to) };
                self.err(CompileError::invalid(
                    format!("{path}.{field}"),
                    if v.trim() == "24:00" {
                        "`24:00` is not a time; write `00:00` for midnight".to_string()
                    } else {
                        format!("`{v}` is not a time; write `HH:MM`, like `22:00`")
                    },
                ));
                None
            }
        }
    }

    fn time_bound(&mut self, path: &str, s: &str, end: bool, offset_ms: i64) -> Option<i64> {
        if let Some(ms) = time::parse_rfc3339(s) {
            return Some(ms);
        }
        if let Some(day) = time::parse_date(s) {
            return Some(time::day_start_ms(if end { day + 1 } else { day }, offset_ms));
        }
        self.err(CompileError::invalid(
            path,
            format!(
                "`{s}` is not a time{}; write a date `2026-11-11` or a time `2026-11-11T20:00:00+08:00`",
                when::problem(s)
            ),
        ));
        None
    }

    /// An error when `list[k]` was named before in `list` (at `path`): harmless, but most
    /// likely a slip for another name (as a name given twice in one object is).
    fn named_twice(&mut self, path: &str, list: &[String], k: usize) {
        let Some(name) = list.get(k) else { return };
        if let Some(first) = list.iter().take(k).position(|n| n == name) {
            self.err(CompileError::invalid(
                format!("{path}[{k}]"),
                format!("`{name}` is named twice in this list (first at [{first}]): keep one"),
            ));
        }
    }

    fn offers(
        &mut self,
        w: &WireModel,
        placements: &mut [PlacementDef],
        events: &mut [EventDef],
    ) -> Vec<OfferDef> {
        let offset_ms = time::parse_offset(&w.meta.utc_offset).unwrap_or(0);
        let stage_names: Vec<&str> = w.lifecycle.iter().map(|s| s.stage.as_str()).collect();
        let placement_names: Vec<String> = placements.iter().map(|p| p.name.clone()).collect();
        let mut out: Vec<OfferDef> = Vec::new();
        // The ids seen so far (20,000 offers by a scan of those before each took seconds).
        let mut ids = std::collections::HashSet::with_capacity(w.offers.len());
        for (i, o) in w.offers.iter().enumerate() {
            let path = format!("offers[{i}]");
            if let Err(e) = check_name(&format!("{path}.id"), "offer", &o.id) {
                self.err(e);
            }
            if !ids.insert(o.id.as_str()) {
                self.err(CompileError::invalid(
                    format!("{path}.id"),
                    format!("offer id `{}` is used twice", o.id),
                ));
            }
            if o.placements.is_empty() {
                self.err(CompileError::invalid(format!("{path}.placements"), "name at least one placement"));
            }
            for (k, p) in o.placements.iter().enumerate() {
                self.named_twice(&format!("{path}.placements"), &o.placements, k);
                match placement_names.iter().position(|n| n == p) {
                    Some(pi) => {
                        if let Some(pl) = placements.get_mut(pi) {
                            if !pl.offers.contains(&(i as u32)) {
                                pl.offers.push(i as u32);
                            }
                        }
                    }
                    None => self.err(CompileError::UnknownName {
                        path: format!("{path}.placements[{k}]"),
                        kind: "placement",
                        name: p.clone(),
                        hint: unknown_hint(p, placement_names.iter().map(String::as_str)),
                    }),
                }
            }
            let audience = match &o.audience {
                Some(json) => match self.rule(&format!("{path}.audience"), json, Scope::Page) {
                    Some((rule, uses)) => {
                        if !o.requires_consent && uses.personal {
                            self.err(CompileError::invalid(
                                format!("{path}.audience"),
                                "this offer is shown without consent (`requires_consent: false`), so its audience \
                                 may read only `context.*`, `now` and `consent`, not the shopper's profile",
                            ));
                        }
                        Some(rule)
                    }
                    None => None,
                },
                None => None,
            };
            let stages = o.stages.as_ref().map(|list| {
                if list.is_empty() {
                    // An empty mask matches no stage: the offer would never be shown.
                    self.err(CompileError::invalid(
                        format!("{path}.stages"),
                        "name at least one stage, or leave `stages` out for any stage",
                    ));
                }
                let mut mask = 0u64;
                for (k, s) in list.iter().enumerate() {
                    self.named_twice(&format!("{path}.stages"), list, k);
                    match stage_names.iter().position(|n| n == s) {
                        Some(b) => mask |= 1u64 << (b as u32 & 63),
                        None => self.err(CompileError::UnknownName {
                            path: format!("{path}.stages[{k}]"),
                            kind: "stage",
                            name: s.clone(),
                            hint: unknown_hint(s, stage_names.iter().copied()),
                        }),
                    }
                }
                if !o.requires_consent {
                    self.err(CompileError::invalid(
                        format!("{path}.stages"),
                        "an offer shown without consent cannot depend on the lifecycle stage",
                    ));
                }
                mask
            });
            let start =
                o.start.as_ref().and_then(|s| self.time_bound(&format!("{path}.start"), s, false, offset_ms));
            let end =
                o.end.as_ref().and_then(|s| self.time_bound(&format!("{path}.end"), s, true, offset_ms));
            if let (Some(a), Some(b)) = (start, end) {
                if b <= a {
                    self.err(CompileError::invalid(format!("{path}.end"), "the offer ends before it starts"));
                }
            }
            let quiet = o.quiet_hours.as_ref().and_then(|q| self.quiet(&format!("{path}.quiet_hours"), q));
            let rank_by =
                o.rank_by.as_ref().and_then(|s| match self.names.scores.iter().position(|n| n == s) {
                    Some(k) => Some(k as u16),
                    None => {
                        let m = unknown("score", s, self.names.scores.iter().map(String::as_str));
                        self.err(CompileError::invalid(format!("{path}.rank_by"), m));
                        None
                    }
                });
            let caps = self.caps(&format!("{path}.caps"), &o.caps);
            let min_gap_ms = o.min_gap_hours.and_then(|h| {
                if h.is_finite() && (0.0..=24.0 * 400.0).contains(&h) {
                    Some((h * time::HOUR_MS as f64) as i64)
                } else {
                    self.err(CompileError::invalid(format!("{path}.min_gap_hours"), "0 to 9600 hours"));
                    None
                }
            });
            if !(0.0..=0.5).contains(&o.control) {
                self.err(CompileError::invalid(
                    format!("{path}.control"),
                    format!("{}; the control share is 0 to 0.5 (e.g. 0.1 holds out 10%)", o.control),
                ));
            }
            let control_bp = (o.control.clamp(0.0, 0.5) * 10_000.0).round() as u16;
            if o.variants.len() > limits::VARIANTS {
                self.err(CompileError::invalid(format!("{path}.variants"), "at most 64 variants"));
            }
            let mut variants = Vec::new();
            for (k, v) in o.variants.iter().enumerate() {
                let at = format!("{path}.variants[{k}]");
                if let Err(e) = check_name(&format!("{at}.id"), "variant", &v.id) {
                    self.err(e);
                }
                if v.weight == 0 {
                    self.err(CompileError::invalid(
                        format!("{at}.weight"),
                        "a variant's weight must be 1 or more",
                    ));
                }
                if o.variants.iter().take(k).any(|x| x.id == v.id) {
                    self.err(CompileError::invalid(
                        format!("{at}.id"),
                        format!("variant id `{}` is used twice", v.id),
                    ));
                }
                if v.content.is_none() && o.content.is_none() {
                    self.err(CompileError::invalid(
                        format!("{at}.content"),
                        "the variant has no content and the offer none to share",
                    ));
                }
                let content = v.content.as_ref().map(|c| self.content(c));
                variants.push(VariantDef { id: v.id.clone(), weight: v.weight, content });
            }
            if o.variants.is_empty() && o.content.is_none() {
                self.err(CompileError::invalid(
                    format!("{path}.content"),
                    "an offer needs `content` (or variants with content)",
                ));
            }
            let content = o.content.as_ref().map(|c| self.content(c));
            let conversion = o.conversion.as_ref().and_then(|c| {
                let Some(e) = self.names.events.iter().position(|n| *n == c.event) else {
                    let m = unknown("event", &c.event, self.names.events.iter().map(String::as_str));
                    self.err(CompileError::invalid(format!("{path}.conversion.event"), m));
                    return None;
                };
                if !(c.within_hours.is_finite() && c.within_hours > 0.0 && c.within_hours <= 24.0 * 400.0) {
                    self.err(CompileError::invalid(
                        format!("{path}.conversion.within_hours"),
                        "more than 0, at most 9600",
                    ));
                    return None;
                }
                if let Some(ev) = events.get_mut(e) {
                    ev.converts.push(i as u32);
                }
                Some((e as u16, (c.within_hours * time::HOUR_MS as f64) as i64))
            });
            out.push(OfferDef {
                id: o.id.clone(),
                audience,
                stages,
                start,
                end,
                quiet,
                priority: o.priority,
                rank_by,
                caps,
                min_gap_ms,
                global_caps: o.global_caps,
                control_bp,
                variants,
                content,
                requires_consent: o.requires_consent,
                conversion,
            });
        }
        for p in placements.iter_mut() {
            // Stable: equal priorities keep model order, the documented tie-break.
            p.offers
                .sort_by_key(|&o| std::cmp::Reverse(out.get(o as usize).map_or(i32::MIN, |x| x.priority)));
        }
        out
    }
}
