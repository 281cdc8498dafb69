//! The README's walk-through, run as it is written: the shell block after the
//! `<!-- walkthrough` marker in README.md is taken from the file and run with bash against the
//! real binary, started here on its own ports with the shipped zone. The block reads `API`,
//! `DNS_PORT` and `RANAH_BIN` (the built binary instead of `cargo run`), which the README shows
//! with their defaults; nothing else of it is changed. What it must leave behind is then checked
//! through DNS and the API.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use hickory_proto::rr::RecordType;

use crate::harness::*;

const README: &str = include_str!("../../README.md");

/// The fenced block after the line that starts with `marker`, without its fences.
fn block_after(text: &str, marker: &str) -> String {
    let rest = &text[text
        .find(marker)
        .unwrap_or_else(|| panic!("README.md has no {marker:?} marker"))..];
    let mut lines = rest.lines().skip(1);
    let fence = lines.next().unwrap_or_default();
    assert!(
        fence.starts_with("```"),
        "the marker {marker:?} must come right before a fenced block, not {fence:?}"
    );
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("```")).collect();
    body.join("\n") + "\n"
}

#[test]
fn the_readme_walk_through_runs_as_written() {
    let script = block_after(README, "<!-- walkthrough");
    // Every call shows its errors and fails on an error status, with the problem's body.
    let commands = script.lines().filter(|l| !l.trim_start().starts_with('#'));
    for line in commands.filter(|l| l.contains("curl ")) {
        assert!(
            line.contains("curl -sS --fail-with-body "),
            "every curl of the walk-through shows errors and fails on them: {line}"
        );
    }
    assert!(
        !script.contains("requests/1/"),
        "request numbers come from the answers"
    );

    // The daemon as the README starts it (the shipped zone, the embedded defaults), on ports
    // of its own.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = Daemon::workdir(
        "kaltaraprov.go.id.zone",
        &std::fs::read_to_string(repo.join("zones/kaltaraprov.go.id.zone")).unwrap(),
    );
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let d = Daemon::start_process(tmp.path(), dns, None);

    let started = Instant::now();
    let out = store_env(&mut Command::new("timeout"), tmp.path())
        .args(["120", "bash", "-euo", "pipefail", "-c", &script])
        .current_dir(repo)
        .env("RANAH_BIN", BIN)
        .env("API", format!("http://{}/api/v1", d.api))
        .env("DNS_PORT", dns.port().to_string())
        // The commands reach the daemon's store, as they would from the clone's directory.
        .env("RANAH_DATA_DIR", tmp.path().join("data"))
        .env("RANAH_ZONES_DIR", tmp.path().join("zones"))
        .env("RANAH_LOG", "warn")
        .env_remove("RANAH_CONFIG")
        .output()
        .expect("bash and timeout");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walk-through stopped ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    println!(
        "the walk-through ran in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // dig printed the provisioned address, and DNS answers it.
    assert!(
        stdout.lines().any(|l| l.trim() == "203.0.113.10"),
        "dig's answer is missing from:\n{stdout}"
    );
    let answer = query(dns, "sipd.kaltaraprov.go.id.", RecordType::A, UDP);
    assert!(answer.metadata.authoritative);
    assert_eq!(
        answer
            .answers
            .iter()
            .map(|r| r.data.to_string())
            .collect::<Vec<_>>(),
        ["203.0.113.10"]
    );

    // The final states, read with an auditor's eyes (the office's head, who acted last).
    let kadis = cli_ok(&d, &["token", "create", "kadis"]);
    let get = |path: &str| {
        let r = curl(&d, "GET", path, Some(&kadis), &[]);
        assert_eq!(r.status, 200, "{path}: {}", r.json);
        r.json
    };
    let first = get("/api/v1/requests/1");
    assert_eq!(first["name"], "sipd");
    assert_eq!(first["status"], "completed");
    let kinds: Vec<&str> = first["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"letter"), "{kinds:?}");
    assert!(
        kinds.contains(&"response_letter"),
        "the response letter is made at completion: {kinds:?}"
    );

    let second = get("/api/v1/requests/2");
    assert_eq!(second["name"], "simpus");
    assert_eq!(second["status"], "in_review");
    assert_eq!(second["step"], "disposition");
    assert_eq!(second["recommendation_ref"], "REK/046/2026");
    let actions: Vec<&str> = second["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["action"].as_str())
        .collect();
    assert_eq!(actions, ["submitted", "returned", "resubmitted"]);
    let returned = &second["history"][1];
    assert_eq!(returned["reason"], "no_recommendation");
    assert_eq!(returned["actor"], "kadis");

    // The register lists the agency's subdomain, and none of ranah's own records: the first
    // provisioning published the `_audit` anchor in the zone.
    let register = get("/api/v1/subdomains");
    let names: Vec<&str> = register["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    let sipd = register["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "sipd.kaltaraprov.go.id")
        .unwrap_or_else(|| panic!("sipd is not in the register: {names:?}"));
    assert_eq!(sipd["agency"], "DINKES");
    assert_eq!(sipd["request"], 1);
    let anchor = dig(dns, &["_audit.kaltaraprov.go.id", "TXT", "+short"]);
    assert!(anchor.contains("seq="), "the anchor is served: {anchor}");
    assert!(
        !names.iter().any(|n| n.starts_with("_audit.")),
        "ranah's own records are not subdomains: {names:?}"
    );
    // An agency's own underscore name from the zone file (DMARC) stays in the register.
    assert!(names.contains(&"_dmarc.kaltaraprov.go.id"), "{names:?}");

    // The daemon the walk-through used stops cleanly on SIGTERM (Ctrl-C in its terminal).
    let mut d = d;
    d.shutdown();
}

/// The sample letter the README uploads is in the repository and passes the attachment checks
/// (the walk-through above uploads it; this says so when only the file is wrong).
#[test]
fn the_sample_letter_is_a_valid_pdf() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(repo.join("docs/contoh/surat-permohonan.pdf"))
        .expect("docs/contoh/surat-permohonan.pdf is in the repository");
    assert_eq!(
        ranah::domain::attachment::check(&bytes).map_err(|e| e.to_string()),
        Ok("application/pdf")
    );
    // And a PDF reader finds its text (Bahasa Indonesia, placeholder content).
    let file = std::env::temp_dir().join(format!("surat-{}.pdf", std::process::id()));
    std::fs::write(&file, &bytes).unwrap();
    let out = tool("pdftotext", &[file.to_str().unwrap(), "-"]);
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Permohonan subdomain"), "{text}");
    assert!(text.contains("CONTOH"), "{text}");
}
