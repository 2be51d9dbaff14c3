//! Which top-level condition of a rule decides it, for `explain`.

use alloc::{vec, vec::Vec};

use super::rule::{Node, Op};
use super::{eval, Env, Rule};

/// One top-level condition of an `and` / `or` rule (or the whole rule otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    /// Its place under the rule: `and[1]`, `or[0]`, or the whole rule for `None`.
    pub index: Option<usize>,
    /// Its truth; an evaluation error counts as false.
    pub value: bool,
    /// When the condition is a host operator call, `(op, imm)` (e.g. a segment).
    pub host: Option<(u16, u32)>,
}

/// The rule's connective (`"and"`, `"or"`, or `""` for anything else) and its conditions,
/// each evaluated on its own. Evaluation does not short-circuit, so every condition is reported.
pub fn conditions<E: Env>(rule: &Rule, env: &E) -> (&'static str, Vec<Condition>) {
    let root = rule.nodes.len().saturating_sub(1);
    let host_of = |idx: usize| match rule.nodes.get(idx) {
        Some(Node::Host { op, imm, .. }) => Some((*op, *imm)),
        _ => None,
    };
    let truth = |idx: usize| u32::try_from(idx).is_ok_and(|i| eval::truth_at(rule, env, i).unwrap_or(false));
    if let Some(Node::Op { op: op @ (Op::And | Op::Or), spread: false, start, len }) = rule.nodes.get(root) {
        let (start, len) = (*start as usize, *len as usize);
        if let Some(kids) = rule.kids.get(start..start.saturating_add(len)) {
            let name = if *op == Op::And { "and" } else { "or" };
            let mut list = Vec::with_capacity(kids.len());
            for (i, &k) in kids.iter().enumerate() {
                list.push(Condition { index: Some(i), value: truth(k as usize), host: host_of(k as usize) });
            }
            return (name, list);
        }
    }
    ("", vec![Condition { index: None, value: truth(root), host: host_of(root) }])
}
