//! `kairos simulate` refusing a journey file: each error at `path:LINE:COLUMN:`, naming the step
//! and the field, in the model compiler's words.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

#[allow(clippy::expect_used, clippy::panic, reason = "test helpers, shared with the other test files")]
mod common;
use common::{kairos, root, text};

use std::sync::atomic::{AtomicUsize, Ordering};

/// Replays birthday.json with `from` (once in it) replaced by `to` without its `‸`, with and
/// without `--json`, and asserts that each of `cases` is refused (exit 2, nothing on stdout) with
/// exactly `error: PATH:LINE:COLUMN: message`, at the `‸`.
fn refused(cases: &[(&str, &str, &str)]) {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let birthday = std::fs::read_to_string(root().join("tests/fixtures/journeys/birthday.json")).unwrap();
    for (from, to, message) in cases {
        assert_eq!(birthday.matches(from).count(), 1, "{from}");
        let marked = birthday.replace(from, to);
        let before = &marked[..marked.find('‸').unwrap()];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        let journey =
            std::env::temp_dir().join(format!("kairos-journey-error-{}-{n}.json", std::process::id()));
        std::fs::write(&journey, marked.replace('‸', "")).unwrap();
        let model = root().join("examples/taste-of-su/model.json");
        let args = ["simulate", "--model", model.to_str().unwrap(), "--journey", journey.to_str().unwrap()];
        for json in [&[][..], &["--json"]] {
            let out = kairos(&[&args[..], json].concat());
            assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
            assert_eq!(text(&out.stdout), "");
            let want = format!("error: {}:{line}:{column}: {message}\n", journey.display());
            assert_eq!(text(&out.stderr), want);
        }
        std::fs::remove_file(&journey).ok();
    }
}

/// A step that is not one was named by no number, and by serde's position after its end: for
/// a step written over two lines, the line of the next step (`"trait"` in step 3 of
/// birthday.json read `line 11 column 4`). `"do": ""` read unknown `do`: `` (review). Then by
/// the line alone: now the column too, of the field's name (or of the step, for a step that is
/// not one).
#[test]
fn simulate_names_the_step_by_number_and_line() {
    let actions = "one of `consent`, `identify`, `traits`, `track`, `decide`, `check`, `forget`";
    refused(&[
        (
            r#""do": "traits", "traits""#,
            r#""do": "traits", ‸"trait""#,
            "step 3: unknown field `trait` in a `traits` step; did you mean `traits`? (one of `at`, `do`, \
             `note`, `expect`, `traits`, `expires`)",
        ),
        (
            r#"{ "at": "2026-11-20T09:00:00+08:00", "do": "consent""#,
            r#"‸{ "at": "2026-11-20T09:00:00+08:00", "do": """#,
            &format!("step 1: `do` is empty: it names the action, {actions}"),
        ),
        (
            r#"{ "at": "2026-11-20T09:00:00+08:00", "do": "consent", "#,
            r#"‸{ "at": "2026-11-20T09:00:00+08:00", "#,
            &format!("step 1: `do` is missing: it names the action, {actions}"),
        ),
        (
            r#"{ "at": "2026-11-26T09:01:00+08:00", "do": "forget""#,
            r#"‸{ "at": "2026-11-26T09:01:00+08:00", "do": "forgot""#,
            "step 6: unknown `do`: `forgot`; did you mean `forget`?",
        ),
        (
            r#"{ "at": "2026-11-26T09:02:00+08:00", "do": "decide", "placement": "home_offers", "#,
            r#"‸{ "at": "2026-11-26T09:02:00+08:00", "do": "decide", "#,
            "step 7: missing field `placement`",
        ),
        // Found before the journey runs: the place, the step by its number.
        (
            r#""at": "2026-11-20T09:02:00+08:00""#,
            r#"‸"at": "2026-11-20 09:02""#,
            "step 3, at: `2026-11-20 09:02` is not an RFC 3339 time",
        ),
        (
            r#""stage": "window""#,
            r#"‸"stage": "windwo""#,
            "step 2, expect.stage: no stage `windwo` in the model; did you mean `window`?",
        ),
        (
            r#""install_id": "00000000000000e5""#,
            r#"‸"install_id": "e5""#,
            "install_id `e5` is not 16 hex digits",
        ),
    ]);
}

/// A field of the wrong type was not named: `step 1: invalid type: string "yes", expected a
/// boolean` (serde reads the action's fields flattened, without their names), nor pointed at.
#[test]
fn simulate_names_the_field_of_the_wrong_type() {
    refused(&[
        (r#""value": true"#, r#"‸"value": "yes""#, r#"step 1, value: the text "yes" is not true or false"#),
        (
            r#""placement": "home_offers""#,
            r#"‸"placement": ["home_offers"]"#,
            "step 7, placement: a list `[ ]` is not text in double quotes",
        ),
        (r#""stage": "window""#, r#"‸"stage": 5"#, "step 2, expect.stage: `5` is not text in double quotes"),
        (
            r#""segments": ["member"]"#,
            r#"‸"segments": "member""#,
            r#"step 5, expect.segments: the text "member" is not a list in [ ]"#,
        ),
        (
            r#""note": "she asks to be forgotten""#,
            r#"‸"note": false"#,
            "step 6, note: `false` is not text in double quotes",
        ),
        // A field of the journey itself: where serde_json found it, at its value.
        (
            r#""install_id": "00000000000000e5""#,
            r#""install_id": ‸5"#,
            "install_id: `5` is not text in double quotes",
        ),
    ]);
}

/// An unknown field in `expect` read `step 2: unknown field `stag`, expected one of …`: not
/// where (`expect` or the step), nor which field was meant.
#[test]
fn simulate_names_expect_with_an_unknown_field_in_it() {
    let fields = "`stage`, `segments`, `items`, `reason`, `outbox`, `error`";
    refused(&[
        (
            r#""stage": "window""#,
            r#"‸"stag": "window""#,
            &format!("step 2: unknown field `stag` in `expect`; did you mean `stage`? (one of {fields})"),
        ),
        (
            r#""outbox": ["forgotten"]"#,
            r#"‸"recorded": ["forgotten"]"#,
            &format!("step 6: unknown field `recorded` in `expect`, expected one of {fields}"),
        ),
        // Only a decision has a reason: at `reason`, not at the step.
        (
            r#""stage": "window""#,
            r#"‸"reason": "chosen""#,
            "step 2, expect.reason: only a `decide` step has reason, not a `track` step",
        ),
    ]);
}

/// A journey that is not JSON read serde's words (`trailing comma at line 7 column 74`), without
/// the hints `kairos check` gives for the same mistake in a model; a name given twice, serde's
/// `at line 7 column 80` after the place.
#[test]
fn simulate_explains_json_syntax_errors_as_compile_does() {
    refused(&[
        (
            r#""value": true },"#,
            r#""value": true‸, },"#,
            "steps[0]: trailing comma: a `,` with nothing after it in its list or object; remove it",
        ),
        (
            r#"  "install_id""#,
            "  ‸// the demo's install\n  \"install_id\"",
            "key must be a string: JSON allows no comments; remove it",
        ),
        (
            r#""install_id""#,
            "‸'install_id'",
            "key must be a string: JSON names and text use double quotes `\"`, not single quotes `'`",
        ),
        (
            r#""value": true"#,
            r#""value": ‸True"#,
            "steps[0].value: `True` is not JSON: write `true` (`true`, `false` and `null`, in lower case)",
        ),
        (
            r#""value": true },"#,
            r#""value": true }‸"#,
            "steps: expected `,` or `]`: missing `,` at the end of line 7?",
        ),
        (
            r#""no_consent""#,
            r#"‸"no_consent"#,
            "steps[6].expect.reason: the text in quotes that starts on line 18 is not closed: add its \
             closing `\"`",
        ),
        (
            "\"expect\": { \"items\": [], \"reason\": \"no_consent\" } }\n  ]\n}",
            "\"expect\": ‸{ \"items\": [], \"reason\": \"no_consent\"",
            "steps[6].expect: the file ends before the `{` on line 18 is closed: a `}` is missing",
        ),
        (
            "  ]\n}",
            "  ]\n}\n‸}",
            "text after the end of the journey: the `}` on line 20 closes the journey's `{`; is it one `}` \
             too many?",
        ),
        (
            r#""value": true"#,
            r#""value": true, "value‸": false"#,
            "steps[0]: `value` is given twice in this object (only one would count): keep one",
        ),
    ]);
}
