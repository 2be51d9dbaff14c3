//! Evaluation of a compiled [`Rule`]. Results borrow constants, slot values and iterator items
//! where they can; recursion follows the rule's nodes, so it is bounded by [`super::MAX_DEPTH`].

use alloc::borrow::Cow;
use alloc::{borrow::ToOwned, boxed::Box, string::String, vec, vec::Vec};

use super::rule::{Node, Op};
use super::value::{
    char_offset, compare, js_string, loose_eq, num, rem, size_within, strict_eq, write_js_string, NULL,
};
use super::{fractional, semver, Env, EvalError, Rule, Value, MAX_DEPTH};
#[cfg(not(feature = "std"))]
use crate::float::F64Ext as _;

/// Largest string or array that `cat` and `merge` build, and largest `reduce` accumulator
/// (one unit per value, one per string byte).
pub(crate) const MAX_BUILD: usize = 1 << 20;

/// Errors travel boxed inside the evaluator, so results stay small enough to return cheaply.
pub(crate) type Fail = Box<EvalError>;

pub(crate) type Out<'t> = Result<Cow<'t, Value>, Fail>;

/// What an iterator or `try` handler sees as its current data.
#[derive(Clone, Copy)]
enum Item<'t> {
    Value(&'t Value),
    /// `reduce`'s `{"current": …, "accumulator": …}`, without building the object.
    Reduce {
        current: &'t Value,
        acc: &'t Value,
    },
}

/// One scope level pushed by an iterator or a `try` handler.
struct Frame<'t> {
    item: Item<'t>,
    index: usize,
    parent: Option<&'t Frame<'t>>,
}

type Scope<'t> = Option<&'t Frame<'t>>;

/// The rule and the environment, passed down by value.
pub(crate) struct Cx<'t, E: ?Sized> {
    rule: &'t Rule,
    env: &'t E,
}

impl<E: ?Sized> Clone for Cx<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E: ?Sized> Copy for Cx<'_, E> {}

/// Evaluates node `idx` of `rule` (the root when `idx` is the last node).
pub(crate) fn eval_at<'t, E: Env + ?Sized>(rule: &'t Rule, env: &'t E, idx: u32) -> Out<'t> {
    ev(Cx { rule, env }, None, idx)
}

/// The truthiness of node `idx` of `rule`.
pub(crate) fn truth_at<E: Env + ?Sized>(rule: &Rule, env: &E, idx: u32) -> Result<bool, Fail> {
    truth(Cx { rule, env }, None, idx)
}

fn bool_out<'t>(b: bool) -> Out<'t> {
    Ok(Cow::Owned(Value::Bool(b)))
}

/// Evaluates a node; constants and slots, the common leaves, without a call. Inlined, so only
/// the operands of comparisons and arithmetic, the hottest leaves, use it; everything else calls
/// [`ev_node`], which evaluates any node, and stays small.
#[inline(always)]
fn ev<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, idx: u32) -> Out<'t> {
    match cx.rule.nodes.get(idx as usize) {
        Some(Node::Const(c)) => Ok(Cow::Borrowed(cx.rule.consts.get(*c as usize).unwrap_or(&NULL))),
        Some(Node::Slot(s)) => Ok(cx.env.slot(*s)),
        _ => ev_node(cx, sc, idx),
    }
}

/// Evaluates any node.
fn ev_node<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, idx: u32) -> Out<'t> {
    let Some(node) = cx.rule.nodes.get(idx as usize) else {
        return Err(fail("Invalid Rule"));
    };
    match *node {
        Node::Const(c) => Ok(Cow::Borrowed(cx.rule.consts.get(c as usize).unwrap_or(&NULL))),
        Node::Slot(s) => Ok(cx.env.slot(s)),
        Node::Lookup(_) | Node::Scoped { .. } => Ok(read(cx, sc, *node).unwrap_or(Cow::Borrowed(&NULL))),
        Node::Op { op, spread, start, len } => op_eval(cx, sc, op, spread, cx.rule.kids(start, len)),
        Node::Missing { some, names, start, len } => {
            let names = match cx.rule.consts.get(names as usize) {
                Some(Value::Array(a)) => a.as_slice(),
                _ => &[],
            };
            missing_static(cx, sc, some, names, cx.rule.kids(start, len))
        }
        Node::Host { op, imm, start, len } => host(cx, sc, op, imm, cx.rule.kids(start, len)),
    }
}

/// Reads a variable node; `None` when missing. Only for read nodes.
fn read<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, node: Node) -> Option<Cow<'t, Value>> {
    match node {
        Node::Slot(s) => Some(cx.env.slot(s)).filter(|v| !matches!(**v, Value::Null)),
        Node::Lookup(p) => cx.env.lookup(cx.rule.path(p)),
        Node::Scoped { level, path } => scoped(sc, level, cx.rule.path(path)),
        _ => None,
    }
}

/// Like [`ev`], but tells a missing variable from a present one.
fn read_opt<'t, E: Env + ?Sized>(
    cx: Cx<'t, E>,
    sc: Scope<'t>,
    idx: u32,
) -> Result<Option<Cow<'t, Value>>, Fail> {
    match cx.rule.nodes.get(idx as usize) {
        Some(&node @ (Node::Slot(_) | Node::Lookup(_) | Node::Scoped { .. })) => Ok(read(cx, sc, node)),
        _ => ev_node(cx, sc, idx).map(|v| Some(v).filter(|v| !matches!(**v, Value::Null))),
    }
}

fn scoped<'t>(sc: Scope<'t>, level: u32, path: &[Cow<'_, str>]) -> Option<Cow<'t, Value>> {
    let mut frame = sc?;
    for _ in 0..level / 2 {
        frame = frame.parent?;
    }
    if level % 2 == 1 {
        return match path {
            [] => Some(Cow::Owned(Value::Object(vec![("index".into(), index_value(frame.index))]))),
            [key] if key == "index" => Some(Cow::Owned(index_value(frame.index))),
            _ => None,
        };
    }
    item_path(frame.item, path)
}

fn index_value(i: usize) -> Value {
    Value::Number(i as f64)
}

fn item_path<'t, S: AsRef<str>>(item: Item<'t>, path: &[S]) -> Option<Cow<'t, Value>> {
    match item {
        Item::Value(v) => v.get_path(path).map(Cow::Borrowed),
        Item::Reduce { current, acc } => match path.split_first() {
            None => Some(Cow::Owned(Value::Object(vec![
                ("current".into(), current.clone()),
                ("accumulator".into(), acc.clone()),
            ]))),
            Some((first, rest)) => match first.as_ref() {
                "current" => current.get_path(rest).map(Cow::Borrowed),
                "accumulator" => acc.get_path(rest).map(Cow::Borrowed),
                _ => None,
            },
        },
    }
}

/// A computed path read: the current item inside a scope, the environment at the root.
fn read_dyn<'t, E: Env + ?Sized>(
    cx: Cx<'t, E>,
    sc: Scope<'t>,
    path: &[Cow<'_, str>],
) -> Option<Cow<'t, Value>> {
    match sc {
        Some(frame) => item_path(frame.item, path),
        None => cx.env.lookup(path),
    }
}

/// Path segments of a computed `var` (`a.b` splits on dots) or `val` (kept whole).
pub(crate) fn segments(v: &Value, split: bool) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                out.push(js_string(item));
            }
        }
        // Only a string can be empty here: numbers, booleans and objects always write something.
        _ => match js_string(v) {
            s if !split => out.push(s),
            s if s.is_empty() => {}
            s => {
                // Split as bytes (a dot is ASCII, so every part is still UTF-8): `str::split`
                // brings std's char searcher into the Wasm module.
                for part in s.as_bytes().split(|&b| b == b'.') {
                    out.push(Cow::Owned(core::str::from_utf8(part).unwrap_or_default().to_owned()));
                }
            }
        },
    }
    out
}

fn op_eval<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, op: Op, spread: bool, kids: &[u32]) -> Out<'t> {
    match op {
        Op::If => if_(cx, sc, kids),
        Op::And | Op::Or => {
            // The value of the first kid that decides, else of the last one.
            let want = op == Op::Or;
            let Some((&last, init)) = kids.split_last() else { return bool_out(false) };
            for &k in init {
                if boolean(cx, k) {
                    if truth(cx, sc, k)? == want {
                        return bool_out(want);
                    }
                } else {
                    let v = ev_node(cx, sc, k)?;
                    if v.truthy() == want {
                        return Ok(v);
                    }
                }
            }
            ev_node(cx, sc, last)
        }
        _ if op.is_boolean() => bool_out(bool_op(cx, sc, op, kids)?),
        Op::Coalesce => {
            for &k in kids {
                let v = ev_node(cx, sc, k)?;
                if !matches!(*v, Value::Null) {
                    return Ok(v);
                }
            }
            Ok(Cow::Borrowed(&NULL))
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Max | Op::Min => {
            arith(cx, sc, op, spread, kids)
        }
        _ => cold_op(cx, sc, op, spread, kids),
    }
}

/// Whether node `idx` always gives a boolean, so [`truth`] gives its whole value. Inlined, like
/// [`Rule::kids`]: the Wasm build optimizes for size, which would call it.
#[inline(always)]
fn boolean<E: Env + ?Sized>(cx: Cx<'_, E>, idx: u32) -> bool {
    matches!(cx.rule.nodes.get(idx as usize), Some(Node::Op { op, .. }) if op.is_boolean())
}

impl Op {
    /// Whether the operator always gives a boolean: negations, comparisons and the membership
    /// tests.
    fn is_boolean(self) -> bool {
        matches!(
            self,
            Op::Not
                | Op::NotNot
                | Op::Eq
                | Op::Ne
                | Op::StrictEq
                | Op::StrictNe
                | Op::Lt
                | Op::Le
                | Op::Gt
                | Op::Ge
                | Op::In
                | Op::StartsWith
                | Op::EndsWith
        )
    }
}

/// The truthiness of node `idx`. Logic and comparisons compute it without building values,
/// and a `bool` result comes back in registers.
fn truth<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, idx: u32) -> Result<bool, Fail> {
    match cx.rule.nodes.get(idx as usize) {
        Some(Node::Const(c)) => Ok(cx.rule.consts.get(*c as usize).is_some_and(Value::truthy)),
        Some(Node::Slot(s)) => Ok(cx.env.slot(*s).truthy()),
        Some(&Node::Op { op, start, len, .. }) => {
            let kids = cx.rule.kids(start, len);
            match op {
                Op::And => {
                    for &k in kids {
                        if !truth(cx, sc, k)? {
                            return Ok(false);
                        }
                    }
                    Ok(!kids.is_empty())
                }
                Op::Or => {
                    for &k in kids {
                        if truth(cx, sc, k)? {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                }
                Op::If => {
                    let mut rest = kids;
                    loop {
                        match rest {
                            [] => return Ok(false),
                            [last] => return truth(cx, sc, *last),
                            [cond, then, tail @ ..] => {
                                if truth(cx, sc, *cond)? {
                                    return truth(cx, sc, *then);
                                }
                                rest = tail;
                            }
                        }
                    }
                }
                _ if boolean(cx, idx) => bool_op(cx, sc, op, kids),
                _ => Ok(ev_node(cx, sc, idx)?.truthy()),
            }
        }
        _ => Ok(ev_node(cx, sc, idx)?.truthy()),
    }
}

/// `!`, `!!`, the comparisons and the membership tests: the operators that give a boolean,
/// computed without building a value for it.
fn bool_op<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, op: Op, kids: &[u32]) -> Result<bool, Fail> {
    match op {
        Op::Not | Op::NotNot => {
            let t = match kids.first() {
                Some(&k) => truth(cx, sc, k)?,
                None => false,
            };
            Ok(t == (op == Op::NotNot))
        }
        Op::In => {
            let (needle, hay) = two(cx, sc, kids)?;
            Ok(match &*hay {
                // JavaScript's `indexOf` reads a null needle as `"null"` (found by differential
                // testing: `{"in": [null, "1e2"]}` was true).
                Value::String(s) if matches!(*needle, Value::Null) => has_substring(s, "null"),
                Value::String(s) => has_substring(s, &js_string(&needle)),
                Value::Array(items) => items.iter().any(|v| strict_eq(v, &needle)),
                _ => false,
            })
        }
        Op::StartsWith | Op::EndsWith => {
            let (s, affix) = two(cx, sc, kids)?;
            Ok(match (&*s, &*affix) {
                (Value::String(s), Value::String(a)) if op == Op::StartsWith => s.starts_with(a.as_str()),
                (Value::String(s), Value::String(a)) => s.ends_with(a.as_str()),
                _ => false,
            })
        }
        _ => chain(cx, sc, kids, op),
    }
}

/// `a op b` for a comparison operator.
pub(super) fn test_pair(op: Op, a: &Value, b: &Value) -> Result<bool, EvalError> {
    Ok(match op {
        Op::Eq | Op::Ne => loose_eq(a, b)? == (op == Op::Eq),
        Op::StrictEq | Op::StrictNe => strict_eq(a, b) == (op == Op::StrictEq),
        _ => compare(a, b)?.is_some_and(|o| match op {
            Op::Lt => o.is_lt(),
            Op::Le => o.is_le(),
            Op::Gt => o.is_gt(),
            _ => o.is_ge(),
        }),
    })
}

/// The operators that are rarely on a hot path, out of line so they do not weigh on `ev`.
#[inline(never)]
fn cold_op<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, op: Op, spread: bool, kids: &[u32]) -> Out<'t> {
    match op {
        Op::Cat => {
            let mut out = String::new();
            for_each_arg(cx, sc, spread, kids, &mut |v| {
                write_js_string(v, &mut out);
                limit(out.len())
            })?;
            Ok(Cow::Owned(Value::String(out)))
        }
        Op::Merge => {
            let mut out = Vec::new();
            for_each_arg(cx, sc, spread, kids, &mut |v| {
                match v {
                    Value::Array(items) => {
                        for item in items {
                            out.push(item.clone());
                        }
                    }
                    other => out.push(other.clone()),
                }
                limit(out.len())
            })?;
            Ok(Cow::Owned(Value::Array(out)))
        }
        Op::Array => {
            let mut items = Vec::with_capacity(kids.len());
            for &k in kids {
                items.push(ev_node(cx, sc, k)?.into_owned());
            }
            Ok(Cow::Owned(Value::Array(items)))
        }
        Op::Substr => substr(cx, sc, kids),
        Op::Map | Op::Filter | Op::All | Op::Some | Op::None => iterate(cx, sc, op, kids),
        Op::Reduce => reduce(cx, sc, kids),
        Op::Throw => {
            let v = match kids.first() {
                Some(&k) => ev_node(cx, sc, k)?.into_owned(),
                None => Value::Null,
            };
            // An object is the error; anything else (a string names the type) is its `type`.
            let kind = match v {
                Value::Object(_) => v,
                other => Value::Object(vec![("type".into(), other)]),
            };
            Err(Box::new(EvalError { kind }))
        }
        Op::Try => try_(cx, sc, kids),
        Op::VarDyn | Op::ValDyn => {
            let Some(&k) = kids.first() else { return Ok(Cow::Borrowed(&NULL)) };
            let path = ev_node(cx, sc, k)?;
            let segs = segments(&path, op == Op::VarDyn);
            Ok(read_dyn(cx, sc, &segs).unwrap_or(Cow::Borrowed(&NULL)))
        }
        Op::MissingDyn | Op::MissingSomeDyn => missing_dyn(cx, sc, op == Op::MissingSomeDyn, kids),
        Op::Exists => {
            let found = match kids.first() {
                Some(&k) => read_opt(cx, sc, k)?.is_some(),
                None => false,
            };
            bool_out(found)
        }
        Op::SemVer => {
            // In one vector: three values held apart would each need their drop on every early
            // return.
            let args = ev_all(cx, sc, kids.get(..3).ok_or_else(invalid_args)?)?;
            let hit = match args.as_slice() {
                [a, o, b] => match (&**a, &**o, &**b) {
                    (Value::String(a), Value::String(o), Value::String(b)) => semver::matches(a, o, b),
                    _ => None,
                },
                _ => None,
            };
            bool_out(hit.unwrap_or(false))
        }
        Op::Fractional => fractional_(cx, sc, kids),
        // INVARIANT: `op_eval` handles every other operator before delegating here.
        _ => Err(fail("Invalid Rule")),
    }
}

/// Whether `needle` occurs in `hay`: `str::contains` by a plain scan. UTF-8 is self-synchronizing,
/// so a byte match is a character match. The scan is O(len(hay) * len(needle)) at worst, which
/// the engine's inputs keep small (input strings are at most 1 KB); std's two-way searcher would
/// bring 5 KB gzip of code and panic formatting into the Wasm module.
fn has_substring(hay: &str, needle: &str) -> bool {
    needle.is_empty() || hay.as_bytes().windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A boxed error of JsonLogic type `type_name`, built out of line: errors are rare, and the
/// places that raise them are many.
#[cold]
#[inline(never)]
fn fail(type_name: &str) -> Fail {
    Box::new(EvalError::new(type_name))
}

/// Arguments of the wrong shape or count, found at run time.
fn invalid_args() -> Fail {
    fail("Invalid Arguments")
}

/// A non-numeric value where a number was needed, or a division by zero.
fn nan() -> Fail {
    fail("NaN")
}

fn limit(len: usize) -> Result<(), Fail> {
    if len > MAX_BUILD {
        Err(fail("Too Large"))
    } else {
        Ok(())
    }
}

fn two<'t, E: Env + ?Sized>(
    cx: Cx<'t, E>,
    sc: Scope<'t>,
    kids: &[u32],
) -> Result<(Cow<'t, Value>, Cow<'t, Value>), Fail> {
    match kids {
        [a, b, ..] => Ok((ev_node(cx, sc, *a)?, ev_node(cx, sc, *b)?)),
        _ => Err(invalid_args()),
    }
}

/// Evaluates the kids in order, up to the first error.
fn ev_all<'t, E: Env + ?Sized>(
    cx: Cx<'t, E>,
    sc: Scope<'t>,
    kids: &[u32],
) -> Result<Vec<Cow<'t, Value>>, Fail> {
    let mut out = Vec::with_capacity(kids.len());
    for &k in kids {
        out.push(ev_node(cx, sc, k)?);
    }
    Ok(out)
}

fn if_<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, kids: &[u32]) -> Out<'t> {
    let mut rest = kids;
    loop {
        match rest {
            [] => return Ok(Cow::Borrowed(&NULL)),
            [last] => return ev_node(cx, sc, *last),
            [cond, then, tail @ ..] => {
                if truth(cx, sc, *cond)? {
                    return ev_node(cx, sc, *then);
                }
                rest = tail;
            }
        }
    }
}

/// A chained comparison `a op b op c …`, evaluated lazily left to right.
fn chain<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, kids: &[u32], op: Op) -> Result<bool, Fail> {
    let [first, rest @ ..] = kids else { return Err(invalid_args()) };
    if rest.is_empty() {
        return Err(invalid_args());
    }
    let mut prev = ev(cx, sc, *first)?;
    for &k in rest {
        let cur = ev(cx, sc, k)?;
        // Two numbers, the common case (a feature against a constant), compared in place: what
        // `test_pair` answers (NaN equal to nothing, ordered against nothing), without its calls.
        let holds = match (&*prev, &*cur) {
            (Value::Number(x), Value::Number(y)) => match op {
                Op::Eq | Op::StrictEq => x == y,
                Op::Ne | Op::StrictNe => x != y,
                Op::Lt => x < y,
                Op::Le => x <= y,
                Op::Gt => x > y,
                _ => x >= y,
            },
            // Two booleans under (in)equality (a trait flag against `true`), strict or loose alike.
            (Value::Bool(x), Value::Bool(y)) if matches!(op, Op::Eq | Op::StrictEq) => x == y,
            (Value::Bool(x), Value::Bool(y)) if matches!(op, Op::Ne | Op::StrictNe) => x != y,
            (a, b) => test_pair(op, a, b).map_err(Box::new)?,
        };
        if !holds {
            return Ok(false);
        }
        prev = cur;
    }
    Ok(true)
}

/// Calls `f` on each argument: the kids' values, or the elements of the one spread kid.
fn for_each_arg<'t, E: Env + ?Sized>(
    cx: Cx<'t, E>,
    sc: Scope<'t>,
    spread: bool,
    kids: &[u32],
    f: &mut dyn FnMut(&Value) -> Result<(), Fail>,
) -> Result<(), Fail> {
    if spread {
        if let Some(&k) = kids.first() {
            let v = ev_node(cx, sc, k)?;
            match &*v {
                Value::Array(items) => {
                    for item in items {
                        f(item)?;
                    }
                }
                other => f(other)?,
            }
        }
        return Ok(());
    }
    for &k in kids {
        f(&*ev(cx, sc, k)?)?;
    }
    Ok(())
}

fn arith<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, op: Op, spread: bool, kids: &[u32]) -> Out<'t> {
    let mut acc = match op {
        Op::Mul => 1.0,
        _ => 0.0,
    };
    let mut count = 0_usize;
    for_each_arg(cx, sc, spread, kids, &mut |v| {
        let n = num(v)?;
        acc = match (op, count) {
            (Op::Add, _) => acc + n,
            (Op::Mul, _) => acc * n,
            (_, 0) => n,
            (Op::Sub, _) => acc - n,
            (Op::Div | Op::Mod, _) if n == 0.0 => return Err(nan()),
            (Op::Div, _) => acc / n,
            (Op::Mod, _) => rem(acc, n),
            (Op::Max, _) => acc.max(n),
            _ => acc.min(n),
        };
        count += 1;
        Ok(())
    })?;
    let result = match (op, count) {
        (Op::Sub | Op::Div, 0) | (Op::Mod, 0 | 1) => return Err(invalid_args()),
        (Op::Max | Op::Min, 0) => return Ok(Cow::Borrowed(&NULL)),
        (Op::Sub, 1) => -acc,
        (Op::Div, 1) if acc == 0.0 => return Err(nan()),
        (Op::Div, 1) => 1.0 / acc,
        _ => acc,
    };
    if result.is_nan() {
        return Err(nan());
    }
    Ok(Cow::Owned(Value::Number(result)))
}

/// `substr(source, start, length?)` on characters; negative start counts from the end, negative
/// length stops that many characters before the end.
fn substr<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, kids: &[u32]) -> Out<'t> {
    let [src, start, rest @ ..] = kids else { return Err(invalid_args()) };
    let src = ev_node(cx, sc, *src)?;
    let start = num(&*ev_node(cx, sc, *start)?)?;
    let len = match rest.first() {
        Some(&k) => Some(num(&*ev_node(cx, sc, k)?)?),
        None => None,
    };
    Ok(Cow::Owned(Value::String(cut(&js_string(&src), start, len))))
}

/// The characters of `s` that `substr` keeps, from the evaluated arguments: out of line from the
/// evaluation, so no value is live here to be dropped on an early return.
fn cut(s: &str, start: f64, len: Option<f64>) -> String {
    let n = s.bytes().filter(|&b| b & 0xc0 != 0x80).count() as i64;
    // Clamped first, so wild indices cannot overflow the arithmetic below.
    let int = |f: f64| f.trunc().max(-(n as f64) - 1.0).min(n as f64 + 1.0) as i64;
    let start = int(start);
    let from = if start < 0 { (n + start).max(0) } else { start.min(n) };
    let left = n - from;
    let take = match len.map(int) {
        None => left,
        Some(len) if len < 0 => (left + len).max(0),
        Some(len) => len.min(left),
    };
    // Character positions to byte offsets (`n` is the end).
    let byte = |c: i64| char_offset(s, c as usize);
    s.get(byte(from)..byte(from + take)).unwrap_or_default().to_owned()
}

fn iterate<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, op: Op, kids: &[u32]) -> Out<'t> {
    let &[list, body, ..] = kids else { return Err(invalid_args()) };
    let list = ev_node(cx, sc, list)?;
    let items = match (&*list, op) {
        (Value::Array(items), _) => items.as_slice(),
        (_, Op::Map | Op::Filter) => return Ok(Cow::Owned(Value::Array(Vec::new()))),
        _ => return Err(invalid_args()),
    };
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let frame = Frame { item: Item::Value(item), index, parent: sc };
        if op == Op::Map {
            out.push(ev_node(cx, Some(&frame), body)?.into_owned());
            continue;
        }
        let hit = truth(cx, Some(&frame), body)?;
        match op {
            Op::Filter if hit => out.push(item.clone()),
            Op::All if !hit => return bool_out(false),
            Op::Some if hit => return bool_out(true),
            Op::None if hit => return bool_out(false),
            _ => {}
        }
    }
    match op {
        Op::All => bool_out(!items.is_empty()),
        Op::Some => bool_out(false),
        Op::None => bool_out(true),
        _ => Ok(Cow::Owned(Value::Array(out))),
    }
}

fn reduce<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, kids: &[u32]) -> Out<'t> {
    let &[list, body, ref init @ ..] = kids else { return Err(invalid_args()) };
    let list = ev_node(cx, sc, list)?;
    let mut acc = match init.first() {
        Some(&k) => ev_node(cx, sc, k)?,
        None => Cow::Borrowed(&NULL),
    };
    let Value::Array(items) = &*list else { return Ok(acc) };
    for (index, current) in items.iter().enumerate() {
        let frame = Frame { item: Item::Reduce { current, acc: &acc }, index, parent: sc };
        let next = ev_node(cx, Some(&frame), body)?.into_owned();
        // INVARIANT: an accumulator stays bounded, so `[acc, acc]` or `merge(acc, acc)` bodies
        // cannot double it until memory or the stack runs out.
        let mut budget = MAX_BUILD;
        if !size_within(&next, &mut budget, 2 * MAX_DEPTH) {
            return Err(fail("Too Large"));
        }
        acc = Cow::Owned(next);
    }
    Ok(acc)
}

fn try_<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, kids: &[u32]) -> Out<'t> {
    let [first, handlers @ ..] = kids else { return Err(invalid_args()) };
    let mut err = match ev_node(cx, sc, *first) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    for &k in handlers {
        // The handler sees the error as its data, one scope below the `try`.
        let result = {
            let frame = Frame { item: Item::Value(&err.kind), index: 0, parent: sc };
            ev_node(cx, Some(&frame), k).map(Cow::into_owned)
        };
        match result {
            Ok(v) => return Ok(Cow::Owned(v)),
            Err(e) => err = e,
        }
    }
    Err(err)
}

fn is_missing(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

fn missing_static<'t, E: Env + ?Sized>(
    cx: Cx<'t, E>,
    sc: Scope<'t>,
    some: bool,
    names: &[Value],
    kids: &[u32],
) -> Out<'t> {
    let (need, reads) = match (some, kids) {
        (true, [need, reads @ ..]) => (Some(*need), reads),
        _ => (None, kids),
    };
    let mut out = Vec::new();
    for (name, &k) in names.iter().zip(reads) {
        if is_missing(read_opt(cx, sc, k)?.as_deref()) {
            out.push(name.clone());
        }
    }
    finish_missing(cx, sc, need, names.len(), out)
}

fn finish_missing<'t, E: Env + ?Sized>(
    cx: Cx<'t, E>,
    sc: Scope<'t>,
    need: Option<u32>,
    total: usize,
    out: Vec<Value>,
) -> Out<'t> {
    if let Some(need) = need {
        let need = num(&*ev_node(cx, sc, need)?)?;
        if total.saturating_sub(out.len()) as f64 >= need {
            return Ok(Cow::Owned(Value::Array(Vec::new())));
        }
    }
    Ok(Cow::Owned(Value::Array(out)))
}

fn missing_dyn<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, some: bool, kids: &[u32]) -> Out<'t> {
    let (need, lists) = match (some, kids) {
        (true, [need, lists @ ..]) => (Some(*need), lists),
        _ => (None, kids),
    };
    let values = ev_all(cx, sc, lists)?;
    // Like `missing` in JsonLogic: an array first argument is the list of names.
    let mut names: Vec<&Value> = Vec::new();
    match values.first().map(|v| &**v) {
        Some(Value::Array(items)) => {
            for item in items {
                names.push(item);
            }
        }
        _ => {
            for v in &values {
                names.push(v);
            }
        }
    }
    let mut out = Vec::new();
    for name in &names {
        let segs = segments(name, true);
        if is_missing(read_dyn(cx, sc, &segs).as_deref()) {
            out.push((*name).clone());
        }
    }
    finish_missing(cx, sc, need, names.len(), out)
}

fn host<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, op: u16, imm: u32, kids: &[u32]) -> Out<'t> {
    if kids.len() <= 3 {
        // Up to three arguments live on the stack.
        let mut buf = [Cow::Borrowed(&NULL), Cow::Borrowed(&NULL), Cow::Borrowed(&NULL)];
        for (slot, &k) in buf.iter_mut().zip(kids) {
            *slot = ev_node(cx, sc, k)?;
        }
        let args = buf.get(..kids.len()).unwrap_or(&[]);
        return cx.env.call(op, imm, args).map(Cow::Owned).map_err(Box::new);
    }
    let args = ev_all(cx, sc, kids)?;
    cx.env.call(op, imm, &args).map(Cow::Owned).map_err(Box::new)
}

fn fractional_<'t, E: Env + ?Sized>(cx: Cx<'t, E>, sc: Scope<'t>, kids: &[u32]) -> Out<'t> {
    let [key, buckets @ ..] = kids else { return Err(invalid_args()) };
    let key = ev_node(cx, sc, *key)?;
    let Value::String(key) = &*key else { return Ok(Cow::Borrowed(&NULL)) };
    let buckets = ev_all(cx, sc, buckets)?;
    let picked = fractional::pick(key, &buckets);
    Ok(picked.map_or(Cow::Borrowed(&NULL), |v| Cow::Owned(v.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `substr`'s cut by a vector of chars, as JavaScript's `substr` reads it.
    fn reference(s: &str, start: i64, len: Option<i64>) -> String {
        let chars: Vec<char> = s.chars().collect();
        let n = chars.len() as i64;
        let from = if start < 0 { (n + start).max(0) } else { start.min(n) };
        let take = match len {
            None => n - from,
            Some(l) if l < 0 => (n - from + l).max(0),
            Some(l) => l.min(n - from),
        };
        chars.iter().skip(from as usize).take(take as usize).collect()
    }

    proptest::proptest! {
        #[test]
        fn cut_counts_characters(s in "[aé€😀]{0,8}", start in -10i64..10, len in proptest::option::of(-10i64..10)) {
            let got = cut(&s, start as f64, len.map(|l| l as f64));
            proptest::prop_assert_eq!(got, reference(&s, start, len));
        }
    }
}
