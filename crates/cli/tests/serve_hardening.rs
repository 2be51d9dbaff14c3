//! `kairos serve` against what the serve review found: free text and implausible times in
//! outbox reports (finding 2), and a models folder entry that is no file (finding 3). Every
//! server is killed and its folder removed when its test ends.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "test code")]

mod common;
use common::server::{exposure, request, stored_reports, Resp, Server, Site, STAGE};

use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn post(srv: &Server, lines: &[String]) -> Resp {
    let body = lines.join("\n");
    request(&srv.addr, "POST", "/v1/outbox", &[("Content-Type", "application/x-ndjson")], body.as_bytes())
}

/// A `conversion` report as the package sends it, with `offer` and `at`.
fn conversion(offer: &str, at: i64) -> String {
    json!({"type": "conversion", "decision": "1bfad32916b105e0", "offer": offer, "event": "purchase",
           "control": false, "at": at})
    .to_string()
}

/// Posts each batch, which must be refused with `400` and an error containing its message, and
/// checks that nothing of any was stored.
fn assert_refused(site: &Site, srv: &Server, batches: &[(Vec<String>, &str)]) {
    let file = site.path("outbox.ndjson");
    let before = std::fs::read_to_string(&file).unwrap();
    for (lines, message) in batches {
        let r = post(srv, lines);
        assert_eq!(r.status, 400, "{lines:?}: {}", r.text());
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(message), "{lines:?}: {error}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before, "nothing of a refused batch is stored");
}

/// Regression (serve review, finding 2): a name field took any text, a shopper's name, phone
/// number and email included, and it was stored.
#[test]
fn free_text_in_a_name_field_refuses_the_batch() {
    let site = Site::new("hardening-names");
    let srv = site.start(&[]);
    let pii = "Nancy Wu, +86 138 0013 8000, nancy@example.com";
    let rule = "must be a string: a name from the model (1 to 64 letters, digits, `_` or `-`";
    let stage = |to: &str| json!({"type": "stage_changed", "from": null, "to": to, "at": 1}).to_string();
    assert_refused(
        &site,
        &srv,
        &[
            (
                vec![exposure("join_discount"), conversion(pii, 1)],
                &format!("line 2: `conversion`.`offer` {rule}"),
            ),
            (vec![exposure("nancy@example.com")], "line 1: `exposure`.`offer` must be"),
            (vec![stage("13800138000 Nancy")], "line 1: `stage_changed`.`to` must be"),
            (vec![stage(&"x".repeat(65))], "line 1: `stage_changed`.`to` must be"),
            (vec![stage("-vip")], "line 1: `stage_changed`.`to` must be"),
        ],
    );
}

/// Regression (serve review, finding 2): `at` took any integer, negative or in microseconds.
#[test]
fn an_implausible_time_refuses_the_batch() {
    let site = Site::new("hardening-times");
    let srv = site.start(&[]);
    let bound = "`conversion`.`at` must be an integer, ms since the epoch, from 0 to 400 days after";
    assert_refused(
        &site,
        &srv,
        &[
            (vec![STAGE.to_string(), conversion("o", -5)], &format!("line 2: {bound}")),
            (vec![conversion("o", now_ms() * 1000)], &format!("line 1: {bound}")),
            (vec![conversion("o", now_ms() + 401 * DAY_MS)], &format!("line 1: {bound}")),
        ],
    );
}

/// What the package sends is still taken: names of other scripts, the empty name the engine
/// gives what its model no longer has, and times of a clock that runs weeks ahead or was reset.
#[test]
fn honest_batches_are_still_accepted() {
    let site = Site::new("hardening-honest");
    let srv = site.start(&[]);
    let lines = vec![
        exposure("join_discount"),
        STAGE.to_string(),
        json!({"type": "stage_changed", "from": "新客", "to": null, "at": 0}).to_string(),
        json!({"type": "exposure", "decision": "be65cc08c87d769b", "placement": "home", "offer": "o",
               "variant": "b_2", "control": true, "at": now_ms() + 30 * DAY_MS})
        .to_string(),
        json!({"type": "conversion", "decision": "be65cc08c87d769b", "offer": "", "event": "",
               "control": false, "at": now_ms() + 399 * DAY_MS})
        .to_string(),
    ];
    let r = post(&srv, &lines);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json(), json!({"accepted": lines.len()}));
    let sent: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(stored_reports(&site.path("outbox.ndjson")), sent);
}

/// Regression (serve review, finding 3): a FIFO named `*.json` in the models folder blocked the
/// reload loop on its read, so no model was published after it, and nothing said so.
#[test]
fn a_fifo_in_the_models_folder_does_not_stop_publishing() {
    let site = Site::new("hardening-fifo");
    let srv = site.start(&[]);
    srv.wait_version("web", 1);
    let fifo = site.path("models/x.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    std::fs::create_dir(site.path("models/folder.json")).unwrap();
    site.write_model("web.json", &common::server::model(2));
    srv.wait_version("web", 2);
    site.write_model("web.json", &common::server::model(3));
    srv.wait_version("web", 3);
    // Neither is a channel, and each is logged once, however many reloads saw it.
    let health = srv.get("/healthz");
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.json()["channels"].as_object().unwrap().keys().collect::<Vec<_>>(), ["web"]);
    let log = srv.log();
    assert_eq!(log.matches("the entry is a FIFO, socket or device, not a model file").count(), 1, "{log}");
    assert_eq!(log.matches("the entry is a folder, not a model file").count(), 1, "{log}");
    assert!(log.contains("x.json"), "{log}");
}
