//! Generic evaluation over plain JSON data, for `kairos eval` and the conformance suites: every
//! variable is looked up at run time, and there are no host operators.

use std::borrow::Cow;

use super::value::NULL;
use super::{Env, EvalError, HostCall, Resolver, Value};

/// A [`Resolver`] that resolves nothing statically: every root variable is read at run time
/// with [`Env::lookup`], computed paths are allowed, and there are no host operators.
#[derive(Debug, Default, Clone, Copy)]
pub struct DynamicResolver;

impl Resolver for DynamicResolver {
    fn var(&self, _path: &str) -> Result<Option<u32>, String> {
        Ok(None)
    }

    fn dynamic_vars(&self) -> bool {
        true
    }

    fn host_op(&self, _name: &str, _args: &[serde_json::Value]) -> Result<Option<HostCall>, String> {
        Ok(None)
    }
}

/// An [`Env`] over one JSON document: lookups walk it (object keys, array indices); it has no
/// slots (they read as null) and no host operators.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonEnv {
    data: Value,
}

impl JsonEnv {
    /// An environment over `data`.
    pub fn new(data: Value) -> JsonEnv {
        JsonEnv { data }
    }

    /// An environment over a JSON document.
    pub fn from_json(data: &serde_json::Value) -> JsonEnv {
        JsonEnv::new(Value::from_json(data))
    }

    /// The data the environment reads.
    pub fn data(&self) -> &Value {
        &self.data
    }
}

impl Env for JsonEnv {
    fn slot(&self, _slot: u32) -> Cow<'_, Value> {
        Cow::Borrowed(&NULL)
    }

    fn lookup(&self, path: &[Cow<'_, str>]) -> Option<Cow<'_, Value>> {
        self.data.get_path(path).map(Cow::Borrowed)
    }

    fn call(&self, _op: u16, _imm: u32, _args: &[Cow<'_, Value>]) -> Result<Value, EvalError> {
        Err(EvalError::new("Unknown Operator"))
    }
}
