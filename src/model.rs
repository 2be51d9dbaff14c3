//! The wire model: what a brand writes, as JSON. Documented in `docs/model.md`, schema in
//! `schema/model.schema.json`. [`crate::compile`] turns it into a [`crate::Model`].
//!
//! Maps whose order matters (lifecycle stages, offers) are arrays; named things are objects
//! keyed by name, kept in the order written.

use alloc::string::{String, ToString};
use alloc::{format, vec::Vec};
use serde::Deserialize;
#[cfg(feature = "std")]
use serde_json::Value as Json;

/// A whole model file.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireModel {
    /// Optional `$schema` reference for editors; ignored.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Name, version, time zone.
    pub meta: Meta,
    /// Event types the device tracks and their properties.
    #[serde(default)]
    pub events: Named<Props>,
    /// Page-context fields a page passes to `decide`.
    #[serde(default)]
    pub context: Named<ValueType>,
    /// Attributes the server supplies.
    #[serde(default)]
    pub traits: Named<TraitType>,
    /// Behavioural aggregates kept on the device.
    #[serde(default)]
    pub features: Named<Feature>,
    /// Small linear or logistic models.
    #[serde(default)]
    pub scores: Named<Score>,
    /// Lifecycle stages, first match wins.
    #[serde(default)]
    pub lifecycle: Vec<Stage>,
    /// Named rules.
    #[serde(default)]
    pub segments: Named<Json>,
    /// Named lists of dates.
    #[serde(default)]
    pub calendars: Named<Vec<CalendarEntry>>,
    /// Slots on pages.
    pub placements: Named<Placement>,
    /// What can be shown.
    #[serde(default)]
    pub offers: Vec<Offer>,
    /// Caps across all offers.
    #[serde(default)]
    pub caps: Vec<Cap>,
    /// Hours in which no capped offer is shown, in the model's time zone.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
}

/// An object of named entries, in the order written. A name given twice is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Named<T>(pub Vec<(String, T)>);

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named(Vec::new())
    }
}

impl<T> Named<T> {
    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Named<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(core::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Named<T>;
            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                f.write_str("an object of named entries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Named<T>, A::Error> {
                let mut out: Vec<(String, T)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!("`{key}` is defined twice")));
                    }
                    let value = map.next_value::<T>()?;
                    out.push((key, value));
                }
                Ok(Named(out))
            }
        }
        d.deserialize_map(V(core::marker::PhantomData))
    }
}

/// Model metadata.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Human name of the model.
    pub name: String,
    /// Version; a device only accepts a newer one.
    pub version: u32,
    /// The brand's UTC offset, `+08:00` by default (China has no daylight saving).
    #[serde(default = "default_offset")]
    pub utc_offset: String,
    /// Salt for pseudonymous ids, shared with the brand's backend so it can match hashes.
    #[serde(default)]
    pub id_salt: String,
}

fn default_offset() -> String {
    "+08:00".to_string()
}

/// The properties of one event type.
pub type Props = Named<ValueType>;

/// The type of a context field or event property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// An array of strings.
    StringList,
}

/// The type of a server-supplied trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraitType {
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// An array of strings, e.g. CRM segments.
    StringList,
    /// A point in time: ms since the epoch, or an RFC 3339 string; read in rules as ms.
    Timestamp,
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// A yearly date `MM-DD` (birthday, join date): the device keeps no year.
    Anniversary,
}

/// A behavioural aggregate.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// The event type it aggregates.
    pub event: String,
    /// How.
    pub agg: AggKind,
    /// For `sum` and `distinct`: which event property.
    #[serde(default)]
    pub of: Option<String>,
    /// Sliding window in natural days (1 to 400); all time when absent.
    #[serde(default)]
    pub window_days: Option<u16>,
    /// For `distinct`: how many values to keep (default 32, at most 256).
    #[serde(default)]
    pub max: Option<u16>,
    /// Only events for which this rule is true count; it reads `event.<property>`.
    #[serde(default, rename = "where", deserialize_with = "present")]
    pub filter: Option<Json>,
}

/// A rule field that may be left out: an explicit `null` is kept as `Some(Null)`, not read as
/// absent, so the compiler can refuse it (`"audience": null` would otherwise show the offer to
/// everyone, the opposite of what a marketer writing null likely meant).
#[cfg(feature = "std")]
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// Aggregation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggKind {
    /// Number of events.
    Count,
    /// Sum of a numeric property.
    Sum,
    /// Time of the first event, ms.
    First,
    /// Time of the last event, ms.
    Last,
    /// Number of distinct values of a property.
    Distinct,
}

/// A score.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Score {
    /// `linear` (bias + sum of weight * input) or `logistic` (its sigmoid, 0 to 1).
    #[serde(default = "default_score_kind")]
    pub kind: ScoreKind,
    /// Constant term.
    #[serde(default)]
    pub bias: f64,
    /// Inputs (`features.x`, `traits.y`, `segments.z`) and their weights. Missing inputs count 0,
    /// booleans 1 or 0.
    pub weights: Named<f64>,
}

fn default_score_kind() -> ScoreKind {
    ScoreKind::Linear
}

/// How a score combines its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// bias + sum(w * x).
    Linear,
    /// 1 / (1 + e^-(bias + sum(w * x))).
    Logistic,
}

/// A lifecycle stage.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Stage name.
    pub stage: String,
    /// When the shopper is in it.
    pub when: Json,
    /// Optional description for people.
    #[serde(default)]
    pub description: Option<String>,
}

/// A calendar entry: a date, or an inclusive range of two dates.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a date `YYYY-MM-DD` or a range `[\"YYYY-MM-DD\", \"YYYY-MM-DD\"]`")]
pub enum CalendarEntry {
    /// `YYYY-MM-DD`.
    Day(String),
    /// `[from, to]`, inclusive.
    Range(String, String),
}

/// A slot on a page.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// How many items it shows (1 to 16).
    #[serde(default = "one")]
    pub max_items: u8,
    /// What it shows when no offer is chosen.
    #[serde(default)]
    pub fallback: Option<Json>,
}

#[cfg(feature = "std")]
fn one() -> u8 {
    1
}

/// An offer or piece of content.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// Unique id.
    pub id: String,
    /// Placements it may fill.
    pub placements: Vec<String>,
    /// Who may see it; everyone when absent.
    #[serde(default, deserialize_with = "present")]
    pub audience: Option<Json>,
    /// Only in these lifecycle stages.
    #[serde(default)]
    pub stages: Option<Vec<String>>,
    /// Not before (RFC 3339, or a date in the model's time zone).
    #[serde(default)]
    pub start: Option<String>,
    /// Ends at (exclusive; RFC 3339, or a date: shown through the end of that day).
    #[serde(default)]
    pub end: Option<String>,
    /// Not shown in these hours.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Higher first.
    #[serde(default)]
    pub priority: i32,
    /// Within a priority, a score ranks offers, higher first.
    #[serde(default)]
    pub rank_by: Option<String>,
    /// Per-offer caps.
    #[serde(default)]
    pub caps: Vec<Cap>,
    /// Minimum hours between two exposures.
    #[serde(default)]
    pub min_gap_hours: Option<f64>,
    /// Whether it counts against (and is held by) the global caps.
    #[serde(default = "yes")]
    pub global_caps: bool,
    /// Share of shoppers (0 to 0.5) held out as a control group: they get the fallback.
    #[serde(default)]
    pub control: f64,
    /// Weighted variants, sticky per shopper.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Content handed to the page as JSON (same values; object keys may be reordered).
    #[serde(default)]
    pub content: Option<Json>,
    /// Whether it needs the shopper's consent (default true). Without consent only offers with
    /// `false` are shown, and their audience may use only `context`, `now` and `consent`.
    #[serde(default = "yes")]
    pub requires_consent: bool,
    /// Which event counts as this offer's conversion.
    #[serde(default)]
    pub conversion: Option<Conversion>,
}

#[cfg(feature = "std")]
fn yes() -> bool {
    true
}

/// One variant of an offer.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Variant id, unique in its offer.
    pub id: String,
    /// Relative weight (> 0).
    pub weight: u32,
    /// Content for this variant; the offer's when absent.
    #[serde(default)]
    pub content: Option<Json>,
}

/// At most `max` exposures in `days` natural days (today included).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// Most exposures.
    pub max: u32,
    /// Over this many natural days.
    pub days: u16,
}

/// Hours of the day, in the model's time zone: from `from` up to `to`, wrapping past midnight.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`.
    pub from: String,
    /// `HH:MM`.
    pub to: String,
}

/// What converts an exposure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// Event type.
    pub event: String,
    /// Within this many hours of the exposure (default 72).
    #[serde(default = "default_attribution")]
    pub within_hours: f64,
}

fn default_attribution() -> f64 {
    72.0
}
