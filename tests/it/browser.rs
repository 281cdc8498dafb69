//! The console end to end in a real browser (Debian's chromium through chromedriver, driven by
//! selenium: tests/fixtures/browser.py), every person signed in through a real OpenID provider
//! (oidc-provider, OpenID Certified: tests/fixtures/oidc/provider.mjs) started here on loopback.
//! A request goes from the applicant's form through three approvers' inboxes into DNS.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::console::events;
use crate::harness::*;

/// The provider, stopped when dropped.
struct OpenIdProvider {
    child: Child,
    issuer: String,
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OpenIdProvider {
    /// Start it on `port` for ranah at `ranah` (its callback and where logout returns).
    fn start(port: u16, ranah: &str, dir: &Path) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let modules = root.join("target/test-node/node_modules");
        assert!(
            modules.join("oidc-provider").is_dir(),
            "oidc-provider is not installed in {}: run ./tests/run-all.sh --setup-only",
            modules.display()
        );
        let claims = |user: &str, groups: &[&str], agency: Option<&str>| {
            let mut c = json!({
                "preferred_username": user,
                "name": user,
                "email": format!("{user}@example.go.id"),
                "groups": groups,
            });
            if let Some(a) = agency {
                c["agency"] = json!(a);
            }
            c
        };
        let config = json!({
            "client": {
                "client_id": "ranah",
                "client_secret": "rahasia-klien-e2e",
                "redirect_uris": [format!("{ranah}/signin/callback")],
                "post_logout_redirect_uris": [format!("{ranah}/")],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            },
            "accounts": {
                "andi": claims("andi", &["opd"], Some("DINKES")),
                "kadis": claims("kadis", &["kadis"], None),
                "kabid": claims("kabid", &["kabid"], None),
                "teknis": claims("teknis", &["tim_teknis"], None),
            },
        });
        let file = dir.join("oidc.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let mut child = Command::new("node")
            .arg(root.join("tests/fixtures/oidc/provider.mjs"))
            .arg(&modules)
            .arg(port.to_string())
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("oidc.log")).unwrap())
            .spawn()
            .expect("node (the README's test command installs it)");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // The provider writes more (its notices): read it to the end, or its writes fail.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        assert!(line.starts_with("listening "), "the provider said {line:?}");
        Self {
            child,
            issuer: line["listening ".len()..].trim().to_owned(),
        }
    }
}

#[test]
fn a_request_goes_from_the_applicants_form_through_the_approvers_inboxes_into_dns_in_a_real_browser()
 {
    let port = free_port();
    let config = format!(
        r#"
[console]
sign_ins_per_minute = 100
[console.oidc]
issuer = "http://127.0.0.1:{port}"
client_id = "ranah"
client_secret = "rahasia-klien-e2e"
agency_claim = "agency"
role_claims = ["groups"]
[console.oidc.roles]
opd = ["applicant"]
kadis = ["head_of_office"]
kabid = ["head_of_division"]
tim_teknis = ["technical"]
"#
    );
    let d = Daemon::start_test_zone_configured(&config);
    cli_ok(&d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    cli_ok(&d, &["user", "add", "ops", "--role", "admin"]);
    let ops = cli_ok(&d, &["token", "create", "ops"]);
    let ranah = format!("http://{}", d.api);
    let provider = OpenIdProvider::start(port, &ranah, &d.dir);
    assert_eq!(provider.issuer, format!("http://127.0.0.1:{port}"));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target/screenshots/console");
    std::fs::create_dir_all(&shots).unwrap();
    let letter = d.dir.join("surat-permohonan.pdf");
    std::fs::write(&letter, LETTER_PDF).unwrap();
    let axe = root.join("target/test-node/node_modules/axe-core/axe.min.js");
    assert!(
        axe.is_file(),
        "axe-core: run ./tests/run-all.sh --setup-only"
    );
    let out = Command::new("python3")
        .env("RANAH_AXE", &axe)
        .arg(root.join("tests/fixtures/browser.py"))
        .args(["console", &ranah, &d.dns.port().to_string()])
        .arg(&letter)
        .arg(&shots)
        .output()
        .expect("python3 with selenium (the README's test command installs it)");
    assert!(
        out.status.success(),
        "{}\nthe provider's log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(d.dir.join("oidc.log")).unwrap_or_default()
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();

    let id = seen["request_id"].as_i64().unwrap();
    assert_eq!(seen["letter_shown"], 1, "{seen}");
    for (who, step) in [
        ("kadis", "Disposisi Kepala Dinas"),
        ("kabid", "Analisa dan disposisi Kepala Bidang"),
        (
            "teknis",
            "Analisa dan pemeriksaan kelengkapan oleh Tim Teknis",
        ),
    ] {
        assert_eq!(seen[who]["inbox_has_request"], true, "{who}: {seen}");
        assert_eq!(seen[who]["step"], step, "{who}: {seen}");
    }
    // The record is served the moment the technical team's approval came back.
    assert_eq!(seen["teknis"]["dns_right_after"], "203.0.113.90", "{seen}");
    assert_eq!(seen["teknis"]["status_after"], "Dalam proses", "{seen}");
    // The last step: the head of office's response to the applicant.
    assert_eq!(
        seen["response"]["step"], "Surat tanggapan kepada pemohon",
        "{seen}"
    );
    assert_eq!(seen["response"]["status_after"], "Selesai", "{seen}");
    // The report's chart, drawn by ranah as SVG: a track and a bar per step.
    let chart = seen["response"]["/report"].as_str().unwrap();
    assert!(chart.starts_with("<svg id=\"chart\""), "{chart}");
    assert_eq!(chart.matches("<rect").count(), 8, "{chart}");
    assert_eq!(seen["applicant_sees"], "Selesai", "{seen}");
    assert!(
        seen["register"]
            .as_str()
            .unwrap()
            .contains("kesehatan.example.go.id"),
        "{seen}"
    );
    // Signed out of ranah and of the provider: the inbox sends the browser to sign in.
    assert_eq!(seen["after_sign_out"], format!("{ranah}/"), "{seen}");
    // ranah's pages asked nothing of anyone but ranah and the provider.
    for url in seen["requests"]
        .as_array()
        .unwrap()
        .iter()
        .chain(seen["teknis"]["requests"].as_array().unwrap())
    {
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with(&ranah)
                || url.starts_with(&provider.issuer)
                || url.starts_with("data:"),
            "{url}"
        );
    }
    let errors: Vec<&Value> = seen["console"]
        .as_array()
        .unwrap()
        .iter()
        // The provider's own development pages ask for a web font; only ranah's pages count.
        .filter(|m| m["level"] == "SEVERE" && m["message"].as_str().unwrap().starts_with(&ranah))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    // Accessible, as axe-core (run in the browser on each page) judges it: nothing serious or
    // critical on any page (labels, names, contrast, structure).
    let mut checked = seen["accessibility"].as_object().unwrap().clone();
    let control = checked.remove("control").unwrap();
    let found: Vec<&str> = control
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert!(
        found.contains(&"image-alt") && found.contains(&"label"),
        "the checker finds what it must: {control}"
    );
    assert_eq!(checked.len(), 10, "{checked:?}");
    for (page, violations) in &checked {
        let grave: Vec<&Value> = violations
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
            .collect();
        assert!(grave.is_empty(), "{page}: {grave:#?}");
    }
    // The visitor's complaint, its proof of work found by the console's script in the browser
    // (20 bits, the default: about a million hashes).
    assert_eq!(seen["complaint_number"], "1", "{seen}");
    let r = curl(&d, "GET", "/api/v1/complaints/1", Some(&ops), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["origin"], "public");
    assert_eq!(r.json["category"], "normative");
    assert_eq!(
        r.json["body"],
        "Sejak pagi situs tidak bisa dibuka.\nMohon diperiksa."
    );
    eprintln!(
        "the browser found the proof of work in {} s",
        seen["complaint_seconds"]
    );
    // Usable on a phone: every page fits a 390-pixel screen.
    for (page, fits) in seen["phone"].as_object().unwrap() {
        assert_eq!(fits, &Value::Bool(true), "{page} is wider than a phone");
    }

    // The trail: each person's account made at their first sign-in, every sign-in, the
    // request's approvals by those people.
    let added: Vec<String> = events(&d, &ops, "user.add")
        .iter()
        .filter(|e| e["summary"]["via"] == "oidc")
        .map(|e| e["target"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        added,
        ["user/andi", "user/kadis", "user/kabid", "user/teknis"]
    );
    assert_eq!(events(&d, &ops, "signin").len(), 5);
    // The provider gave refresh tokens; the sessions ended by signing out hold none.
    let held = store_query(
        &d.dir,
        "SELECT end_reason FROM sessions WHERE refresh_token IS NOT NULL",
    );
    assert_eq!(held.len(), 4, "the four sessions not signed out: {held:?}");
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}"),
        Some(&ops),
        &[],
    );
    assert_eq!(r.json["status"], "completed", "{}", r.json);
    let actors: Vec<&str> = r.json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["actor"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actors,
        // The last entry is ranah's own: the response sent to the applicant.
        ["andi", "kadis", "kabid", "teknis", "kadis", ""],
        "{}",
        r.json
    );
    for name in [
        "pemohon-1-kotak-masuk.png",
        "pemohon-3-permohonan.png",
        "kadis-1-kotak-masuk.png",
        "kadis-2-permohonan.png",
        "pemohon-5-daftar-subdomain.png",
    ] {
        assert!(
            std::fs::metadata(shots.join(name)).unwrap().len() > 10_000,
            "{name}"
        );
    }
}
