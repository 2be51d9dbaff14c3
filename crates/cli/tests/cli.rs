//! The `kairos` command, run as a user would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;
use common::{kairos, root, text};

#[test]
fn check_and_compile_the_example() {
    let out = kairos(&["check", "examples/taste-of-su/model.json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok: `Taste of Su` version 1, 7 stages, 8 segments"));
    let dir = std::env::temp_dir().join(format!("kairos-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snap = dir.join("snap.kairos");
    let out = kairos(&["compile", "examples/taste-of-su/model.json", "-o", snap.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&snap).unwrap();
    assert_eq!(kairos::snapshot::decode(&bytes).unwrap().name, "Taste of Su");
    std::fs::remove_dir_all(&dir).ok();
}

/// Regression: the temporary file had a fixed name (`x.tmp~`, shared by `-o x.kairos` and
/// `-o x.bin`) and was left behind when the rename failed.
#[test]
fn compile_leaves_no_temporary_file_behind() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-tmp-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let out =
        kairos(&["compile", "examples/taste-of-su/model.json", "-o", dir.join("out").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("out: "), "{}", text(&out.stderr));
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["out"], "only the folder that was in the way");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_broken_model_names_the_place_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text_model = std::fs::read_to_string(root().join("examples/taste-of-su/model.json")).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, text_model.replace("\"segment\": \"hipo\"", "\"segment\": \"hippo\"")).unwrap();
    let out = kairos(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("the model has 1 error"), "{err}");
    assert!(
        err.contains("offers[0].audience.and[1].segment: unknown segment `hippo`; did you mean `hipo`?"),
        "{err}"
    );
    let out = kairos(&["check", dir.join("missing.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.json: No such file"));
    // A missing field names the line where its object starts (review: serde's closing brace).
    let at = text_model.find(r#""id": "festival_sale""#).unwrap();
    let start = text_model[..at].rfind('{').unwrap();
    let line = text_model[..start].matches('\n').count() + 1;
    let placements = text_model[at..].find(r#""placements": "#).unwrap() + at;
    let end = text_model[placements..].find('\n').unwrap() + placements + 1;
    std::fs::write(&bad, format!("{}{}", &text_model[..placements], &text_model[end..])).unwrap();
    let out = kairos(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("bad.json:{line}: offers[4]: missing field `placements`\n")),
        "line {line}: {}",
        text(&out.stderr)
    );
    // A field the model itself misses: the line where the model starts.
    let mut no_meta: serde_json::Value = serde_json::from_str(&text_model).unwrap();
    no_meta.as_object_mut().unwrap().remove("meta");
    std::fs::write(&bad, format!("\n\n{no_meta}")).unwrap();
    let err = text(&kairos(&["check", bad.to_str().unwrap()]).stderr);
    assert!(err.contains("bad.json:3: missing field `meta`"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn simulate_prints_the_journey_and_json_lines() {
    let out = kairos(&["simulate", "--journey", "tests/fixtures/journeys/lizzy.json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("decide home_hero         -> welcome_story “The story of the Qipao”"), "{s}");
    assert!(!s.contains("MISMATCH"));
    let out = kairos(&["simulate", "--json", "--journey", "tests/fixtures/journeys/nancy.json"]);
    let lines: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 13);
    assert_eq!(lines[2]["items"][0], "join_discount");
    assert_eq!(lines[3]["outbox"][0]["type"], "conversion");
}

/// Review finding A2: `check` said ok and `compile` wrote a 17 MB snapshot that `inspect` (and
/// every device) refused. Both now refuse the model, name the size and write nothing.
#[test]
fn a_model_over_the_body_limit_is_refused_by_check_and_compile() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut model: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/taste-of-su/model.json")).unwrap(),
    )
    .unwrap();
    model["offers"][0]["content"]["body"] = serde_json::json!("x".repeat(17_000_000));
    let big = dir.join("big.json");
    std::fs::write(&big, model.to_string()).unwrap();
    let snap = dir.join("big.kairos");
    for args in [
        vec!["check", big.to_str().unwrap()],
        vec!["compile", big.to_str().unwrap(), "-o", snap.to_str().unwrap()],
    ] {
        let out = kairos(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("the model has 1 error:\n  "), "{err}");
        // No line: the size is about the whole model.
        assert!(err.contains("big.json: the compiled model is 16.2 MiB ("), "{err}");
        assert!(
            err.contains("bytes), over the 16 MiB limit that devices accept; the biggest part is content"),
            "{err}"
        );
    }
    assert!(!snap.exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// Review finding B2: a file saved by Windows Notepad (with a byte order mark) failed with
/// `expected value`, and a GBK or UTF-16 file with `stream did not contain valid UTF-8`.
#[test]
fn file_encodings_are_named_and_a_byte_order_mark_is_skipped() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-enc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = std::fs::read_to_string(root().join("examples/taste-of-su/model.json")).unwrap();
    let bom = dir.join("bom.json");
    std::fs::write(&bom, format!("\u{feff}{model}")).unwrap();
    let out = kairos(&["check", bom.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // "还在犹豫吗" in GBK, on line 3.
    let gbk = dir.join("gbk.json");
    let mut bytes = b"{\n  \"meta\": {\n    \"name\": \"".to_vec();
    bytes.extend_from_slice(&[0xbb, 0xb9, 0xd4, 0xda, 0xd3, 0xcc, 0xd4, 0xa5, 0xc2, 0xf0]);
    bytes.extend_from_slice(b"\"\n  }\n}\n");
    std::fs::write(&gbk, bytes).unwrap();
    let out = kairos(&["check", gbk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: {}: the file is not UTF-8 (line 3 has a byte that is not; saved as GBK or another legacy \
             encoding?); save it as UTF-8\n",
            gbk.display()
        )
    );

    // The last: mostly Chinese, without a byte order mark (final review: called "not a text file").
    let chinese = format!("{{ \"meta\": {{ \"name\": \"{}\" }} }}", "苏韵旗袍".repeat(200));
    for (name, bom, text_of) in
        [("utf16le.json", true, &model), ("utf16be.json", false, &model), ("utf16zh.json", false, &chinese)]
    {
        let path = dir.join(name);
        let mut bytes = if bom { vec![0xff, 0xfe] } else { Vec::new() };
        for unit in text_of.encode_utf16() {
            bytes.extend_from_slice(&if bom { unit.to_le_bytes() } else { unit.to_be_bytes() });
        }
        std::fs::write(&path, bytes).unwrap();
        let out = kairos(&["check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            text(&out.stderr),
            format!("error: {}: the file is UTF-16; save it as UTF-8\n", path.display())
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Review finding C1: `simulate --model M` refused a journey without a `model` field
/// ("missing field `model`"), although `--model` is documented to replace it.
#[test]
fn simulate_with_a_model_needs_no_model_in_the_journey() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-journey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journey = dir.join("anon.json");
    std::fs::write(
        &journey,
        r#"{ "name": "anon", "install_id": "00000000000000a1", "steps": [
             { "at": "2026-11-20T09:00:00+08:00", "do": "consent", "value": true },
             { "at": "2026-11-20T09:04:00+08:00", "do": "decide", "placement": "home_hero",
               "context": { "page": "home" }, "expect": { "items": ["brand_story"] } } ] }"#,
    )
    .unwrap();
    let model = root().join("examples/taste-of-su/model.json");
    let out =
        kairos(&["simulate", "--model", model.to_str().unwrap(), "--journey", journey.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("-> brand_story"), "{}", text(&out.stdout));
    assert!(!text(&out.stdout).contains("MISMATCH"), "{}", text(&out.stdout));

    let out = kairos(&["simulate", "--journey", journey.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!("error: {}: the journey names no `model`; pass --model model.json\n", journey.display())
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Marketer review B4: warnings named the place in the model but not the line, as errors do.
#[test]
fn warnings_name_the_line_as_errors_do() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text_model = std::fs::read_to_string(root().join("examples/taste-of-su/model.json")).unwrap();
    let audience = r#""audience": { "and": [{ "segment": "new_follower" }, { "segment": "hipo" }] }"#;
    let line = text_model.lines().position(|l| l.contains(audience)).unwrap() + 1;
    let m = dir.join("warn.json");
    std::fs::write(
        &m,
        text_model.replacen(audience, r#""audience": {"==": [{"var": "traits.hipo"}, "true"]}"#, 1),
    )
    .unwrap();
    for args in [
        vec!["check", m.to_str().unwrap()],
        vec!["compile", m.to_str().unwrap(), "-o", dir.join("w.kairos").to_str().unwrap()],
    ] {
        let out = kairos(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("warn.json:{line}: warning: offers[0].audience.==: `traits.hipo`")),
            "{err}"
        );
    }
    let out = kairos(&["check", m.to_str().unwrap()]);
    assert!(text(&out.stdout).ends_with("1 warning\n"), "{}", text(&out.stdout));
    std::fs::remove_dir_all(&dir).ok();
}

/// Review of the command: a misspelt step field (`expext`) was ignored, so the expectation
/// vanished and the journey passed; an `expires` that was not a time was dropped (the traits never
/// expired); `install_id` "a1" was taken; `items` expected of a non-decide step checked nothing;
/// `--json` lines did not say which journey they came from; a stage mismatch read `Some("x")`.
#[test]
fn simulate_refuses_what_would_check_nothing() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = root().join("examples/taste-of-su/model.json");
    let run = |name: &str, install: &str, steps: &str, json: bool| {
        let journey = dir.join(name);
        std::fs::write(
            &journey,
            format!(r#"{{ "name": "x", "install_id": "{install}", "steps": [{steps}] }}"#),
        )
        .unwrap();
        let mut args =
            vec!["simulate", "--model", model.to_str().unwrap(), "--journey", journey.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        (kairos(&args), journey)
    };
    let consent = r#"{ "at": "2026-11-20T09:00:00+08:00", "do": "consent", "value": true }"#;
    let fails = |out: &std::process::Output, needle: &str| {
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
        assert!(text(&out.stderr).contains(needle), "`{needle}` in: {}", text(&out.stderr));
    };
    let typo = format!(
        r#"{consent}, {{ "at": "2026-11-20T09:04:00+08:00", "do": "decide", "placement": "home_hero",
           "context": {{ "page": "home" }}, "expext": {{ "items": ["nonexistent"] }} }}"#
    );
    fails(
        &run("typo.json", "00000000000000a1", &typo, false).0,
        "unknown field `expext` in a `decide` step; did you mean `expect`? (one of `at`, `do`, `note`, \
         `expect`, `placement`, `context`)",
    );
    // CLI review: a misspelt action was reported as its fields being unknown, and expectations
    // naming what the model lacks ran and only ever mismatched.
    let decde = format!(
        r#"{consent}, {{ "at": "2026-11-20T09:04:00+08:00", "do": "decde", "placement": "home_hero" }}"#
    );
    fails(
        &run("decde.json", "00000000000000a1", &decde, false).0,
        "unknown `do`: `decde`; did you mean `decide`?",
    );
    // Review: `"do": 5` was called unknown `do`: `` (an empty action).
    let number = format!(r#"{consent}, {{ "at": "2026-11-20T09:04:00+08:00", "do": 5 }}"#);
    fails(
        &run("do5.json", "00000000000000a1", &number, false).0,
        "`do` must be text naming the action, not `5`: one of `consent`, `identify`,",
    );
    let never = [
        (
            r#""stage": "anonymus""#,
            "step 2, expect.stage: no stage `anonymus` in the model; did you mean `anonymous`?",
        ),
        (
            r#""items": ["brand_stry"]"#,
            "step 2, expect.items: no offer `brand_stry` in the model; did you mean `brand_story`?",
        ),
        (
            r#""segments": ["hippo"]"#,
            "step 2, expect.segments: no segment `hippo` in the model; did you mean `hipo`?",
        ),
        (
            r#""reason": "choosen""#,
            "step 2, expect.reason: no reason `choosen` in the model; did you mean `chosen`?",
        ),
        // Review: who is held out sees no variant, so this ran and could only ever mismatch.
        (
            r#""items": ["winback/miss_you (control)"]"#,
            "step 2, expect.items: `winback/miss_you (control)`: a control item has no variant; write \
             `winback (control)`",
        ),
    ];
    for (expect, message) in never {
        let steps = format!(
            r#"{consent}, {{ "at": "2026-11-20T09:04:00+08:00", "do": "decide", "placement": "home_hero", "expect": {{ {expect} }} }}"#
        );
        fails(&run("never.json", "00000000000000a1", &steps, false).0, message);
    }
    let expires = format!(
        r#"{consent}, {{ "at": "2026-11-20T09:01:00+08:00", "do": "traits", "traits": {{ "tier": "gold" }}, "expires": "2026-11-21" }}"#
    );
    fails(
        &run("expires.json", "00000000000000a1", &expires, false).0,
        "step 2, expires: `2026-11-21` is not an RFC 3339 time",
    );
    // Marketer review: a `traits` step took an anniversary with its year, which a device refuses
    // in the signed token that brings traits in production, so the journey passed falsely.
    let year = format!(
        r#"{consent}, {{ "at": "2026-11-20T09:01:00+08:00", "do": "traits", "traits": {{ "tier": "gold", "birthday": "1996-11-25" }} }},
           {{ "at": "2026-11-20T09:02:00+08:00", "do": "check", "expect": {{ "segments": [] }} }}"#
    );
    let (out, _) = run("year.json", "00000000000000a1", &year, true);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let step: serde_json::Value = serde_json::from_str(text(&out.stdout).lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        step["error"],
        "traits.birthday: an anniversary in a token must be `MM-DD`, without the year (stored state keeps \
         the token as signed, and the year is personal data Kairos does not keep)"
    );
    assert!(text(&out.stderr).contains("(first at step 2)"), "{}", text(&out.stderr));
    fails(&run("id.json", "a1", consent, false).0, "install_id `a1` is not 16 hex digits");
    fails(&run("id18.json", "00000000000000a1ff", consent, false).0, "is not 16 hex digits");
    let items = format!(
        r#"{consent}, {{ "at": "2026-11-20T09:02:00+08:00", "do": "check", "expect": {{ "items": [] }} }}"#
    );
    fails(
        &run("items.json", "00000000000000a1", &items, false).0,
        "step 2, expect.items: only a `decide` step has items, not a `check` step",
    );
    let twice = format!(
        r#"{consent}, {{ "at": "2026-11-20T09:02:00+08:00", "do": "check", "expect": {{ "stage": "x" }}, "expect": {{}} }}"#
    );
    fails(&run("twice.json", "00000000000000a1", &twice, false).0, "`expect` is given twice in this object");

    let stage = format!(
        r#"{consent}, {{ "at": "2026-11-20T09:02:00+08:00", "do": "check", "expect": {{ "stage": "lapsed" }} }}"#
    );
    let (out, journey) = run("stage.json", "00000000000000a1", &stage, true);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l["journey"], journey.to_str().unwrap(), "each line names its journey");
    }
    // The journey first, then the step's fields in their order.
    assert!(
        text(&out.stdout).starts_with(&format!("{{\"journey\":{:?},\"step\":0,", journey.to_str().unwrap()))
    );
    assert_eq!(lines[1]["mismatches"], serde_json::json!(["stage: expected `lapsed`, got none"]));
    // CLI review of 2026-11-25: the exit code 1 came with nothing on stderr, where CI logs are
    // read first; now it names the journey and the first step (from 1) that failed.
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: 1 of 1 journey did not meet its expectations: {} (first at step 2)\n",
            journey.display()
        )
    );

    // A journey copied out of the repository: its `model` is looked for beside it, and the
    // error names the journey and its field rather than only the path it tried.
    let alone = dir.join("alone.json");
    std::fs::write(
        &alone,
        format!(
            r#"{{ "name": "x", "install_id": "00000000000000a1", "model": "examples/taste-of-su/model.json", "steps": [{consent}] }}"#
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["simulate", "--journey", alone.to_str().unwrap()])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}: its `model` examples/taste-of-su/model.json is not in ",
            alone.display()
        )) && err.ends_with("; pass --model model.json\n"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `kairos token` without `--model` printed the token with no word that its traits were checked
/// against nothing: a trait the model does not have is refused only by the devices.
#[test]
fn token_without_a_model_says_its_traits_were_not_checked() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-token-note-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("brand");
    assert!(kairos(&["keygen", "-o", key.to_str().unwrap()]).status.success());
    let traits = dir.join("traits.json");
    std::fs::write(&traits, r#"{"tier": "gold"}"#).unwrap();
    let key = dir.join("brand.key");
    let base = ["token", "--key", key.to_str().unwrap(), "--user", "00000000000000a1", "--traits"];
    let out = kairos(&[&base[..], &[traits.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = text(&out.stdout);
    assert!(token.starts_with("kt1.") && token.lines().count() == 1, "the token alone: {token}");
    assert_eq!(
        text(&out.stderr),
        "note: traits not checked against a model; pass --model to check them as a device would\n"
    );
    let model = root().join("examples/taste-of-su/model.json");
    let out = kairos(&[&base[..], &[traits.to_str().unwrap(), "--model", model.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "checked: no note");
    // CLI review of 2026-11-25: with --model and no id, clap asked for --user alone.
    let no_one = ["token", "--key", key.to_str().unwrap(), "--traits", traits.to_str().unwrap()];
    for args in [&no_one[..], &[&no_one[..], &["--model", model.to_str().unwrap()]].concat()] {
        let out = kairos(args);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            text(&out.stderr),
            "error: name the shopper: --user PID, or with --model her --phone, --email or --external id\n"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The example model with `offers` (one JSON object a line) put first in its offers, and the
/// line of the first of them.
fn with_offers_first(offers: impl Iterator<Item = serde_json::Value>) -> (String, usize) {
    let model = std::fs::read_to_string(root().join("examples/taste-of-su/model.json")).unwrap();
    let at = model.find("\"offers\": [\n").unwrap() + "\"offers\": [\n".len();
    let first = model[..at].matches('\n').count() + 1;
    let lines: String = offers.map(|o| format!("    {o},\n")).collect();
    (format!("{}{lines}{}", &model[..at], &model[at..]), first)
}

/// Review finding 3: each error's line was found by a scan of the whole model, so 1,000 errors
/// took 13 s and 3,000 took minutes, and every one of them was printed. Now one scan finds them
/// all, and the first 100 errors (and warnings) are listed, then how many more there are.
#[test]
fn many_errors_are_listed_with_their_lines_up_to_a_hundred() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let offer = |k: usize, placement: &str, audience: serde_json::Value| {
        serde_json::json!({ "id": format!("gen_{k}"), "placements": [placement], "stages": ["window"],
            "audience": audience, "priority": 1, "content": { "title": "t" } })
    };
    let (model, first) = with_offers_first((0..250).map(|k| offer(k, "homepage", serde_json::json!(true))));
    let bad = dir.join("many.json");
    std::fs::write(&bad, model).unwrap();
    let out = kairos(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], format!("error: {}: the model has 250 errors:", bad.display()));
    assert_eq!(lines.len(), 102, "{err}");
    for (k, l) in lines[1..101].iter().enumerate() {
        let want = format!(
            "  {}:{}: offers[{k}].placements[0]: unknown placement `homepage`",
            bad.display(),
            first + k
        );
        assert!(l.starts_with(&want), "{l}\nwanted {want}");
    }
    assert_eq!(lines[101], "  … and 150 more errors");

    let hipo = serde_json::json!({"==": [{"var": "traits.hipo"}, "true"]});
    let (model, first) = with_offers_first((0..120).map(|k| offer(k, "home_hero", hipo.clone())));
    let warned = dir.join("warned.json");
    std::fs::write(&warned, model).unwrap();
    let out = kairos(&["check", warned.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("120 warnings\n"), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 101, "{err}");
    for (k, l) in lines[..100].iter().enumerate() {
        let want =
            format!("{}:{}: warning: offers[{k}].audience.==: `traits.hipo`", warned.display(), first + k);
        assert!(l.starts_with(&want), "{l}\nwanted {want}");
    }
    assert_eq!(lines[100], format!("{}: … and 20 more warnings", warned.display()));
    std::fs::remove_dir_all(&dir).ok();
}

/// Review finding 4: a snapshot, a spreadsheet or any binary file given where a model (or a
/// key, a journey) goes was called UTF-16, with the advice to save it as UTF-8.
#[test]
fn a_snapshot_or_a_binary_file_given_for_text_is_named() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snap = dir.join("s.kairos");
    let out = kairos(&["compile", "examples/taste-of-su/model.json", "-o", snap.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A snapshot saved under a `.json` name (diff reads `.json` files as models).
    let as_json = dir.join("snap.json");
    std::fs::copy(&snap, &as_json).unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let snapshot = |p: &std::path::Path| {
        format!(
            "error: {}: the file is a compiled Kairos snapshot, not a model or other text file; \
             `kairos inspect` shows what is in it\n",
            p.display()
        )
    };
    for (args, file) in [
        (vec!["check".to_string(), s(&snap)], &snap),
        (vec!["compile".into(), s(&snap), "-o".into(), s(&dir.join("x.kairos"))], &snap),
        (
            vec![
                "simulate".into(),
                "--model".into(),
                s(&snap),
                "--journey".into(),
                "tests/fixtures/journeys/lizzy.json".into(),
            ],
            &snap,
        ),
        (vec!["inspect".into(), s(&snap), "--key".into(), s(&snap)], &snap),
        (vec!["diff".into(), s(&as_json), "examples/taste-of-su/model.json".into()], &as_json),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kairos(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), snapshot(file), "{args:?}");
    }
    for (name, bytes, what) in [
        (
            "model.xlsx",
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".to_vec(),
            "a ZIP archive, such as an .xlsx spreadsheet",
        ),
        (
            "photo.json",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00".to_vec(),
            "binary data, such as an image or a compiled file",
        ),
        // No NUL, but control characters: not a GBK text either.
        (
            "blob.json",
            b"{\x01\x02\x03\xff\xfe\x10".to_vec(),
            "binary data, such as an image or a compiled file",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = kairos(&["check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            text(&out.stderr),
            format!("error: {}: the file is not a text file ({what})\n", path.display())
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Review finding 5: `compile model.json -o other.json` replaced another model with the binary
/// snapshot, without a word. Only a snapshot (a compile again), a new or an empty file are
/// written without `--force`.
#[test]
fn compile_writes_over_a_snapshot_but_not_over_another_file() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-over-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("model.json");
    std::fs::copy(root().join("examples/taste-of-su/model.json"), &model).unwrap();
    let other = dir.join("other.json");
    std::fs::copy(&model, &other).unwrap();
    let before = std::fs::read(&other).unwrap();
    let compile = |out: &std::path::Path, force: bool| {
        let mut args = vec!["compile", model.to_str().unwrap(), "-o", out.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        kairos(&args)
    };
    let out = compile(&other, false);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: {}: already exists and holds JSON (a model?), not a Kairos snapshot; pass --force to \
             overwrite it, or write the snapshot elsewhere, such as -o {}\n",
            other.display(),
            dir.join("model.kairos").display()
        )
    );
    assert_eq!(std::fs::read(&other).unwrap(), before, "the other model is untouched");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "keep me\n").unwrap();
    let out = compile(&notes, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("notes.txt: already exists and is not a Kairos snapshot; pass --force")
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "keep me\n");

    // Over a snapshot (twice), an empty file, or anything with --force.
    let snap = dir.join("model.kairos");
    for (out, force) in [(&snap, false), (&snap, false), (&notes, true), (&other, true)] {
        let run = compile(out, force);
        assert!(run.status.success(), "{}", text(&run.stderr));
        assert!(std::fs::read(out).unwrap().starts_with(b"KSNP"));
    }
    let empty = dir.join("empty.kairos");
    std::fs::write(&empty, "").unwrap();
    assert!(compile(&empty, false).status.success());

    // CLI review of 2026-11-25: a key under a name without `.key` (as secret stores mount them)
    // was written over with --force. Never, --force or not.
    let secret = dir.join("brand_secret");
    let keygen = kairos(&["keygen", "-o", dir.join("brand").to_str().unwrap()]);
    assert!(keygen.status.success(), "{}", text(&keygen.stderr));
    std::fs::copy(dir.join("brand.key"), &secret).unwrap();
    let key = std::fs::read(&secret).unwrap();
    for force in [false, true] {
        let out = compile(&secret, force);
        assert_eq!(out.status.code(), Some(2), "--force {force}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "error: {}: holds a Kairos key, which -o never writes over, --force or not (a lost \
                 signing key cannot sign updates devices accept); write the snapshot elsewhere, such as \
                 -o {}\n",
                secret.display(),
                dir.join("model.kairos").display()
            )
        );
        assert_eq!(std::fs::read(&secret).unwrap(), key, "the key is untouched");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Review finding 7: a name written with `\u` escapes (as Python's `json.dump` writes any name
/// that is not ASCII) was not decoded when looking for the line, so the line given was that of
/// the enclosing `segments`.
#[test]
fn names_written_with_escapes_get_their_own_line() {
    let dir = std::env::temp_dir().join(format!("kairos-cli-escaped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = std::fs::read_to_string(root().join("examples/taste-of-su/model.json")).unwrap();
    let at = model.find("\"segments\": {\n").unwrap() + "\"segments\": {\n".len();
    let line = model[..at].matches('\n').count() + 1;
    let segment = r#"    "\u65d7\u888d\u8ff7": { ">=": [{ "var": "features.qipao_view_7d" }, 3] },"#;
    let bad = dir.join("escaped.json");
    std::fs::write(&bad, format!("{}{segment}\n{}", &model[..at], &model[at..])).unwrap();
    let out = kairos(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "escaped.json:{line}: segments.旗袍迷.>=[0].var: unknown feature `qipao_view_7d`"
        )),
        "line {line}: {err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// CLI review: `-o` into a folder that is not there said only "No such file or directory".
#[test]
fn writing_into_a_missing_folder_says_so() {
    let missing = std::env::temp_dir().join(format!("kairos-cli-nodir-{}", std::process::id()));
    let model = root().join("examples/taste-of-su/model.json");
    for args in [
        vec![
            "compile".to_string(),
            model.display().to_string(),
            "-o".into(),
            missing.join("x.kairos").display().to_string(),
        ],
        vec!["keygen".to_string(), "-o".into(), missing.join("brand").display().to_string()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kairos(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("the folder {} does not exist; create it first", missing.display())),
            "{err}"
        );
    }
    assert!(!missing.exists());
}
