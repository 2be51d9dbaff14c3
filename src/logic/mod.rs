//! JsonLogic rules: parsed from JSON once into a flat, indexed form, then evaluated many times.
//!
//! CONTRACT (shared by the rule engine and the model compiler; change only together):
//! - [`Value`] is the runtime value. [`Rule`] is a compiled rule: a flat arena of nodes, children
//!   referenced by index, so decoding a hostile snapshot never recurses and [`Rule::validate`] can
//!   prove indices are in range and depth is bounded.
//! - [`parse`] turns JSON into a [`Rule`], asking a [`Resolver`] to resolve root-scope variable
//!   paths to slots and to recognise host operators (`segment`, `score`, `days_since`, ...).
//!   Constants are folded.
//! - [`eval`] evaluates a [`Rule`] against an [`Env`] that supplies slot values and host operators.
//!   It never panics and never recurses deeper than [`MAX_DEPTH`].

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

mod eval;
mod explain;
mod fractional;
#[cfg(feature = "std")]
mod generic;
#[cfg(feature = "std")]
mod parse;
mod rule;
mod semver;
#[cfg(test)]
mod tests;
mod value;

pub use explain::{conditions, Condition};
pub use fractional::murmur3_x86_32;
#[cfg(feature = "std")]
pub use generic::{DynamicResolver, JsonEnv};
#[cfg(feature = "std")]
pub use parse::OPERATORS;
pub(crate) use rule::Ref;
pub(crate) use value::{head, write_uint};
pub use value::{set_host_numbers, HostNumbers, MAX_DATA_DEPTH};

/// Deepest nesting a rule may have, when parsed or decoded.
pub const MAX_DEPTH: usize = 64;

/// A JsonLogic value at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`, and a missing value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (JsonLogic numbers are IEEE-754 doubles).
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, keys in insertion order.
    Object(Vec<(String, Value)>),
}

/// A compiled rule: a flat arena of nodes; the root is the last node.
///
/// Encoded (with [`crate::codec::Wire`], in postcard's wire format) in a flat form whose decoding
/// never recurses on the rule's nesting and validates the result; see docs/rules.md for the layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    // INVARIANT after parse or decode (both run the checks of `validate`): every child index is
    // lower than its parent's index, every node has at most one parent, every constant and path
    // index is in range, and depth <= MAX_DEPTH for nodes and constants alike.
    nodes: Vec<rule::Node>,
    kids: Vec<u32>,
    consts: Vec<Value>,
    paths: Vec<Vec<Cow<'static, str>>>,
}

/// How the parser resolves names. The engine resolves everything statically; generic evaluation
/// (conformance tests, `kairos eval`) resolves variables dynamically.
#[cfg(feature = "std")]
pub trait Resolver {
    /// Resolves a root-scope variable path such as `features.views_7d` (the string exactly as
    /// written in `var`, or the `val` path segments joined with `.`).
    /// `Ok(Some(slot))`: static slot; `Ok(None)`: look it up dynamically at run time with
    /// [`Env::lookup`]; `Err(message)`: unknown name, the message says what would be valid.
    fn var(&self, path: &str) -> Result<Option<u32>, String>;

    /// Whether variables whose path is computed at run time are allowed.
    fn dynamic_vars(&self) -> bool;

    /// Recognises a host operator that core JsonLogic does not define. `args` are the raw JSON
    /// arguments. Returns `Ok(None)` if `name` is not a host operator, `Ok(Some(call))` if it is
    /// (arguments that are constants may already be resolved into `call.imm`), or `Err(message)`
    /// for a misuse (wrong arity, unknown segment name, ...).
    fn host_op(&self, name: &str, args: &[serde_json::Value]) -> Result<Option<HostCall>, String>;

    /// Names of the host operators, used only to suggest a name when an operator is unknown
    /// (`segmnet` -> `segment`). Defaults to none.
    fn host_op_names(&self) -> &[&str] {
        &[]
    }
}

/// A host operator call as the resolver wants it compiled.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq)]
pub struct HostCall {
    /// Host-defined operator code.
    pub op: u16,
    /// Host-defined immediate, e.g. a resolved segment index.
    pub imm: u32,
    /// Which of the raw JSON arguments stay as arguments to evaluate at run time, by position.
    pub args: Vec<u8>,
}

/// What evaluation reads from the world.
pub trait Env {
    /// The value of a statically resolved slot.
    fn slot(&self, slot: u32) -> Cow<'_, Value>;
    /// A dynamic root-scope lookup (`None` when missing). Engines that resolve everything
    /// statically return `None`.
    fn lookup(&self, path: &[Cow<'_, str>]) -> Option<Cow<'_, Value>>;
    /// Evaluates a host operator on its evaluated run-time arguments.
    fn call(&self, op: u16, imm: u32, args: &[Cow<'_, Value>]) -> Result<Value, EvalError>;
}

/// Why a rule failed to parse. `path` is a JSON-pointer-like location inside the rule, in the
/// model's dotted form (`and[1].>[0]`), which the compiler prefixes with the rule's own place.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Where inside the rule.
    pub path: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

/// `path: message`, or the message alone for the rule as a whole (an empty path).
#[cfg(feature = "std")]
impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why evaluation failed (JsonLogic `throw`, NaN, type errors of the strict operators).
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// The error value: for JsonLogic errors an object like `{"type": "NaN"}`.
    pub kind: Value,
}

impl crate::codec::Message for EvalError {
    fn write_message(&self, out: &mut String) {
        out.push_str("rule error: ");
        out.push_str(&self.kind.brief());
    }
}

crate::codec::display_by_message!(EvalError);

impl core::error::Error for EvalError {}

/// Parses a JSON rule.
///
/// ```
/// use kairos::logic::{eval, parse, DynamicResolver, JsonEnv, Value};
/// let rule = parse(&serde_json::json!({">=": [{"var": "views"}, 3]}), &DynamicResolver).unwrap();
/// let env = JsonEnv::from_json(&serde_json::json!({"views": 5}));
/// assert_eq!(*eval(&rule, &env).unwrap(), Value::Bool(true));
/// ```
#[cfg(feature = "std")]
pub fn parse(rule: &serde_json::Value, resolver: &dyn Resolver) -> Result<Rule, ParseError> {
    parse::parse(rule, resolver)
}

/// Evaluates a rule.
pub fn eval<'a, E: Env>(rule: &'a Rule, env: &'a E) -> Result<Cow<'a, Value>, EvalError> {
    let root = rule.nodes.len().saturating_sub(1);
    eval::eval_at(rule, env, u32::try_from(root).unwrap_or(u32::MAX)).map_err(|e| *e)
}

/// Evaluates a rule for its truthiness, as a condition (`if`, a segment, an audience). Same
/// result as `eval(rule, env)?.truthy()`, but logic and comparisons build no values on the way.
pub fn eval_bool<E: Env>(rule: &Rule, env: &E) -> Result<bool, EvalError> {
    let root = rule.nodes.len().saturating_sub(1);
    eval::truth_at(rule, env, u32::try_from(root).unwrap_or(u32::MAX)).map_err(|e| *e)
}

impl Rule {
    /// Checks the invariants of a rule that came from untrusted bytes. Decoding a rule already
    /// runs these checks; a rule that passes them evaluates without panicking.
    pub fn validate(&self) -> Result<(), String> {
        self.check().map_err(|e| e.to_string())
    }
}

impl Value {
    /// JsonLogic truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(_) => true,
        }
    }
}
