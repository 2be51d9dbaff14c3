//! Parsing JSON rules into the flat form: operators are checked and resolved, variables go
//! through the [`Resolver`], and subtrees that read nothing are folded into constants.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value as Json;

use super::eval::{eval_at, segments};
use super::rule::{Node, Op};
use super::value::{depth_within, write_js_number, NULL};
use super::{semver, Env, EvalError, ParseError, Resolver, Rule, Value, MAX_DEPTH};

/// The operators the parser knows (for "did you mean" suggestions, and for generators in tests).
pub const OPERATORS: &[&str] = &[
    "==",
    "===",
    "!=",
    "!==",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "!!",
    "and",
    "or",
    "if",
    "?:",
    "??",
    "+",
    "-",
    "*",
    "/",
    "%",
    "max",
    "min",
    "cat",
    "substr",
    "in",
    "merge",
    "map",
    "filter",
    "reduce",
    "all",
    "some",
    "none",
    "var",
    "val",
    "missing",
    "missing_some",
    "exists",
    "throw",
    "try",
    "preserve",
    "starts_with",
    "ends_with",
    "sem_ver",
    "fractional",
];

type Res<T> = Result<T, ParseError>;

/// Arena lengths before a subtree, to drop the subtree when it folds.
#[derive(Clone, Copy)]
struct Mark {
    nodes: usize,
    kids: usize,
    consts: usize,
    paths: usize,
}

struct Parser<'r> {
    res: &'r dyn Resolver,
    rule: Rule,
    /// Where we are in the rule, in the dotted form of [`ParseError::path`].
    path: String,
    /// How many iterator or `try` scopes enclose the current node.
    scope: u32,
    /// Per node: whether its subtree reads nothing (no variables, no host operators), so its
    /// value is known at parse time unless it fails.
    pure: Vec<bool>,
}

pub(crate) fn parse(json: &Json, res: &dyn Resolver) -> Res<Rule> {
    let mut p = Parser { res, rule: Rule::empty(), path: String::new(), scope: 0, pure: Vec::new() };
    p.value(json, 1)?;
    Ok(p.rule)
}

/// The environment of constant folding: folded subtrees read nothing.
struct NoEnv;

impl Env for NoEnv {
    fn slot(&self, _slot: u32) -> Cow<'_, Value> {
        Cow::Borrowed(&NULL)
    }
    fn lookup(&self, _path: &[Cow<'_, str>]) -> Option<Cow<'_, Value>> {
        None
    }
    fn call(&self, _op: u16, _imm: u32, _args: &[Cow<'_, Value>]) -> Result<Value, EvalError> {
        Err(EvalError::new("Unknown Operator"))
    }
}

fn as_list(args: &Json) -> &[Json] {
    match args {
        Json::Array(a) => a,
        other => std::slice::from_ref(other),
    }
}

fn is_expression(json: &Json) -> bool {
    matches!(json, Json::Object(m) if !m.is_empty())
}

fn number_text(n: &serde_json::Number) -> String {
    let mut s = String::new();
    write_js_number(n.as_f64().unwrap_or(f64::NAN), &mut s);
    s
}

/// A short rendering of user input for messages.
fn show(json: &Json) -> String {
    let mut out = String::new();
    render(json, 2, &mut out);
    if out.chars().count() > 48 {
        out = out.chars().take(45).collect();
        out.push_str("...");
    }
    out
}

fn render(json: &Json, depth: usize, out: &mut String) {
    match json {
        Json::Array(items) if depth == 0 && !items.is_empty() => out.push_str("[...]"),
        Json::Object(map) if depth == 0 && !map.is_empty() => out.push_str("{...}"),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if out.len() > 60 {
                    out.push_str("...");
                    break;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                render(item, depth.saturating_sub(1), out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if out.len() > 60 {
                    out.push_str("...");
                    break;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", Json::String(k.clone()));
                render(v, depth.saturating_sub(1), out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "argument"
    } else {
        "arguments"
    }
}

/// Optimal string alignment distance (edits and adjacent swaps), on characters.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d: Vec<usize> = vec![0; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            let v = if i == 0 || j == 0 {
                i + j
            } else {
                let get = |i, j| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
                let cost = usize::from(a.get(i - 1) != b.get(j - 1));
                let mut v = (get(i - 1, j) + 1).min(get(i, j - 1) + 1).min(get(i - 1, j - 1) + cost);
                if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                    v = v.min(get(i - 2, j - 2) + 1);
                }
                v
            };
            if let Some(cell) = d.get_mut(at(i, j)) {
                *cell = v;
            }
        }
    }
    d.last().copied().unwrap_or(0)
}

impl Parser<'_> {
    // ---- places and errors ------------------------------------------------------------------

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError { path: self.path.clone(), message: message.into() }
    }

    fn enter_op(&mut self, name: &str) -> usize {
        let mark = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(name);
        mark
    }

    fn enter_arg(&mut self, i: usize) -> usize {
        let mark = self.path.len();
        let _ = write!(self.path, "[{i}]");
        mark
    }

    fn leave(&mut self, mark: usize) {
        self.path.truncate(mark);
    }

    fn check_depth(&self, depth: usize) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("the rule nests deeper than {MAX_DEPTH} levels; simplify it")));
        }
        Ok(())
    }

    fn need_array(&self, name: &str, args: &Json) -> Res<()> {
        if args.is_array() {
            return Ok(());
        }
        Err(self.err(format!(
            "`{name}` takes an array of arguments, like `{{\"{name}\": [a, b]}}`; found `{}`",
            show(args)
        )))
    }

    fn arity(&self, name: &str, n: usize, min: usize, max: Option<usize>) -> Res<()> {
        let wanted = match max {
            Some(max) if n >= min && n <= max => return Ok(()),
            None if n >= min => return Ok(()),
            Some(max) if max == min => format!("{min} {}", plural(min)),
            Some(max) if max == min + 1 => format!("{min} or {max} arguments"),
            Some(max) => format!("{min} to {max} arguments"),
            None => format!("at least {min} {}", plural(min)),
        };
        Err(self.err(format!("`{name}` takes {wanted}, found {n}")))
    }

    fn unknown(&self, name: &str) -> ParseError {
        let limit = (name.chars().count() / 3).max(1);
        let best = OPERATORS
            .iter()
            .chain(self.res.host_op_names())
            .map(|known| (distance(name, known), *known))
            .min_by_key(|(d, _)| *d);
        match best {
            Some((d, known)) if d <= limit => {
                self.err(format!("unknown operator `{name}`; did you mean `{known}`?"))
            }
            _ => self.err(format!(
                "unknown operator `{name}`; expected a JsonLogic operator such as `and`, `==` or `var` (see docs/rules.md)"
            )),
        }
    }

    // ---- the arena --------------------------------------------------------------------------

    fn mark(&self) -> Mark {
        Mark {
            nodes: self.rule.nodes.len(),
            kids: self.rule.kids.len(),
            consts: self.rule.consts.len(),
            paths: self.rule.paths.len(),
        }
    }

    fn rewind(&mut self, m: Mark) {
        self.rule.nodes.truncate(m.nodes);
        self.rule.kids.truncate(m.kids);
        self.rule.consts.truncate(m.consts);
        self.rule.paths.truncate(m.paths);
        self.pure.truncate(m.nodes);
    }

    fn index(&self, len: usize) -> Res<u32> {
        u32::try_from(len).map_err(|_| self.err("the rule is too large"))
    }

    fn push(&mut self, node: Node) -> Res<u32> {
        let idx = self.index(self.rule.nodes.len())?;
        let pure = match node {
            Node::Const(_) => true,
            Node::Op { op, start, len, .. } => {
                !op.reads_data()
                    && self.rule.kids(start, len).iter().all(|&k| self.pure.get(k as usize) == Some(&true))
            }
            Node::Slot(_)
            | Node::Lookup(_)
            | Node::Scoped { .. }
            | Node::Missing { .. }
            | Node::Host { .. } => false,
        };
        self.rule.nodes.push(node);
        self.pure.push(pure);
        Ok(idx)
    }

    fn add_const(&mut self, v: Value) -> Res<u32> {
        let c = self.index(self.rule.consts.len())?;
        self.rule.consts.push(v);
        Ok(c)
    }

    fn konst(&mut self, v: Value) -> Res<u32> {
        let c = self.add_const(v)?;
        self.push(Node::Const(c))
    }

    fn add_kids(&mut self, kids: &[u32]) -> Res<(u32, u32)> {
        let start = self.index(self.rule.kids.len())?;
        let len = self.index(kids.len())?;
        self.rule.kids.extend_from_slice(kids);
        Ok((start, len))
    }

    /// Adds an operator node, folding it into a constant when it reads nothing and evaluates
    /// without error.
    fn op_node(&mut self, m: Mark, op: Op, spread: bool, kids: &[u32]) -> Res<u32> {
        let (start, len) = self.add_kids(kids)?;
        let idx = self.push(Node::Op { op, spread, start, len })?;
        if self.pure.last() == Some(&true) {
            let folded = match eval_at(&self.rule, &NoEnv, idx) {
                Ok(v) => Some(v.into_owned()),
                Err(_) => None,
            };
            if let Some(v) = folded.filter(|v| depth_within(v, MAX_DEPTH)) {
                self.rewind(m);
                return self.konst(v);
            }
        }
        Ok(idx)
    }

    // ---- values and operators ---------------------------------------------------------------

    fn value(&mut self, json: &Json, depth: usize) -> Res<u32> {
        self.check_depth(depth)?;
        match json {
            Json::Object(map) => {
                let mut entries = map.iter();
                match (entries.next(), entries.next()) {
                    (None, _) => self.konst(Value::Object(Vec::new())),
                    (Some((name, args)), None) => self.operator(name, args, depth),
                    (Some(_), Some(_)) => {
                        let keys: Vec<String> = map.keys().take(4).map(|k| format!("`{k}`")).collect();
                        Err(self.err(format!(
                            "a rule object has exactly one key, the operator; found {} keys: {}{}",
                            map.len(),
                            keys.join(", "),
                            if map.len() > 4 { ", ..." } else { "" }
                        )))
                    }
                }
            }
            Json::Array(items) => {
                if self.is_literal(json, depth)? {
                    return self.konst(Value::from_json(json));
                }
                let m = self.mark();
                let kids = self.args(items, depth)?;
                self.op_node(m, Op::Array, false, &kids)
            }
            scalar => self.konst(Value::from_json(scalar)),
        }
    }

    /// Whether a value holds no operator (arrays of scalars, empty objects).
    fn is_literal(&self, json: &Json, depth: usize) -> Res<bool> {
        self.check_depth(depth)?;
        match json {
            Json::Object(map) => Ok(map.is_empty()),
            Json::Array(items) => {
                for item in items {
                    if !self.is_literal(item, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            _ => Ok(true),
        }
    }

    /// Parses argument `i`, one level below a node at `depth`.
    fn arg(&mut self, i: usize, json: &Json, depth: usize) -> Res<u32> {
        let mark = self.enter_arg(i);
        let r = self.value(json, depth + 1);
        self.leave(mark);
        r
    }

    fn args(&mut self, list: &[Json], depth: usize) -> Res<Vec<u32>> {
        list.iter().enumerate().map(|(i, json)| self.arg(i, json, depth)).collect()
    }

    fn simple(&mut self, op: Op, list: &[Json], depth: usize) -> Res<u32> {
        let m = self.mark();
        let kids = self.args(list, depth)?;
        self.op_node(m, op, false, &kids)
    }

    fn operator(&mut self, name: &str, args: &Json, depth: usize) -> Res<u32> {
        let mark = self.enter_op(name);
        let r = self.operator_in(name, args, depth);
        self.leave(mark);
        r
    }

    fn operator_in(&mut self, name: &str, args: &Json, depth: usize) -> Res<u32> {
        let list = as_list(args);
        let (op, kind) = match name {
            "var" => return self.var(args, depth),
            "val" => return self.val(args, depth),
            "missing" => return self.missing(args, depth),
            "missing_some" => return self.missing_some(args, depth),
            "exists" => return self.exists(args, depth),
            "map" | "filter" | "all" | "some" | "none" | "reduce" => return self.iterator(name, args, depth),
            "try" => return self.try_(list, depth),
            "fractional" => return self.fractional(args, depth),
            "sem_ver" => return self.sem_ver(list, depth),
            "preserve" => {
                if !depth_within(&Value::from_json(args), MAX_DEPTH + 1 - depth) {
                    return Err(
                        self.err(format!("the rule nests deeper than {MAX_DEPTH} levels; simplify it"))
                    );
                }
                return self.konst(Value::from_json(args));
            }
            "if" | "?:" => (Op::If, Kind::Array(0, None)),
            "and" => (Op::And, Kind::Array(0, None)),
            "or" => (Op::Or, Kind::Array(0, None)),
            "==" => (Op::Eq, Kind::Array(2, None)),
            "!=" => (Op::Ne, Kind::Array(2, None)),
            "===" => (Op::StrictEq, Kind::Array(2, None)),
            "!==" => (Op::StrictNe, Kind::Array(2, None)),
            "<" => (Op::Lt, Kind::Array(2, None)),
            "<=" => (Op::Le, Kind::Array(2, None)),
            ">" => (Op::Gt, Kind::Array(2, None)),
            ">=" => (Op::Ge, Kind::Array(2, None)),
            "!" => (Op::Not, Kind::Fixed(0, Some(1))),
            "!!" => (Op::NotNot, Kind::Fixed(0, Some(1))),
            "??" => (Op::Coalesce, Kind::Fixed(0, None)),
            "substr" => (Op::Substr, Kind::Fixed(2, Some(3))),
            "in" => (Op::In, Kind::Fixed(2, Some(2))),
            "starts_with" => (Op::StartsWith, Kind::Fixed(2, Some(2))),
            "ends_with" => (Op::EndsWith, Kind::Fixed(2, Some(2))),
            "throw" => (Op::Throw, Kind::Fixed(1, Some(1))),
            "+" => (Op::Add, Kind::Spread(0)),
            "*" => (Op::Mul, Kind::Spread(0)),
            "-" => (Op::Sub, Kind::Spread(1)),
            "/" => (Op::Div, Kind::Spread(1)),
            "%" => (Op::Mod, Kind::Spread(2)),
            "max" => (Op::Max, Kind::Spread(0)),
            "min" => (Op::Min, Kind::Spread(0)),
            "cat" => (Op::Cat, Kind::Spread(0)),
            "merge" => (Op::Merge, Kind::Spread(0)),
            _ => return self.host(name, list, depth),
        };
        match kind {
            Kind::Array(min, max) => {
                self.need_array(name, args)?;
                self.arity(name, list.len(), min, max)?;
            }
            Kind::Fixed(min, max) => self.arity(name, list.len(), min, max)?,
            Kind::Spread(_) if is_expression(args) => {
                // One expression instead of an argument array: its array result is spread.
                let m = self.mark();
                let kid = self.arg(0, args, depth)?;
                return self.op_node(m, op, true, &[kid]);
            }
            Kind::Spread(min) => self.arity(name, list.len(), min, None)?,
        }
        self.simple(op, list, depth)
    }

    // ---- variables --------------------------------------------------------------------------

    /// A read of a constant path: a frame read inside a scope (when `level` stays inside it),
    /// otherwise a root variable through the resolver.
    fn read(&mut self, name: &str, segs: Vec<Cow<'static, str>>, level: u32, depth: usize) -> Res<u32> {
        self.check_depth(depth)?;
        if level < self.scope.saturating_mul(2) {
            self.rule.paths.push(segs);
            let path = self.index(self.rule.paths.len() - 1)?;
            return self.push(Node::Scoped { level, path });
        }
        match self.res.var(name) {
            Ok(Some(slot)) => self.push(Node::Slot(slot)),
            Ok(None) => {
                self.rule.paths.push(segs);
                let path = self.index(self.rule.paths.len() - 1)?;
                self.push(Node::Lookup(path))
            }
            Err(message) => Err(self.err(message)),
        }
    }

    fn var(&mut self, args: &Json, depth: usize) -> Res<u32> {
        let (path, default) = match args {
            Json::Array(a) => {
                self.arity("var", a.len(), 0, Some(2))?;
                (a.first(), a.get(1))
            }
            other => (Some(other), None),
        };
        let m = self.mark();
        let read_depth = depth + usize::from(default.is_some());
        let text = match path {
            None | Some(Json::Null) => String::new(),
            Some(Json::String(s)) => s.clone(),
            Some(Json::Number(n)) => number_text(n),
            Some(expr @ (Json::Object(_) | Json::Array(_))) => {
                let read = self.computed(Op::VarDyn, expr, read_depth)?;
                return self.with_default(m, read, default, depth);
            }
            Some(other) => {
                return Err(self.err(format!(
                    "`var` takes a path: a string like `a.b`, a number, or an expression; found `{}`",
                    show(other)
                )))
            }
        };
        let segs = split_path(&text);
        let read = self.read(&text, segs, 0, read_depth)?;
        self.with_default(m, read, default, depth)
    }

    fn with_default(&mut self, m: Mark, read: u32, default: Option<&Json>, depth: usize) -> Res<u32> {
        match default {
            None => Ok(read),
            Some(d) => {
                let d = self.arg(1, d, depth)?;
                self.op_node(m, Op::Coalesce, false, &[read, d])
            }
        }
    }

    /// A `var` or `val` whose path is an expression. If the expression folds to a constant,
    /// it becomes a constant path.
    fn computed(&mut self, op: Op, expr: &Json, depth: usize) -> Res<u32> {
        self.check_depth(depth)?;
        let m = self.mark();
        let kid = self.arg(0, expr, depth)?;
        let constant = match self.rule.nodes.get(kid as usize) {
            Some(Node::Const(c)) => self.rule.consts.get(*c as usize).cloned(),
            _ => None,
        };
        if let Some(path) = constant {
            self.rewind(m);
            let segs: Vec<Cow<'static, str>> =
                segments(&path, op == Op::VarDyn).into_iter().map(|s| Cow::Owned(s.into_owned())).collect();
            let name = segs.join(".");
            return self.read(&name, segs, 0, depth);
        }
        if self.scope == 0 && !self.res.dynamic_vars() {
            return Err(self.err(
                "variable names must be constant here: write the path as a string, like `{\"var\": \"a.b\"}`",
            ));
        }
        self.op_node(m, op, false, &[kid])
    }

    fn val(&mut self, args: &Json, depth: usize) -> Res<u32> {
        let items: &[Json] = match args {
            _ if is_expression(args) => return self.computed(Op::ValDyn, args, depth),
            Json::Array(a) => a,
            Json::Null => &[],
            other => std::slice::from_ref(other),
        };
        let (jump, rest) = match items.split_first() {
            Some((Json::Array(jump), rest)) => (Some(self.scope_jump(jump)?), rest),
            _ => (None, items),
        };
        let mut segs: Vec<Cow<'static, str>> = Vec::with_capacity(rest.len());
        for seg in rest {
            match seg {
                Json::String(s) => segs.push(Cow::Owned(s.clone())),
                Json::Number(n) => segs.push(Cow::Owned(number_text(n))),
                _ if is_expression(seg) && jump.is_none() => return self.computed(Op::ValDyn, args, depth),
                other => {
                    return Err(self.err(format!(
                        "`val` path segments are strings or numbers{}; found `{}`",
                        if jump.is_some() { " when the path jumps scopes" } else { "" },
                        show(other)
                    )))
                }
            }
        }
        let name = segs.join(".");
        self.read(&name, segs, jump.unwrap_or(0), depth)
    }

    fn scope_jump(&self, jump: &[Json]) -> Res<u32> {
        match jump {
            [Json::Number(n)] => Ok(n.as_f64().map_or(0.0, f64::abs).min(f64::from(u32::MAX)) as u32),
            _ => Err(self.err(format!(
                "a scope jump is written `[n]`, like `{{\"val\": [[1], \"index\"]}}`; found `{}`",
                show(&Json::Array(jump.to_vec()))
            ))),
        }
    }

    fn missing(&mut self, args: &Json, depth: usize) -> Res<u32> {
        let names: &[Json] = match args {
            Json::Array(a) => match a.first() {
                Some(Json::Array(inner)) => inner,
                _ => a,
            },
            other => std::slice::from_ref(other),
        };
        if names.iter().all(|n| matches!(n, Json::String(_) | Json::Number(_))) {
            return self.missing_static(None, names, depth);
        }
        self.dynamic_names("missing")?;
        if is_expression(args) {
            let m = self.mark();
            let kid = self.arg(0, args, depth)?;
            return self.op_node(m, Op::MissingDyn, true, &[kid]);
        }
        self.simple(Op::MissingDyn, as_list(args), depth)
    }

    fn missing_some(&mut self, args: &Json, depth: usize) -> Res<u32> {
        self.need_array("missing_some", args)?;
        let list = as_list(args);
        self.arity("missing_some", list.len(), 2, Some(2))?;
        match list {
            [need, Json::Array(names)]
                if names.iter().all(|n| matches!(n, Json::String(_) | Json::Number(_))) =>
            {
                self.missing_static(Some(need), names, depth)
            }
            _ => {
                self.dynamic_names("missing_some")?;
                self.simple(Op::MissingSomeDyn, list, depth)
            }
        }
    }

    fn dynamic_names(&self, name: &str) -> Res<()> {
        if self.scope == 0 && !self.res.dynamic_vars() {
            return Err(self.err(format!(
                "the names given to `{name}` must be constant here, like `{{\"{name}\": [\"a\", \"b.c\"]}}`"
            )));
        }
        Ok(())
    }

    fn missing_static(&mut self, need: Option<&Json>, names: &[Json], depth: usize) -> Res<u32> {
        let mut kids = Vec::with_capacity(names.len() + 1);
        if let Some(need) = need {
            kids.push(self.arg(0, need, depth)?);
        }
        let outer = if need.is_some() { self.enter_arg(1) } else { self.path.len() };
        for (i, name) in names.iter().enumerate() {
            let text = match name {
                Json::Number(n) => number_text(n),
                other => other.as_str().unwrap_or_default().to_owned(),
            };
            let mark = self.enter_arg(i);
            let read = self.read(&text, split_path(&text), 0, depth + 1);
            self.leave(mark);
            kids.push(read?);
        }
        self.leave(outer);
        let names = self.add_const(Value::Array(names.iter().map(Value::from_json).collect()))?;
        let (start, len) = self.add_kids(&kids)?;
        self.push(Node::Missing { some: need.is_some(), names, start, len })
    }

    fn exists(&mut self, args: &Json, depth: usize) -> Res<u32> {
        let mut segs: Vec<Cow<'static, str>> = Vec::new();
        for seg in as_list(args) {
            match seg {
                Json::String(s) => segs.push(Cow::Owned(s.clone())),
                Json::Number(n) => segs.push(Cow::Owned(number_text(n))),
                other => {
                    return Err(self.err(format!(
                        "`exists` takes a constant path: a key, or keys like `[\"a\", \"b\"]`; found `{}`",
                        show(other)
                    )))
                }
            }
        }
        let m = self.mark();
        let name = segs.join(".");
        let read = self.read(&name, segs, 0, depth + 1)?;
        self.op_node(m, Op::Exists, false, &[read])
    }

    // ---- scoped operators -------------------------------------------------------------------

    fn iterator(&mut self, name: &str, args: &Json, depth: usize) -> Res<u32> {
        let (op, max) = match name {
            "map" => (Op::Map, 2),
            "filter" => (Op::Filter, 2),
            "all" => (Op::All, 2),
            "some" => (Op::Some, 2),
            "none" => (Op::None, 2),
            _ => (Op::Reduce, 3),
        };
        self.need_array(name, args)?;
        let list = as_list(args);
        self.arity(name, list.len(), 2, Some(max))?;
        let [source, body, rest @ ..] = list else { return Err(self.err("missing arguments")) };
        if !(source.is_array() || is_expression(source)) {
            let mark = self.enter_arg(0);
            let e = self.err(format!(
                "the first argument of `{name}` is the array to go through, or an expression giving one; found `{}`",
                show(source)
            ));
            self.leave(mark);
            return Err(e);
        }
        if body.is_null() && matches!(op, Op::Map | Op::Filter) {
            let mark = self.enter_arg(1);
            let e = self.err(format!(
                "the second argument of `{name}` is the expression to apply to each item; found `null`"
            ));
            self.leave(mark);
            return Err(e);
        }
        let m = self.mark();
        let mut kids = vec![self.arg(0, source, depth)?];
        self.scope += 1;
        let body = self.arg(1, body, depth);
        self.scope -= 1;
        kids.push(body?);
        if let Some(init) = rest.first() {
            kids.push(self.arg(2, init, depth)?);
        }
        self.op_node(m, op, false, &kids)
    }

    fn try_(&mut self, list: &[Json], depth: usize) -> Res<u32> {
        self.arity("try", list.len(), 1, None)?;
        let m = self.mark();
        let mut kids = Vec::with_capacity(list.len());
        for (i, json) in list.iter().enumerate() {
            // Handlers see the error as their data, one scope below.
            self.scope += u32::from(i > 0);
            let kid = self.arg(i, json, depth);
            self.scope -= u32::from(i > 0);
            kids.push(kid?);
        }
        self.op_node(m, Op::Try, false, &kids)
    }

    // ---- domain operators -------------------------------------------------------------------

    fn sem_ver(&mut self, list: &[Json], depth: usize) -> Res<u32> {
        self.arity("sem_ver", list.len(), 3, Some(3))?;
        for (i, json) in list.iter().enumerate() {
            let problem = match (i, json) {
                (1, Json::String(op)) if !semver::OPERATORS.contains(&op.as_str()) => Some(format!(
                    "unknown `sem_ver` operator `{op}`; expected one of {}",
                    semver::OPERATORS.map(|o| format!("`{o}`")).join(", ")
                )),
                (_, Json::String(v)) if i != 1 && semver::parse(v).is_none() => Some(format!(
                    "`{v}` is not a semantic version; expected `MAJOR[.MINOR[.PATCH]]` with optional pre-release and build, like `1.2.3` or `v2.0.0-rc.1`"
                )),
                (_, Json::Null | Json::Bool(_) | Json::Number(_) | Json::Array(_)) => Some(format!(
                    "`sem_ver` compares strings, like `{{\"sem_ver\": [{{\"var\": \"app.version\"}}, \">=\", \"1.2.0\"]}}`; found `{}`",
                    show(json)
                )),
                _ => None,
            };
            if let Some(message) = problem {
                let mark = self.enter_arg(i);
                let e = self.err(message);
                self.leave(mark);
                return Err(e);
            }
        }
        self.simple(Op::SemVer, list, depth)
    }

    fn fractional(&mut self, args: &Json, depth: usize) -> Res<u32> {
        let Json::Array(list) = args else {
            return Err(self.err(format!(
                "`fractional` takes an array: an optional bucketing key, then buckets like `[\"on\", 50]`; found `{}`",
                show(args)
            )));
        };
        let (key, buckets, offset) = match list.split_first() {
            Some((key, rest)) if !key.is_array() => (Some(key), rest, 1),
            _ => (None, list.as_slice(), 0),
        };
        if buckets.is_empty() {
            return Err(self.err("`fractional` needs at least one bucket, like `[\"on\", 50]`"));
        }
        for (i, bucket) in buckets.iter().enumerate() {
            if let Some(message) = bucket_problem(bucket) {
                let mark = self.enter_arg(i + offset);
                let e = self.err(message);
                self.leave(mark);
                return Err(e);
            }
        }
        let m = self.mark();
        let mut kids = Vec::with_capacity(buckets.len() + 1);
        kids.push(match key {
            Some(key) => self.arg(0, key, depth)?,
            // The default key is the root variable `targetingKey`, even inside a scope.
            None => self.read("targetingKey", vec![Cow::Borrowed("targetingKey")], u32::MAX, depth + 1)?,
        });
        for (i, bucket) in buckets.iter().enumerate() {
            kids.push(self.arg(i + offset, bucket, depth)?);
        }
        self.op_node(m, Op::Fractional, false, &kids)
    }

    // ---- host operators ---------------------------------------------------------------------

    fn host(&mut self, name: &str, list: &[Json], depth: usize) -> Res<u32> {
        let call = match self.res.host_op(name, list) {
            Ok(Some(call)) => call,
            Ok(None) => return Err(self.unknown(name)),
            Err(message) => return Err(self.err(message)),
        };
        let mut kids = Vec::with_capacity(call.args.len());
        for &pos in &call.args {
            let Some(json) = list.get(usize::from(pos)) else {
                return Err(self.err(format!(
                    "host operator `{name}` wants argument {pos}, but {} {} given",
                    list.len(),
                    if list.len() == 1 { "was" } else { "were" }
                )));
            };
            kids.push(self.arg(usize::from(pos), json, depth)?);
        }
        let (start, len) = self.add_kids(&kids)?;
        self.push(Node::Host { op: call.op, imm: call.imm, start, len })
    }
}

/// How an operator takes its arguments.
enum Kind {
    /// An argument array with at least `.0` and at most `.1` items.
    Array(usize, Option<usize>),
    /// An array, or a single value taken as one argument.
    Fixed(usize, Option<usize>),
    /// Like `Fixed` with a minimum, or one expression whose array result is spread.
    Spread(usize),
}

/// A `var` path split on dots; the empty path is the whole data.
fn split_path(text: &str) -> Vec<Cow<'static, str>> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split('.').map(|s| Cow::Owned(s.to_owned())).collect()
}

/// What is wrong with a literal `fractional` bucket, if anything.
fn bucket_problem(bucket: &Json) -> Option<String> {
    const SHAPE: &str = "a `fractional` bucket is `[variant, weight]` or `[variant]`";
    let Json::Array(parts) = bucket else {
        return Some(format!("{SHAPE}; found `{}`", show(bucket)));
    };
    match parts.as_slice() {
        [] | [_, _, _, ..] => Some(format!("{SHAPE}; found `{}`", show(bucket))),
        [Json::Array(_), ..] => Some(format!(
            "a `fractional` variant is a string, number, boolean or null; found `{}`",
            show(bucket)
        )),
        [_, Json::Number(w)] => {
            let w = w.as_f64().unwrap_or(f64::NAN);
            let whole = w.is_finite() && w >= 0.0 && w.fract() == 0.0 && w <= f64::from(i32::MAX);
            (!whole)
                .then(|| format!("a `fractional` weight is a whole number from 0 to 2147483647; found `{w}`"))
        }
        [_, Json::String(_) | Json::Bool(_) | Json::Array(_)] => {
            Some(format!("a `fractional` weight is a whole number; found `{}`", show(bucket)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::distance;

    #[test]
    fn distance_counts_swaps_as_one_edit() {
        assert_eq!(distance("segmnet", "segment"), 1);
        assert_eq!(distance("mpa", "map"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
