//! Email notifications against a real SMTP server on loopback (Python's aiosmtpd, started by
//! the test): who gets what along a request, and an outage that loses nothing and blocks
//! nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::*;

/// aiosmtpd printing every message it receives to a file; killed when dropped.
pub(crate) struct Smtp {
    child: Child,
    log: PathBuf,
}

impl Smtp {
    pub(crate) fn start(port: u16, log: &Path) -> Smtp {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Debugging",
            ])
            .stdout(Stdio::from(out))
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd is required; the README's test command installs it");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        assert!(
            eventually(10, || std::net::TcpStream::connect(addr).is_ok()),
            "aiosmtpd did not start"
        );
        Smtp {
            child,
            log: log.to_owned(),
        }
    }

    /// The messages received so far: (recipients, subject), headers unfolded.
    pub(crate) fn received(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let text = text.replace("\r\n", "\n").replace("\n ", " ");
        text.split("---------- MESSAGE FOLLOWS ----------")
            .skip(1)
            .map(|m| {
                let header = |name: &str| {
                    m.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or("")
                        .trim()
                        .to_owned()
                };
                (header("To:"), header("Subject:"))
            })
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request(name: &str) -> String {
    format!(
        r#"{{"kind": "create", "zone": "example.go.id", "name": "{name}",
        "records": [{{"type": "A", "value": "203.0.113.90", "ttl": 3600}}],
        "contact": {{"name": "Andi", "email": "andi@dinkes.example", "phone": "+62 811 000"}},
        "purpose": "Aplikasi layanan", "recommendation_ref": "REK/001/2026",
        "certificate": false}}"#
    )
}

fn attach_letter(d: &Daemon, token: &str, id: i64) {
    let pdf = d.dir.join("surat.pdf");
    std::fs::write(&pdf, crate::harness::LETTER_PDF).unwrap();
    let r = curl(
        d,
        "POST",
        &format!("/api/v1/requests/{id}/attachments"),
        Some(token),
        &["-F", &format!("letter=@{}", pdf.display())],
    );
    assert_eq!(r.status, 200, "{}", r.json);
}

#[test]
fn the_people_who_must_act_and_the_applicant_are_emailed() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let smtp_port = free_port();
    let log = tmp.path().join("smtp.log");
    let config = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\n\
         from = \"Diskominfo <noreply@example.go.id>\"\nretry_base_secs = 1\nretry_max_secs = 2\n"
    );
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let d = Daemon::start_configured(tmp.path(), dns, Some(&config));
    let mut smtp = Smtp::start(smtp_port, &log);

    cli_ok(&d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    let people = [
        ("andi", "applicant", "andi@dinkes.example"),
        ("kadis", "head_of_office", "kadis@kominfo.example"),
        ("kabid", "head_of_division", "kabid@kominfo.example"),
        ("teknis", "technical", "teknis@kominfo.example"),
    ];
    let mut tokens = Vec::new();
    for (name, role, email) in people {
        let mut args = vec!["user", "add", name, "--role", role, "--email", email];
        if role == "applicant" {
            args.extend(["--agency", "DINKES"]);
        }
        cli_ok(&d, &args);
        tokens.push(cli_ok(&d, &["token", "create", name]));
    }
    let [andi, kadis, kabid, teknis] = [&tokens[0], &tokens[1], &tokens[2], &tokens[3]];

    // A request walks the chain: each step's role is told, then the applicant.
    let r = post_json(&d, "/api/v1/requests", andi, &request("sipd"));
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    attach_letter(&d, andi, id);
    for token in [kadis, kabid, teknis, kadis] {
        let r = post_json(&d, &format!("/api/v1/requests/{id}/approve"), token, "{}");
        assert_eq!(r.status, 200, "{}", r.json);
    }
    let expected = [
        ("kadis@kominfo.example", "Disposisi"),
        ("kabid@kominfo.example", "sipd.example.go.id"),
        ("teknis@kominfo.example", "sipd.example.go.id"),
        ("kadis@kominfo.example", "sipd.example.go.id"),
        ("andi@dinkes.example", "selesai"),
    ];
    assert!(
        eventually(15, || smtp.received().len() >= expected.len()),
        "received {:?}",
        smtp.received()
    );
    let got = smtp.received();
    for (i, (to, subject)) in expected.iter().enumerate() {
        assert!(
            got[i].0.contains(to) && got[i].1.contains(subject),
            "message {i}: {:?}, expected to {to} about {subject}; all: {got:?}",
            got[i]
        );
    }

    // The response letter: attached to the request and to the applicant's email, and
    // pdftotext reads the subdomain and the agency in it.
    let pdf = tmp.path().join("surat.pdf");
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            pdf.to_str().unwrap(),
            "-w",
            "%{http_code} %{content_type}",
        ])
        .args(["-H", &format!("Authorization: Bearer {andi}")])
        .arg(format!(
            "http://{}/api/v1/requests/{id}/attachments/response_letter",
            d.api
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 application/pdf");
    let text = Command::new("pdftotext")
        .args([pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is required; the README's test command installs it");
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "sipd.example.go.id",
        "Dinas Kesehatan",
        "A 203.0.113.90",
        "Nomor",
    ] {
        assert!(
            text.contains(expected),
            "{expected} not in the letter:\n{text}"
        );
    }
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains(&format!("surat-tanggapan-{id}.pdf")),
        "the completion email has no letter attached"
    );

    // A return tells the applicant, with the reason.
    let r = post_json(&d, "/api/v1/requests", andi, &request("simpeg"));
    let second = r.json["id"].as_i64().unwrap();
    attach_letter(&d, andi, second);
    let r = post_json(
        &d,
        &format!("/api/v1/requests/{second}/return"),
        kadis,
        r#"{"note": "Lengkapi surat rekomendasi", "reason": "no_recommendation"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(eventually(15, || smtp.received().iter().any(|(to, s)| to
        .contains("andi@")
        && s.contains("dikembalikan"))));

    // The mail server goes down: the approval still succeeds at once, the message waits.
    drop(smtp);
    let before = std::time::Instant::now();
    let r = post_json(
        &d,
        &format!("/api/v1/requests/{second}/resubmit"),
        andi,
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(before.elapsed() < std::time::Duration::from_secs(5));
    assert!(eventually(10, || {
        let (_, body) = http_get(d.api, "/metrics").unwrap();
        body.lines().any(|l| l == "ranah_outbox_backlog 1")
            && body
                .lines()
                .any(|l| l.starts_with("ranah_outbox_failures_total") && !l.ends_with(" 0"))
    }));
    // Back up: the message goes out.
    smtp = Smtp::start(smtp_port, &log);
    assert!(
        eventually(15, || smtp
            .received()
            .iter()
            .any(|(to, s)| to.contains("kadis@") && s.contains("simpeg"))),
        "{:?}",
        smtp.received()
    );
    assert!(eventually(5, || {
        let (_, body) = http_get(d.api, "/metrics").unwrap();
        body.lines().any(|l| l == "ranah_outbox_backlog 0")
    }));
}

/// A webhook receiver: writes each POST as one JSON line (signature header and body) and
/// answers 204. Python's standard library only.
pub(crate) const RECEIVER: &str = r#"
import http.server, json, sys
log = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        with open(log, "a") as f:
            f.write(json.dumps({"signature": self.headers.get("X-Ranah-Signature"),
                                "event": self.headers.get("X-Ranah-Event"), "body": body}) + "\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// Check each received call's signature with Python's hmac (not ranah's code); print the
/// events' types and request numbers.
const CHECK: &str = r#"
import hashlib, hmac, json, sys
for line in open(sys.argv[1]):
    call = json.loads(line)
    want = "sha256=" + hmac.new(sys.argv[2].encode(), call["body"].encode(), hashlib.sha256).hexdigest()
    body = json.loads(call["body"])
    print(call["event"], body["type"], body["request"], body["status"], hmac.compare_digest(want, call["signature"]))
"#;

#[test]
fn the_webhook_gets_signed_calls() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let port = free_port();
    let log = tmp.path().join("hook.log");
    let config = format!(
        "[webhook]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"s3cret-webhook\"\n\
         retry_base_secs = 1\nretry_max_secs = 2\n"
    );
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let d = Daemon::start_configured(tmp.path(), dns, Some(&config));
    let mut receiver = Command::new("python3")
        .args(["-c", RECEIVER, &port.to_string(), log.to_str().unwrap()])
        .spawn()
        .unwrap();
    let tokens = setup_people(&d);
    let id = provision(&d, &tokens, "sipd", "203.0.113.80");
    let check = || {
        let out = Command::new("python3")
            .args(["-c", CHECK, log.to_str().unwrap(), "s3cret-webhook"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let done = eventually(15, || check().lines().count() >= 4);
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert!(done, "{}", check());
    let lines: Vec<String> = check().lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            format!("request.submitted request.submitted {id} in_review True"),
            format!("request.approved request.approved {id} in_review True"),
            format!("request.approved request.approved {id} in_review True"),
            format!("request.approved request.approved {id} in_review True"),
        ]
    );
}
