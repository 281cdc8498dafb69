//! What docs/operations.md gives the operator: the example Prometheus alert rules
//! (deploy/prometheus/ranah-alerts.yml) are a valid rule file whose every metric ranah exports.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/prometheus/ranah-alerts.yml"
);

/// The rule file as JSON, parsed by PyYAML (the test environment's Python has it: the OpenAPI
/// validator needs it). promtool would check the expressions too, but comes only with the whole
/// Prometheus server package; the metric names are checked below instead.
fn rules() -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            RULES,
        ])
        .output()
        .expect("python3 is required for this test");
    assert!(
        out.status.success(),
        "{RULES} does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The sample names a daemon exposes at /metrics.
fn exposed(d: &Daemon) -> BTreeSet<String> {
    let (status, text) = http_get(d.api, "/metrics").unwrap();
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Every metric family ranah registers (`ranah_` + the name given to the registry): a family
/// shows in /metrics only once it has a sample, so some (certificates' expiry without ACME) are
/// checked by name only.
fn registered() -> BTreeSet<String> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/telemetry/metrics.rs"
    ))
    .unwrap();
    source
        .split("registry.register(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .map(|name| format!("ranah_{name}"))
        .collect()
}

/// The names in a PromQL expression that are ranah's metrics.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("ranah_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn alert_rules_parse_and_name_exported_metrics() {
    // A daemon with a secondary that never answers (NOTIFY fails, its gauges exist), asked once
    // without a token (an HTTP problem) and once with an unknown TSIG key.
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let silent = free_port();
    let config = format!(
        "[dns.rrl]\nenabled = false\n\n[[secondaries]]\nzone = \"example.go.id\"\n\
         notify = \"127.0.0.1:{silent}\"\nallow_transfer = [\"127.0.0.1\"]\n"
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let _ = curl(&d, "GET", "/api/v1/requests", None, &[]);
    let dns: SocketAddr = d.dns;
    let _ = dig(
        dns,
        &[
            "-y",
            "hmac-sha256:no-such-key:c2VjcmV0LW9mLXRoZS10ZXN0LXRzaWcta2V5LTMyYnk=",
            "example.go.id.",
            "SOA",
        ],
    );
    assert!(
        eventually(30, || exposed(&d).contains("ranah_notify_failures_total")),
        "no NOTIFY failure counted"
    );
    let live = exposed(&d);
    let families = registered();
    assert!(families.len() > 20, "{families:?}");

    let doc = rules();
    let groups = doc["groups"].as_array().expect("groups");
    let mut alerts = BTreeSet::new();
    let mut used = BTreeSet::new();
    for group in groups {
        assert!(group["name"].is_string(), "{group}");
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().expect("every rule is an alert");
            assert!(alerts.insert(name.to_owned()), "{name} twice");
            let expr = rule["expr"].as_str().expect("expr");
            assert!(
                ["critical", "warning", "info"]
                    .contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
                "{name}: severity"
            );
            assert!(
                rule["annotations"]["summary"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name}: summary"
            );
            if let Some(f) = rule.get("for") {
                let f = f.as_str().unwrap();
                assert!(
                    f.ends_with('m') || f.ends_with('h') || f.ends_with('s'),
                    "{name}: for {f}"
                );
            }
            for metric in metric_names(expr) {
                let family = metric.strip_suffix("_total").unwrap_or(&metric).to_owned();
                let ok = if live
                    .iter()
                    .any(|s| s == &family || s == &format!("{family}_total"))
                {
                    // Shown by the daemon: the exact name (counters end in _total).
                    live.contains(&metric)
                } else {
                    families.contains(&family)
                };
                assert!(ok, "{name}: {metric} is not a metric ranah exports");
                used.insert(family);
            }
        }
    }
    // The alerts cover what the operations guide calls essential.
    for essential in [
        "ranah_secondary_in_sync",
        "ranah_secondary_lag_seconds",
        "ranah_dns_tsig_failures",
        "ranah_http_problems",
        "ranah_outbox_backlog",
        "ranah_certificate_expiry_days",
    ] {
        assert!(used.contains(essential), "no alert uses {essential}");
    }
    assert!(alerts.contains("RanahDown"));
}
