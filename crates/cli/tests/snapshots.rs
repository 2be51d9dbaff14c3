//! `keygen`, `compile --key`, `inspect`, `diff`, `eval` and `token`, run as a user would; every
//! error path exits non-zero with a readable message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;
use common::{kairos, root, text};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn kairos_stdin(args: &[&str], input: impl AsRef<[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_ref()).unwrap();
    child.wait_with_output().unwrap()
}

/// A fresh temporary folder per test.
fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kairos-snap-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts a failure with `code` whose stderr contains `needle`.
fn fails(out: &Output, code: i32, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}\nstdout: {}", text(&out.stdout));
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}

const MODEL: &str = "examples/taste-of-su/model.json";
/// A pseudonymous id (`Profile::pid`) for tokens.
const USER: &str = "00000000000000b2";

fn model_json() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(MODEL)).unwrap()).unwrap()
}

/// Regression: `--force` over a 0644 file kept 0644 for the new secret key, and a dangling
/// symlink in place of the key file was followed (the key written wherever it pointed).
#[cfg(unix)]
#[test]
fn keygen_writes_the_secret_key_private_and_never_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmp("keygen-modes");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    std::fs::write(d.join("k.key"), "old\n").unwrap();
    std::fs::set_permissions(d.join("k.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = kairos(&["keygen", "-o", s(&d.join("k")), "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&d.join("k.key")), 0o600);
    assert!(std::fs::read_to_string(d.join("k.key")).unwrap().contains("kairos-ed25519-secret:"));

    let elsewhere = d.join("elsewhere.key");
    std::os::unix::fs::symlink(&elsewhere, d.join("l.key")).unwrap();
    fails(&kairos(&["keygen", "-o", s(&d.join("l"))]), 2, "l.key: already exists; pass --force");
    assert!(!elsewhere.exists() && !d.join("l.pub").exists(), "nothing written");
    let out = kairos(&["keygen", "-o", s(&d.join("l")), "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!elsewhere.exists(), "the key was written through the link");
    assert!(std::fs::symlink_metadata(d.join("l.key")).unwrap().file_type().is_file());
    assert_eq!(mode(&d.join("l.key")), 0o600);
    let mut names: Vec<String> =
        std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["k.key", "k.pub", "l.key", "l.pub"], "no temporary file left");
    std::fs::remove_dir_all(&d).ok();
}

/// Regression (backend review, finding 3): `-o brand.2027` wrote `brand.key` and `brand.pub`
/// (the suffix replaced `.2027`), so `--force` overwrote the live signing key.
#[test]
fn keygen_appends_the_suffix_to_a_dotted_name() {
    let d = tmp("keygen-dotted");
    assert!(kairos(&["keygen", "-o", s(&d.join("brand"))]).status.success());
    let live = std::fs::read_to_string(d.join("brand.key")).unwrap();
    let rotation = d.join("brand.2027");
    for force in [false, true] {
        let mut args = vec!["keygen", "-o", s(&rotation)];
        if force {
            std::fs::remove_file(d.join("brand.2027.key")).unwrap();
            std::fs::remove_file(d.join("brand.2027.pub")).unwrap();
            args.push("--force");
        }
        let out = kairos(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("brand.2027.key: secret key"), "{}", text(&out.stdout));
        assert!(std::fs::read_to_string(d.join("brand.2027.key"))
            .unwrap()
            .contains("kairos-ed25519-secret:"));
        assert!(std::fs::read_to_string(d.join("brand.2027.pub"))
            .unwrap()
            .contains("kairos-ed25519-public:"));
        assert_eq!(std::fs::read_to_string(d.join("brand.key")).unwrap(), live, "the live key is untouched");
    }
    // A name ending in `.key` or `.pub` is most likely a mistake for the stem.
    fails(&kairos(&["keygen", "-o", s(&d.join("next.key"))]), 2, "without `.key` or `.pub`");
    let mut names: Vec<String> =
        std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["brand.2027.key", "brand.2027.pub", "brand.key", "brand.pub"]);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn keygen_compile_signed_and_inspect() {
    let d = tmp("sign");
    let out = kairos(&["keygen", "-o", s(&d.join("brand"))]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = std::fs::read_to_string(d.join("brand.key")).unwrap();
    let public = std::fs::read_to_string(d.join("brand.pub")).unwrap();
    assert!(secret.contains("kairos-ed25519-secret:"));
    assert!(public.contains("kairos-ed25519-public:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("brand.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "secret key readable by others");
    }
    // Never overwrite a key silently.
    fails(&kairos(&["keygen", "-o", s(&d.join("brand"))]), 2, "already exists; pass --force");
    assert_eq!(std::fs::read_to_string(d.join("brand.key")).unwrap(), secret);

    let snap = d.join("a.kairos");
    let out = kairos(&["compile", MODEL, "-o", s(&snap), "--key", s(&d.join("brand.key"))]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("signed by key"));
    let bytes = std::fs::read(&snap).unwrap();
    let pk = kairos::sign::PublicKey::parse(&public).unwrap();
    let v = kairos::snapshot::verify(&bytes, &kairos::sign::Trust::key(pk)).unwrap();
    assert_eq!(v.model.name, "Taste of Su");

    let out = kairos(&["inspect", s(&snap), "--key", s(&d.join("brand.pub"))]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(o.contains("`Taste of Su` version 1"), "{o}");
    assert!(o.contains("signed, valid for key"), "{o}");
    assert!(o.contains("10 offers"), "{o}");
    assert!(o.contains("signature          64"), "{o}");
    assert!(o.contains("stages     evaluated once a day"), "{o}");

    let out = kairos(&["inspect", s(&snap), "--json"]);
    let j: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(j["signed"], true);
    assert_eq!(j["version"], 1);
    assert_eq!(j["stages_by_day"], true);
    let sections: u64 = j["sections"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(sections as usize + 48 + 64, bytes.len(), "sections add up to the file");

    // Another key: the signature is reported invalid, exit 1.
    kairos(&["keygen", "-o", s(&d.join("other"))]);
    let out = kairos(&["inspect", s(&snap), "--key", s(&d.join("other.pub"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("signed, INVALID for key"));

    // Unsigned.
    let plain = d.join("plain.kairos");
    assert!(kairos(&["compile", MODEL, "-o", s(&plain)]).status.success());
    assert!(text(&kairos(&["inspect", s(&plain)]).stdout).contains("signature  unsigned"));

    // Stages that read the hour (through a segment) are evaluated at every decision.
    let mut hourly: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(MODEL)).unwrap()).unwrap();
    hourly["segments"]["member"] = json!({"<": [{"hours_since": "signup"}, 24]});
    let (model, snap) = (d.join("hourly.json"), d.join("hourly.kairos"));
    std::fs::write(&model, hourly.to_string()).unwrap();
    assert!(kairos(&["compile", s(&model), "-o", s(&snap)]).status.success());
    let o = text(&kairos(&["inspect", s(&snap)]).stdout);
    assert!(o.contains("stages     evaluated at every decision"), "{o}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn compile_and_inspect_error_paths() {
    let d = tmp("errs");
    let snap = d.join("a.kairos");
    // A key file that is not a secret key.
    std::fs::write(d.join("bad.key"), "hello\n").unwrap();
    fails(
        &kairos(&["compile", MODEL, "-o", s(&snap), "--key", s(&d.join("bad.key"))]),
        2,
        "bad.key: no line starts with `kairos-ed25519-secret:`",
    );
    fails(
        &kairos(&["compile", MODEL, "-o", s(&snap), "--key", s(&d.join("none.key"))]),
        2,
        "none.key: No such file",
    );
    std::fs::write(d.join("short.key"), "kairos-ed25519-secret:AAAA\n").unwrap();
    fails(
        &kairos(&["compile", MODEL, "-o", s(&snap), "--key", s(&d.join("short.key"))]),
        2,
        "the key is 3 bytes, expected 32",
    );
    assert!(!snap.exists(), "nothing written on error");
    // Unwritable output.
    fails(&kairos(&["compile", MODEL, "-o", s(&d.join("no/such/dir.kairos"))]), 2, "dir.kairos");

    // Errors name the file and the line.
    let mut m = model_json();
    m["offers"][1]["placements"] = json!(["nowhere"]);
    let pretty = serde_json::to_string_pretty(&m).unwrap();
    let bad = d.join("bad.json");
    std::fs::write(&bad, &pretty).unwrap();
    let line = pretty.lines().position(|l| l.contains("\"nowhere\"")).unwrap() + 1;
    let out = kairos(&["compile", s(&bad), "-o", s(&snap)]);
    fails(&out, 2, "the model has 1 error");
    let want = format!("{}:", s(&bad));
    let err = text(&out.stderr);
    let msg = err.lines().find(|l| l.contains("nowhere")).unwrap();
    assert!(msg.trim_start().starts_with(&want), "{msg}");
    let at: usize = msg.trim_start()[want.len()..].split(':').next().unwrap().parse().unwrap();
    assert!(at.abs_diff(line) <= 1, "error at line {at}, `nowhere` is on line {line}: {msg}");
    // Syntax errors carry their line too.
    std::fs::write(&bad, "{\n  \"meta\": {\n    \"name\": \"x\",,\n").unwrap();
    fails(&kairos(&["compile", s(&bad), "-o", s(&snap)]), 2, "bad.json:3:");

    // Inspect: missing, not a snapshot, corrupt.
    fails(&kairos(&["inspect", s(&d.join("missing.kairos"))]), 2, "missing.kairos: No such file");
    fails(&kairos(&["inspect", MODEL]), 2, "this is not a Kairos snapshot");
    assert!(kairos(&["compile", MODEL, "-o", s(&snap)]).status.success());
    let mut bytes = std::fs::read(&snap).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(&snap, &bytes).unwrap();
    fails(&kairos(&["inspect", s(&snap)]), 2, "snapshot is corrupt: body checksum mismatch");
    std::fs::write(&snap, &bytes[..20]).unwrap();
    fails(&kairos(&["inspect", s(&snap)]), 2, "shorter than the 48-byte header");
    fails(&kairos(&["inspect", MODEL, "--key", s(&d.join("bad.key"))]), 2, "not a Kairos public key");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn diff_covers_placements_events_and_settings_and_warns_about_what_devices_will_refuse() {
    let d = tmp("diff-all");
    let mut m = model_json();
    m["meta"]["version"] = json!(2);
    m["meta"]["id_salt"] = json!("a new salt");
    let placement = m["placements"].as_object().unwrap().keys().next().unwrap().clone();
    m["placements"][&placement]["max_items"] = json!(3);
    let event = m["events"].as_object().unwrap().keys().next().unwrap().clone();
    m["events"][&event]["coupon"] = json!("string");
    m["context"]["campaign"] = json!("string");
    m["caps"] = json!([{"max": 1, "days": 1}]);
    let b = d.join("b.json");
    std::fs::write(&b, m.to_string()).unwrap();
    let out = kairos(&["diff", MODEL, s(&b)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    for line in [
        format!("~ placement {placement}"),
        format!("~ event {event}"),
        "+ context campaign".into(),
        "~ setting global caps".into(),
        "~ setting id_salt".into(),
    ] {
        assert!(o.contains(&line), "{line} in {o}");
    }
    let e = text(&out.stderr);
    assert!(
        e.contains("warning: meta.id_salt changed: devices keep the pids they made with the old salt"),
        "{e}"
    );
    assert!(!e.contains("not newer"), "{e}");
    // Backwards: a lower version is a rollback every device refuses.
    let back = kairos(&["diff", s(&b), MODEL, "--json"]);
    let j: Value = serde_json::from_str(&text(&back.stdout)).unwrap();
    let warnings = j["warnings"].as_array().unwrap();
    assert!(warnings[0].as_str().unwrap().starts_with("version 1 is not newer than 2"), "{warnings:?}");
    assert_eq!(j["settings"]["changed"], json!(["id_salt", "global caps"]));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn diff_names_what_changed() {
    let d = tmp("diff");
    let mut m = model_json();
    m["meta"]["version"] = json!(2);
    let first_offer = m["offers"][0]["id"].as_str().unwrap().to_string();
    m["offers"][0]["priority"] = json!(99);
    let removed = m["offers"][1]["id"].as_str().unwrap().to_string();
    m["offers"].as_array_mut().unwrap().remove(1);
    m["segments"]["night_owl"] = json!({"==": [1, 1]});
    let b = d.join("b.json");
    std::fs::write(&b, m.to_string()).unwrap();
    let out = kairos(&["diff", MODEL, s(&b)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(o.contains("version 1 -> 2"), "{o}");
    assert!(o.contains(&format!("~ offer {first_offer}")), "{o}");
    assert!(o.contains(&format!("- offer {removed}")), "{o}");
    assert!(o.contains("+ segment night_owl"), "{o}");
    // Snapshots diff the same as model files.
    let sa = d.join("a.kairos");
    let sb = d.join("b.kairos");
    kairos(&["compile", MODEL, "-o", s(&sa)]);
    kairos(&["compile", s(&b), "-o", s(&sb)]);
    let out = kairos(&["diff", s(&sa), s(&sb), "--json"]);
    let j: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(j["segments"]["added"], json!(["night_owl"]));
    assert_eq!(j["offers"]["removed"], json!([removed]));
    assert_eq!(j["version"], json!([1, 2]));
    assert_eq!(j["warnings"], json!([]));
    let same = kairos(&["diff", MODEL, MODEL]);
    assert!(text(&same.stdout).contains("no definition or setting differs"));
    assert_eq!(text(&same.stderr), "", "the same model twice is no release");
    // A change under the same version: every device running the first refuses the second.
    let mut m1 = model_json();
    m1["offers"][0]["priority"] = json!(98);
    let c = d.join("c.json");
    std::fs::write(&c, m1.to_string()).unwrap();
    let unraised = kairos(&["diff", MODEL, s(&c)]);
    assert!(
        text(&unraised.stderr).contains("warning: version 1 is not newer than 1"),
        "{}",
        text(&unraised.stderr)
    );
    // Two offers of one priority and placement swapped: no name changed, yet devices show another
    // first.
    let mut swapped = model_json();
    let offers = swapped["offers"].as_array_mut().unwrap();
    let pair = (0..offers.len()).flat_map(|i| (i + 1..offers.len()).map(move |j| (i, j))).find(|&(i, j)| {
        offers[i]["priority"] == offers[j]["priority"] && offers[i]["placements"] == offers[j]["placements"]
    });
    // The example has none: give two offers of home_hero the same priority first.
    let (i, j) = pair.unwrap_or_else(|| {
        let hero: Vec<usize> =
            (0..offers.len()).filter(|&k| offers[k]["placements"] == json!(["home_hero"])).collect();
        offers[hero[1]]["priority"] = offers[hero[0]]["priority"].clone();
        (hero[0], hero[1])
    });
    let mut base = swapped.clone();
    base["offers"].as_array_mut().unwrap().swap(i, j);
    let (fa, fb) = (d.join("same-priority-a.json"), d.join("same-priority-b.json"));
    std::fs::write(&fa, swapped.to_string()).unwrap();
    std::fs::write(&fb, base.to_string()).unwrap();
    let order = kairos(&["diff", s(&fa), s(&fb)]);
    assert!(
        text(&order.stdout).contains("~ the models differ in what is not listed by name"),
        "{}",
        text(&order.stdout)
    );
    assert!(
        text(&order.stderr).contains("warning: version 1 is not newer than 1"),
        "{}",
        text(&order.stderr)
    );
    fails(&kairos(&["diff", MODEL, s(&d.join("nope.kairos"))]), 2, "nope.kairos: No such file");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn eval_single_and_batch() {
    let out = kairos(&["eval", r#"{"+": [1, {"var": "a"}]}"#, r#"{"a": 2}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "3");
    assert_eq!(text(&kairos(&["eval", r#"{"var": "x"}"#]).stdout).trim(), "null");
    fails(&kairos(&["eval", "{nope"]), 2, "RULE is not JSON");
    fails(&kairos(&["eval", "1", "{nope"]), 2, "DATA is not JSON");
    fails(&kairos(&["eval", r#"{"no_such_op": [1]}"#]), 2, "rule does not parse");
    fails(&kairos(&["eval", r#"{"/": [1, 0]}"#]), 1, "rule error: {\"type\":\"NaN\"}");
    fails(&kairos(&["eval"]), 2, "RULE");

    let input = concat!(
        "{\"rule\": {\"if\": [{\"var\": \"vip\"}, \"gold\", \"none\"]}, \"data\": {\"vip\": true}}\n",
        "\n",
        "{\"rule\": {\"/\": [1, 0]}}\n",
        "not json\n",
        "[1, 2]\n",
        "{\"rule\": {\"bogus\": 1}}\n",
        "{\"rule\": 1, \"extra\": 2}\n",
        "{\"rule\": {\"cat\": [\"a\", {\"var\": \"b\"}]}, \"data\": {\"b\": \"c\"}}\n",
    );
    let out = kairos_stdin(&["eval", "--batch"], input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 7, "one output line per non-blank input line");
    assert_eq!(lines[0], json!({"result": "gold"}));
    assert_eq!(lines[1], json!({"error": {"type": "NaN"}}));
    assert!(lines[2]["error"].as_str().unwrap().starts_with("line 4: not JSON"));
    assert!(lines[3]["error"].as_str().unwrap().contains("expected an object"));
    assert!(lines[4]["error"].as_str().unwrap().starts_with("rule does not parse"));
    assert!(lines[5]["error"].as_str().unwrap().contains("expected an object"));
    assert_eq!(lines[6], json!({"result": "ac"}));
    fails(&kairos(&["eval", "--batch", "1"]), 2, "cannot be used with");

    // Regression: a line that was not UTF-8 stopped the batch (exit 2, later lines lost).
    let out =
        kairos_stdin(&["eval", "--batch"], b"{\"rule\": 1}\n\xff\xfe\r\n{\"rule\": 2}\r\n{\"rule\": 3}");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines,
        [
            json!({"result": 1}),
            json!({"error": "line 2: not UTF-8"}),
            json!({"result": 2}),
            json!({"result": 3})
        ]
    );
}

#[test]
fn token_is_verified_by_the_engine_and_errors_are_clear() {
    let d = tmp("token");
    kairos(&["keygen", "-o", s(&d.join("brand"))]);
    let traits = d.join("traits.json");
    std::fs::write(&traits, r#"{"tier": "gold", "hipo": true}"#).unwrap();
    let compiled = kairos::compile_str(&std::fs::read_to_string(root().join(MODEL)).unwrap()).unwrap();
    let mut engine = kairos::Engine::new(compiled.model, 0xabc);
    engine.set_consent(true);
    let pid = engine.profile().pid().to_string();
    let now = 1_795_147_200_000i64;
    let out = kairos(&[
        "token",
        "--key",
        s(&d.join("brand.key")),
        "--user",
        &pid,
        "--traits",
        s(&traits),
        "--ttl",
        "7d",
        "--now",
        &now.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("kt1."));
    let pk = kairos::sign::PublicKey::parse(&std::fs::read_to_string(d.join("brand.pub")).unwrap()).unwrap();
    engine.set_trust(kairos::sign::Trust::key(pk));
    engine.set_traits_token(&token, now + 1000).unwrap();
    assert!(engine.segments(&[], now + 1000).contains(&"hipo"));
    assert!(engine.set_traits_token(&token, now + 7 * 86_400_000).is_err(), "expired after the ttl");

    // The backend knows the phone number, not the pid: --phone with the model computes it.
    engine.identify(kairos::profile::identity::IdKind::Phone, "138 0013 8000").unwrap();
    let out = kairos(&[
        "token",
        "--key",
        s(&d.join("brand.key")),
        "--model",
        MODEL,
        "--phone",
        "13800138000",
        "--traits",
        s(&traits),
        "--now",
        &now.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    engine.set_traits_token(text(&out.stdout).trim(), now + 1000).unwrap();
    fails(
        &kairos(&[
            "token",
            "--key",
            s(&d.join("brand.key")),
            "--model",
            MODEL,
            "--phone",
            "12",
            "--traits",
            s(&traits),
        ]),
        2,
        "--phone:",
    );
    fails(
        &kairos(&[
            "token",
            "--key",
            s(&d.join("brand.key")),
            "--phone",
            "13800138000",
            "--traits",
            s(&traits),
        ]),
        2,
        "--model",
    );
    fails(&kairos(&["token", "--key", s(&d.join("brand.key")), "--traits", s(&traits)]), 2, "--user");

    // With the model, traits a device would refuse are refused before a token is printed.
    for (bad, message) in [
        (r#"{"birthday": "1996-03-14"}"#, "traits.birthday: an anniversary in a token must be `MM-DD`"),
        (r#"{"vip_level": 3}"#, "unknown trait `vip_level`"),
        (r#"{"hipo": "yes"}"#, "traits.hipo: expected a boolean"),
    ] {
        let file = d.join("bad-traits.json");
        std::fs::write(&file, bad).unwrap();
        let out = kairos(&[
            "token",
            "--key",
            s(&d.join("brand.key")),
            "--model",
            MODEL,
            "--phone",
            "13800138000",
            "--traits",
            s(&file),
        ]);
        fails(&out, 2, "a device running");
        fails(&out, 2, message);
        assert!(out.stdout.is_empty(), "no token printed for {bad}");
    }
    std::fs::write(d.join("month-day.json"), r#"{"birthday": "03-14", "hipo": true}"#).unwrap();
    let out = kairos(&[
        "token",
        "--key",
        s(&d.join("brand.key")),
        "--model",
        MODEL,
        "--user",
        &pid,
        "--traits",
        s(&d.join("month-day.json")),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let key = d.join("brand.key");
    let base = ["token", "--key", s(&key), "--user", USER, "--traits", s(&traits)];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        kairos(&a)
    };
    fails(&with(&["--ttl", "7x"]), 2, "--ttl `7x` is not a duration");
    fails(
        &with(&["--ttl", "0d"]),
        2,
        "--ttl `0d` is out of range: a token lives more than 0 s and at most 400 days",
    );
    fails(&with(&["--ttl", "34560000d"]), 2, "is out of range");
    fails(&with(&["--ttl", "d"]), 2, "is not a duration");
    fails(&with(&["--ttl", "7日"]), 2, "--ttl `7日` is not a duration");
    std::fs::write(d.join("list.json"), "[1]").unwrap();
    fails(
        &kairos(&["token", "--key", s(&key), "--user", USER, "--traits", s(&d.join("list.json"))]),
        2,
        "traits must be a JSON object",
    );
    std::fs::write(d.join("broken.json"), "{").unwrap();
    fails(
        &kairos(&["token", "--key", s(&key), "--user", USER, "--traits", s(&d.join("broken.json"))]),
        2,
        "not JSON",
    );
    // Regression: any string was taken as the user, and every device refused the token.
    for user in ["", "Nancy", "0123456789ABCDEF", "0123456789abcde", "+8613800138000"] {
        fails(
            &kairos(&["token", "--key", s(&key), "--user", user, "--traits", s(&traits)]),
            2,
            &format!(
                "--user `{user}` is not a pseudonymous id (Profile::pid: 16 or 32 lowercase hex digits)"
            ),
        );
    }
    fails(
        &kairos(&["token", "--key", s(&d.join("brand.pub")), "--user", USER, "--traits", s(&traits)]),
        2,
        "not a Kairos secret key",
    );
    fails(
        &kairos(&["token", "--key", s(&key), "--user", USER, "--traits", s(&d.join("no.json"))]),
        2,
        "no.json",
    );
    std::fs::remove_dir_all(&d).ok();
}
