//! The compiled form of a rule: a flat arena of nodes, its validation, and its wire form
//! (docs/rules.md).
//!
//! Nodes are stored children first (post-order), the root last. A node with children names a
//! range of `kids`, and every index there is lower than the node's own, so the arena is a tree
//! that can be checked in one forward pass and decoded without recursion.

use alloc::borrow::Cow;
use alloc::{string::String, vec, vec::Vec};

use super::value::depth_within;
use super::{Rule, Value, MAX_DEPTH};
use crate::codec::{wire_enum, Reader, Wire, Writer};

/// One node of a compiled rule.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub(crate) enum Node {
    /// `consts[i]`.
    Const(u32),
    /// A statically resolved variable, read with [`super::Env::slot`].
    Slot(u32),
    /// A root variable read at run time with [`super::Env::lookup`] of `paths[i]`.
    Lookup(u32),
    /// A read inside an iterator or `try` handler. `level` counts scope steps up: even levels
    /// are the items of enclosing frames (0 is the current item), odd levels their metadata
    /// (`{"index": i}`).
    Scoped { level: u32, path: u32 },
    /// An operator over `kids[start..start + len]`. `spread`: the operator had one expression
    /// instead of an argument array, and an array result is spread into the arguments.
    Op { op: Op, spread: bool, start: u32, len: u32 },
    /// `missing` (or `missing_some` when `some`, whose first kid is the needed count) with
    /// constant names `consts[names]`, one read node per name among the kids.
    Missing { some: bool, names: u32, start: u32, len: u32 },
    /// A host operator with its evaluated run-time arguments.
    Host { op: u16, imm: u32, start: u32, len: u32 },
}

/// The built-in operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub(crate) enum Op {
    If,
    And,
    Or,
    Not,
    NotNot,
    Coalesce,
    Eq,
    Ne,
    StrictEq,
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Max,
    Min,
    Cat,
    Substr,
    In,
    Merge,
    Array,
    Map,
    Filter,
    Reduce,
    All,
    Some,
    None,
    Throw,
    Try,
    /// `var` with a computed path: kid 0 is the path.
    VarDyn,
    /// `val` with a computed path: kid 0 is the path.
    ValDyn,
    /// `missing` with computed names.
    MissingDyn,
    /// `missing_some` with computed names: kids are the count and the names.
    MissingSomeDyn,
    /// `exists`: kid 0 is a read node.
    Exists,
    StartsWith,
    EndsWith,
    SemVer,
    /// `fractional`: kid 0 is the bucketing key, the others the buckets.
    Fractional,
}

impl Op {
    /// Whether the operator reads data itself, so constant arguments do not make it constant.
    #[cfg(feature = "std")]
    pub(crate) fn reads_data(self) -> bool {
        matches!(self, Op::VarDyn | Op::ValDyn | Op::MissingDyn | Op::MissingSomeDyn | Op::Exists)
    }
}

/// In `Rule::check`'s byte per node, beside the depth: a later node lists it as a kid.
const HAS_PARENT: u8 = 0x80;

/// What is wrong with a constant or node nested too deeply.
const TOO_DEEP: &str = "is nested deeper than 64 levels";
const _: () = assert!(MAX_DEPTH == 64, "TOO_DEEP names MAX_DEPTH");

/// Why a rule's arena is invalid: the rule as a whole, or which node or constant and what is
/// wrong with it. The parts are static, so the message is formatted only when shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleError {
    /// The rule as a whole: no nodes, too many, a malformed constant stream.
    Whole(&'static str),
    /// A part (`node` or `constant`), its index, and what is wrong with it.
    At(&'static str, usize, &'static str),
}

impl crate::codec::Message for RuleError {
    fn write_message(&self, out: &mut String) {
        match self {
            RuleError::Whole(problem) => out.push_str(problem),
            RuleError::At(part, i, problem) => {
                out.push_str(part);
                out.push(' ');
                crate::codec::push_uint(out, *i as u64);
                out.push(' ');
                out.push_str(problem);
            }
        }
    }
}

crate::codec::display_by_message!(RuleError);

impl Rule {
    #[cfg(feature = "std")]
    pub(crate) fn empty() -> Rule {
        Rule { nodes: Vec::new(), kids: Vec::new(), consts: Vec::new(), paths: Vec::new() }
    }

    /// The children listed at `start..start + len`; empty if out of range (never after validate).
    /// Inlined: the Wasm build optimizes for size, which calls it, slower and no smaller.
    #[inline(always)]
    pub(crate) fn kids(&self, start: u32, len: u32) -> &[u32] {
        let start = start as usize;
        self.kids.get(start..start.saturating_add(len as usize)).unwrap_or(&[])
    }

    /// A stored path; empty if out of range (never after validate).
    pub(crate) fn path(&self, i: u32) -> &[Cow<'static, str>] {
        self.paths.get(i as usize).map_or(&[], |p| p)
    }

    /// The constant value of the rule, when parsing folded it whole.
    pub fn as_const(&self) -> Option<&Value> {
        match self.nodes.last() {
            Some(Node::Const(c)) => self.consts.get(*c as usize),
            _ => None,
        }
    }

    /// How many nodes the rule has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn check(&self) -> Result<(), RuleError> {
        self.check_size()?;
        if let Some(i) = self.consts.iter().position(|c| !depth_within(c, MAX_DEPTH)) {
            return Err(RuleError::At("constant", i, TOO_DEEP));
        }
        self.check_nodes()
    }

    fn check_size(&self) -> Result<(), RuleError> {
        if self.nodes.is_empty() {
            return Err(RuleError::Whole("rule has no nodes"));
        }
        if self.nodes.len() > u32::MAX as usize {
            return Err(RuleError::Whole("rule has too many nodes"));
        }
        Ok(())
    }

    /// Checks every node's references and depth, in one forward pass.
    fn check_nodes(&self) -> Result<(), RuleError> {
        // Per node: its depth, and HAS_PARENT once a later node lists it as a kid.
        let mut seen = vec![0_u8; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            let d = self.check_node(i, node, &mut seen)?;
            if d > MAX_DEPTH {
                return Err(RuleError::At("node", i, TOO_DEEP));
            }
            if let Some(slot) = seen.get_mut(i) {
                // INVARIANT: d <= MAX_DEPTH < HAS_PARENT, so the flag bit stays clear.
                *slot = d as u8;
            }
        }
        Ok(())
    }

    /// Checks node `i`'s references and returns its depth.
    fn check_node(&self, i: usize, node: &Node, seen: &mut [u8]) -> Result<usize, RuleError> {
        let fail = |problem| Err(RuleError::At("node", i, problem));
        let (start, len) = match *node {
            Node::Const(c) if c as usize >= self.consts.len() => {
                return fail("refers to a constant out of range")
            }
            Node::Lookup(p) | Node::Scoped { path: p, .. } if p as usize >= self.paths.len() => {
                return fail("refers to a path out of range")
            }
            Node::Const(_) | Node::Slot(_) | Node::Lookup(_) | Node::Scoped { .. } => return Ok(1),
            Node::Missing { names, start, len, some } => {
                let names_len = match self.consts.get(names as usize) {
                    Some(Value::Array(a)) => a.len(),
                    _ => return fail("has `missing` names that are not an array constant"),
                };
                if names_len + usize::from(some) != len as usize {
                    return fail("does not have one `missing` kid per name");
                }
                (start, len)
            }
            Node::Op { start, len, .. } | Node::Host { start, len, .. } => (start, len),
        };
        let end = (start as usize).checked_add(len as usize).filter(|&e| e <= self.kids.len());
        let Some(kids) = end.and_then(|e| self.kids.get(start as usize..e)) else {
            return fail("has kids out of range");
        };
        let mut d = 0;
        for &k in kids {
            let k = k as usize;
            if k >= i {
                return fail("refers to a node that is not before it");
            }
            match seen.get_mut(k) {
                Some(s) if *s & HAS_PARENT == 0 => {
                    *s |= HAS_PARENT;
                    d = d.max(*s & !HAS_PARENT);
                }
                _ => return Err(RuleError::At("node", k, "has more than one parent")),
            }
        }
        Ok(usize::from(d) + 1)
    }

    /// The rule's references into its model: variable slots and host operator calls.
    pub(crate) fn refs(&self) -> impl Iterator<Item = Ref> + '_ {
        self.nodes.iter().filter_map(|node| match *node {
            Node::Slot(s) => Some(Ref::Slot(s)),
            Node::Host { op, imm, .. } => Some(Ref::Host(op, imm)),
            _ => None,
        })
    }
}

#[cfg(feature = "std")]
impl Rule {
    /// The rule as text, with each variable slot written by `slot` and each host call's operator
    /// and operand by `host`: given names for them, two rules with the same text read the same
    /// things the same way, wherever their model declares what they read (`kairos diff`).
    pub(crate) fn text_with(
        &self,
        slot: &dyn Fn(u32) -> String,
        host: &dyn Fn(u16, u32) -> String,
    ) -> String {
        use core::fmt::Write as _;
        let mut out = String::new();
        for node in &self.nodes {
            // Writing to a String cannot fail.
            let _ = match *node {
                Node::Slot(s) => write!(out, "Slot({}) ", slot(s)),
                Node::Host { op, imm, start, len } => write!(out, "Host({}, {start}, {len}) ", host(op, imm)),
                other => write!(out, "{other:?} "),
            };
        }
        let _ = write!(out, "{:?} {:?} {:?}", self.kids, self.consts, self.paths);
        out
    }
}

/// A reference of a rule into its model (see [`Rule::refs`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ref {
    /// A variable slot.
    Slot(u32),
    /// A host operator call `(op, imm)`.
    Host(u16, u32),
}

// ---------------------------------------------------------------------------------------------
// Wire form. Constants are flattened into a post-order stream so that decoding never recurses
// on their nesting; decoding then validates the whole rule. On the wire a rule is the struct
// `{ nodes: Vec<Node>, kids: Vec<u32>, paths: Vec<Vec<String>>, consts: Vec<Flat> }`.

wire_enum!(Op[
    If, And, Or, Not, NotNot, Coalesce, Eq, Ne, StrictEq, StrictNe, Lt, Le, Gt, Ge, Add, Sub, Mul, Div, Mod,
    Max, Min, Cat, Substr, In, Merge, Array, Map, Filter, Reduce, All, Some, None, Throw, Try, VarDyn, ValDyn,
    MissingDyn, MissingSomeDyn, Exists, StartsWith, EndsWith, SemVer, Fractional,
]);

impl Wire for Node {
    fn put(&self, w: &mut Writer) {
        match *self {
            Node::Const(i) => (0u32, i).put(w),
            Node::Slot(i) => (1u32, i).put(w),
            Node::Lookup(i) => (2u32, i).put(w),
            Node::Scoped { level, path } => (3u32, level, path).put(w),
            Node::Op { op, spread, start, len } => ((4u32, op), (spread, start, len)).put(w),
            Node::Missing { some, names, start, len } => ((5u32, some), (names, start, len)).put(w),
            Node::Host { op, imm, start, len } => ((6u32, op), (imm, start, len)).put(w),
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        match r.variant("Node", 7) {
            0 => Node::Const(r.u32()),
            1 => Node::Slot(r.u32()),
            2 => Node::Lookup(r.u32()),
            3 => Node::Scoped { level: r.u32(), path: r.u32() },
            4 => Node::Op { op: Op::take(r), spread: r.bool(), start: r.u32(), len: r.u32() },
            5 => Node::Missing { some: r.bool(), names: r.u32(), start: r.u32(), len: r.u32() },
            _ => Node::Host { op: r.u16(), imm: r.u32(), start: r.u32(), len: r.u32() },
        }
    }
}

/// One value of the constant stream. `Array(n)` and `Object(keys)` take their `n` (or
/// `keys.len()`) items from the values decoded just before them.
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
enum Flat {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(u32),
    Object(Vec<String>),
}

impl Flat {
    /// Appends the wire form; decoding reads it straight into values (`Unflatten::take`).
    fn put(&self, w: &mut Writer) {
        match self {
            Flat::Null => w.varint(0),
            Flat::Bool(b) => (1u32, *b).put(w),
            Flat::Number(n) => (2u32, *n).put(w),
            Flat::String(s) => {
                w.varint(3);
                w.str(s);
            }
            Flat::Array(n) => (4u32, *n).put(w),
            Flat::Object(keys) => {
                w.varint(5);
                keys.put(w);
            }
        }
    }
}

impl Wire for Rule {
    fn put(&self, w: &mut Writer) {
        self.nodes.put(w);
        self.kids.put(w);
        self.paths.put(w);
        let consts = flat_consts(&self.consts);
        w.varint(consts.len() as u64);
        consts.iter().for_each(|c| c.put(w));
    }
    fn take(r: &mut Reader<'_>) -> Self {
        let at = r.position();
        let nodes = Wire::take(r);
        let kids = Wire::take(r);
        let paths = Wire::take(r);
        // The constant stream is rebuilt as it is read, without building `Flat`s in between.
        let mut consts = Unflatten::default();
        let mut valid = Ok(());
        for _ in 0..r.len("a sequence") {
            if r.failed() {
                break;
            }
            valid = consts.take(r);
            if valid.is_err() {
                break;
            }
        }
        let rule = Rule { nodes, kids, consts: consts.finish(), paths };
        // `Unflatten` bounded the constants' depth as it built them: what is left to check is
        // the arena.
        if let Err(e) = valid.and_then(|()| rule.check_size()).and_then(|()| rule.check_nodes()) {
            let mut m = String::from("invalid rule: ");
            crate::codec::Message::write_message(&e, &mut m);
            r.reject(at, m);
        }
        rule
    }
}

fn flat_consts(consts: &[Value]) -> Vec<Flat> {
    let mut out = Vec::new();
    consts.iter().for_each(|c| flatten(c, &mut out));
    out
}

fn flatten(v: &Value, out: &mut Vec<Flat>) {
    match v {
        Value::Null => out.push(Flat::Null),
        Value::Bool(b) => out.push(Flat::Bool(*b)),
        Value::Number(n) => out.push(Flat::Number(*n)),
        Value::String(s) => out.push(Flat::String(s.clone())),
        Value::Array(items) => {
            items.iter().for_each(|item| flatten(item, out));
            out.push(Flat::Array(items.len() as u32));
        }
        Value::Object(fields) => {
            fields.iter().for_each(|(_, item)| flatten(item, out));
            out.push(Flat::Object(fields.iter().map(|(k, _)| k.clone()).collect()));
        }
    }
}

/// Rebuilds constants from the flat stream: the last values are the items of the next `Array`
/// or `Object`.
#[derive(Default)]
struct Unflatten {
    values: Vec<Value>,
    // INVARIANT: the nesting depth of each of `values`, at most MAX_DEPTH.
    depths: Vec<u8>,
}

impl Unflatten {
    /// Reads the next value of the stream (a `Flat` on the wire) and adds it.
    fn take(&mut self, r: &mut Reader<'_>) -> Result<(), RuleError> {
        match r.variant("constant", 6) {
            0 => self.add(Value::Null, 1),
            1 => self.add(Value::Bool(r.bool()), 1),
            2 => self.add(Value::Number(r.f64()), 1),
            3 => self.add(Value::String(r.string()), 1),
            4 => self.array(r.u32()),
            // The keys follow on the wire: read each straight into its field.
            _ => self.object(r.len("a sequence"), || r.string()),
        }
    }

    #[cfg(test)]
    fn push(&mut self, flat: Flat) -> Result<(), RuleError> {
        match flat {
            Flat::Null => self.add(Value::Null, 1),
            Flat::Bool(b) => self.add(Value::Bool(b), 1),
            Flat::Number(n) => self.add(Value::Number(n), 1),
            Flat::String(s) => self.add(Value::String(s), 1),
            Flat::Array(n) => self.array(n),
            Flat::Object(keys) => {
                let mut keys = keys.into_iter();
                self.object(keys.len(), || keys.next().unwrap_or_default())
            }
        }
    }

    fn array(&mut self, n: u32) -> Result<(), RuleError> {
        let (items, depth) = self.pop(n as usize)?;
        self.add(Value::Array(items), depth)
    }

    /// An object of the last `n` values, its keys read in order by `key`.
    fn object(&mut self, n: usize, mut key: impl FnMut() -> String) -> Result<(), RuleError> {
        let (items, depth) = self.pop(n)?;
        let mut fields = Vec::with_capacity(n);
        for item in items {
            fields.push((key(), item));
        }
        self.add(Value::Object(fields), depth)
    }

    fn add(&mut self, value: Value, depth: u8) -> Result<(), RuleError> {
        if usize::from(depth) > MAX_DEPTH {
            return Err(RuleError::At("constant", self.values.len(), TOO_DEEP));
        }
        self.values.push(value);
        self.depths.push(depth);
        Ok(())
    }

    /// The last `n` values, and the depth of an array or object of them.
    fn pop(&mut self, n: usize) -> Result<(Vec<Value>, u8), RuleError> {
        let at = self.values.len().checked_sub(n).ok_or(RuleError::Whole("constant stream is malformed"))?;
        let deepest = self.depths.get(at..).and_then(|d| d.iter().max()).copied().unwrap_or(0);
        self.depths.truncate(at);
        Ok((self.values.split_off(at), deepest + 1))
    }

    fn finish(self) -> Vec<Value> {
        self.values
    }
}

/// The same wire form through serde, to cross-check [`Wire`] against postcard in tests.
#[cfg(test)]
mod serde_form {
    use alloc::borrow::Cow;

    use super::{flat_consts, Flat, Node, Rule, Unflatten};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct RuleWire {
        nodes: Vec<Node>,
        kids: Vec<u32>,
        paths: Vec<Vec<String>>,
        consts: Vec<Flat>,
    }

    impl Serialize for Rule {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let wire = RuleWire {
                nodes: self.nodes.clone(),
                kids: self.kids.clone(),
                paths: self.paths.iter().map(|p| p.iter().map(|s| s.to_string()).collect()).collect(),
                consts: flat_consts(&self.consts),
            };
            wire.serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for Rule {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rule, D::Error> {
            let w = RuleWire::deserialize(deserializer)?;
            let mut consts = Unflatten::default();
            for flat in w.consts {
                consts.push(flat).map_err(serde::de::Error::custom)?;
            }
            let paths = w.paths.into_iter().map(|p| p.into_iter().map(Cow::Owned).collect()).collect();
            let rule = Rule { nodes: w.nodes, kids: w.kids, consts: consts.finish(), paths };
            rule.check().map_err(serde::de::Error::custom)?;
            Ok(rule)
        }
    }
}
