//! The web console over HTTP, as a browser without script uses it (curl with a cookie jar):
//! signing in with a password, the lockout, the form tokens, sessions that end, the inbox and a
//! decision taken from the request page. Single sign-on is `signin_oidc.rs`; a real browser is
//! `browser.rs`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

/// A browser: a cookie jar and curl, redirects not followed (the test follows what it means
/// to follow).
pub(crate) struct Browser {
    base: String,
    jar: PathBuf,
    _dir: tempfile::TempDir,
    language: &'static str,
}

/// An answer as a browser sees it.
#[derive(Debug)]
pub(crate) struct Page {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Page {
    /// A header's value (the first), by lower-case name.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The value of the hidden input `name` in the page.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no input {name} in {}", self.body))
            + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Browser {
    pub fn new(d: &Daemon) -> Self {
        Self::at(&format!("http://{}", d.api))
    }

    pub fn at(base: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            base: base.to_owned(),
            jar: dir.path().join("cookies"),
            _dir: dir,
            language: "id-ID,id;q=0.9",
        }
    }

    pub fn english(mut self) -> Self {
        self.language = "en-GB,en;q=0.9";
        self
    }

    /// GET an address of the console, or any absolute address.
    pub fn get(&self, path: &str) -> Page {
        self.call(path, &[])
    }

    /// POST a form.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut args = Vec::new();
        for (k, v) in fields {
            args.push("--data-urlencode".to_owned());
            args.push(format!("{k}={v}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.call(path, &args)
    }

    /// POST a multipart form with files (`-F name=@path`).
    pub fn post_files(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &std::path::Path)],
    ) -> Page {
        let mut args = Vec::new();
        for (k, v) in fields {
            args.push("-F".to_owned());
            args.push(format!("{k}={v}"));
        }
        for (k, f) in files {
            args.push("-F".to_owned());
            args.push(format!("{k}=@{}", f.display()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.call(path, &args)
    }

    fn call(&self, path: &str, args: &[&str]) -> Page {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let out = Command::new("curl")
            .args(["-s", "-D", "-", "--max-time", "20"])
            .arg("-c")
            .arg(&self.jar)
            .arg("-b")
            .arg(&self.jar)
            .args(["-H", &format!("Accept-Language: {}", self.language)])
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = headers
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Page {
            status,
            headers: headers.to_owned(),
            body: body.to_owned(),
        }
    }

    /// The session cookie's value, if the jar holds one.
    pub fn session(&self) -> Option<String> {
        let jar = std::fs::read_to_string(&self.jar).ok()?;
        jar.lines()
            .filter(|l| !l.starts_with('#') || l.starts_with("#HttpOnly_"))
            .find_map(|l| {
                let fields: Vec<&str> = l.split('\t').collect();
                (fields.len() == 7 && fields[5] == "ranah" && !fields[6].is_empty())
                    .then(|| fields[6].to_owned())
            })
    }

    /// Sign in with a password from the sign-in page: the answer to the form.
    pub fn sign_in(&self, name: &str, password: &str) -> Page {
        let page = self.get("/");
        assert_eq!(page.status, 200, "{page:?}");
        let form = page.hidden("form");
        self.post(
            "/signin/password",
            &[("name", name), ("password", password), ("form", &form)],
        )
    }
}

/// Give `user` a password with `ranah user password`.
pub(crate) fn set_password(d: &Daemon, user: &str, password: &str) {
    use std::io::Write as _;
    let mut child = store_env(&mut Command::new(BIN), &d.dir)
        .args(["user", "password", user])
        .current_dir(&d.dir)
        .env("RANAH_DATA_DIR", d.dir.join("data"))
        .env("RANAH_ZONES_DIR", d.dir.join("zones"))
        .env("RANAH_LOG", "warn")
        .env_remove("RANAH_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// The audit events of `action`, oldest first.
pub(crate) fn events(d: &Daemon, ops: &str, action: &str) -> Vec<Value> {
    let r = curl(
        d,
        "GET",
        &format!("/api/v1/audit?action={action}&limit=1000"),
        Some(ops),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

const PASSWORD: &str = "kata-sandi-kepala-dinas";

#[test]
fn an_approver_signs_in_decides_from_the_inbox_and_signs_out() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let [andi, _, _, _, _, ops] = &tokens;
    set_password(&d, "kadis", PASSWORD);
    let r = post_json(
        &d,
        "/api/v1/requests",
        andi,
        &request_body("create", "layanan", "203.0.113.80", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    attach_letter(&d, andi, id);

    let kadis = Browser::new(&d);
    // A visitor sees the sign-in page, in Indonesian, with the console's policy and no cache.
    let page = kadis.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"id\">"), "{}", page.body);
    assert!(page.body.contains("Nama pengguna"), "{}", page.body);
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    let inbox_unsigned = kadis.get("/inbox");
    assert_eq!(inbox_unsigned.status, 303);
    assert_eq!(inbox_unsigned.header("location").as_deref(), Some("/"));

    let signed = kadis.sign_in("kadis", PASSWORD);
    assert_eq!(signed.status, 303, "{signed:?}");
    assert_eq!(signed.header("location").as_deref(), Some("/inbox"));
    let cookie = signed
        .headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: ranah="))
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let session = kadis.session().unwrap();

    // The inbox: the request waits at the head of office's step.
    let inbox = kadis.get("/inbox");
    assert_eq!(inbox.status, 200, "{inbox:?}");
    assert!(
        inbox.body.contains("layanan.example.go.id"),
        "{}",
        inbox.body
    );
    assert!(
        inbox.body.contains("Disposisi Kepala Dinas"),
        "{}",
        inbox.body
    );
    assert!(inbox.body.contains(&format!("href=\"/requests/{id}\"")));

    let request = kadis.get(&format!("/requests/{id}"));
    assert_eq!(request.status, 200, "{}", request.body);
    assert!(request.body.contains("203.0.113.80"), "{}", request.body);
    assert!(request.body.contains("id=\"decision\""), "{}", request.body);
    // The letter is shown in the page, from ranah, by its own hash (a later letter does not
    // hide an earlier one).
    let r = curl(&d, "GET", &format!("/api/v1/requests/{id}"), Some(ops), &[]);
    let sha = r.json["attachments"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        request
            .body
            .contains(&format!("src=\"/requests/{id}/files/{sha}\"")),
        "{}",
        request.body
    );
    assert_eq!(
        kadis.get(&format!("/requests/{id}/files/{sha}")).status,
        200
    );
    assert_eq!(
        kadis
            .get(&format!("/requests/{id}/files/{}", "0".repeat(64)))
            .status,
        404
    );
    let file = kadis.get(&format!("/requests/{id}/files/letter"));
    assert_eq!(file.status, 200);
    assert_eq!(
        file.header("content-type").as_deref(),
        Some("application/pdf")
    );
    // A PDF is shown by the browser's own viewer, which a sandbox would refuse; it may still
    // load nothing and be framed only by ranah.
    assert_eq!(
        file.header("content-security-policy").as_deref(),
        Some("default-src 'none'; frame-ancestors 'self'")
    );
    let csrf = request.hidden("csrf");

    // A decision without the session's form token (a forged form) is refused; nothing moves.
    for token in ["", "forged"] {
        let forged = kadis.post(
            &format!("/requests/{id}/decision"),
            &[("csrf", token), ("action", "approve")],
        );
        assert_eq!(forged.status, 403, "{forged:?}");
        assert!(
            forged.body.contains("Formulir kedaluwarsa"),
            "{}",
            forged.body
        );
    }
    let r = curl(&d, "GET", &format!("/api/v1/requests/{id}"), Some(ops), &[]);
    assert_eq!(r.json["step"], "disposition", "{}", r.json);

    // A return needs a reason: the service's refusal is shown on a page.
    let refused = kadis.post(
        &format!("/requests/{id}/decision"),
        &[("csrf", &csrf), ("action", "return"), ("note", "")],
    );
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(refused.body.contains("note"), "{}", refused.body);

    let approved = kadis.post(
        &format!("/requests/{id}/decision"),
        &[
            ("csrf", &csrf),
            ("action", "approve"),
            ("note", "Lanjutkan"),
        ],
    );
    assert_eq!(approved.status, 303, "{approved:?}");
    let after = kadis.get(&format!("/requests/{id}?saved=1"));
    assert!(after.body.contains("Keputusan tersimpan"), "{}", after.body);
    assert!(after.body.contains("Lanjutkan"), "{}", after.body);
    let r = curl(&d, "GET", &format!("/api/v1/requests/{id}"), Some(ops), &[]);
    assert_eq!(r.json["step"], "assignment", "{}", r.json);
    assert_eq!(r.json["history"][1]["actor"], "kadis", "{}", r.json);
    // Now it waits for someone else.
    assert!(kadis.get("/inbox").body.contains("id=\"empty\""));

    // Sign out: the form token is needed here too; then the session is over for good, even
    // for a copy of its cookie.
    let out = kadis.post("/signout", &[("csrf", "nope")]);
    assert_eq!(out.status, 403);
    let csrf = kadis.get("/inbox").hidden("csrf");
    let out = kadis.post("/signout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303, "{out:?}");
    assert_eq!(out.header("location").as_deref(), Some("/"));
    assert_eq!(kadis.session(), None);
    let replay = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .args(["-H", &format!("Cookie: ranah={session}")])
        .arg(format!("http://{}/inbox", d.api))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&replay.stdout),
        format!("303 http://{}/", d.api)
    );

    let signins = events(&d, ops, "signin");
    assert_eq!(signins.len(), 1, "{signins:?}");
    assert_eq!(signins[0]["actor"], "kadis");
    assert_eq!(signins[0]["summary"]["method"], "password");
    let ends = events(&d, ops, "session.end");
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0]["summary"]["reason"], "logout");
}

#[test]
fn wrong_passwords_lock_the_account_and_every_refusal_is_recorded() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let ops = &tokens[5];
    set_password(&d, "kadis", PASSWORD);
    let b = Browser::new(&d).english();
    let page = b.get("/");
    assert!(page.body.contains("<html lang=\"en\">"), "{}", page.body);

    // Unknown user and wrong password read the same.
    let unknown = b.sign_in("nobody", PASSWORD);
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("The user name or password is wrong"));
    for _ in 0..4 {
        let wrong = b.sign_in("kadis", "not-the-password");
        assert_eq!(wrong.status, 401, "{wrong:?}");
    }
    // The fifth wrong one locks; then even the right password is refused until the lock ends.
    let fifth = b.sign_in("kadis", "not-the-password");
    assert_eq!(fifth.status, 401);
    let locked = b.sign_in("kadis", PASSWORD);
    assert_eq!(locked.status, 403, "{locked:?}");
    assert!(locked.body.contains("locked"), "{}", locked.body);
    assert_eq!(b.session(), None);

    let refused = events(&d, ops, "signin.refused");
    let reasons: Vec<&str> = refused
        .iter()
        .map(|e| e["summary"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "unknown user",
            "wrong password",
            "wrong password",
            "wrong password",
            "wrong password",
            "wrong password",
            "locked"
        ]
    );
    assert!(refused[5]["summary"]["locked_until"].is_string());
    assert!(refused.iter().all(|e| e["actor"] == "anonymous"));

    // An administrator's new password unlocks it.
    set_password(&d, "kadis", "kata-sandi-yang-baru-1");
    let fresh = Browser::new(&d);
    assert_eq!(fresh.sign_in("kadis", "kata-sandi-yang-baru-1").status, 303);

    // A disabled user cannot sign in, and a live session of theirs ends at once.
    cli_ok(&d, &["user", "disable", "kadis"]);
    assert_eq!(fresh.get("/inbox").status, 303);
    // Refused in the words of a wrong password: nothing tells which accounts exist.
    let disabled = Browser::new(&d).sign_in("kadis", "kata-sandi-yang-baru-1");
    assert_eq!(disabled.status, 401, "{disabled:?}");
}

#[test]
fn the_sign_in_form_needs_its_own_token_and_sessions_end_when_idle() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let ops = &tokens[5];
    set_password(&d, "kabid", PASSWORD);

    // Login CSRF: a form posted from elsewhere carries no token of the page's cookie.
    let b = Browser::new(&d);
    let forged = b.post(
        "/signin/password",
        &[("name", "kabid"), ("password", PASSWORD), ("form", "x")],
    );
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(b.session(), None);
    let garbage = b.post("/signin/password", &[("nothing", "here")]);
    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert!(
        garbage
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    // Idle for longer than console.session_idle_minutes (30): the next request finds the
    // session over, recorded once with its reason.
    assert_eq!(b.sign_in("kabid", PASSWORD).status, 303);
    assert_eq!(b.get("/inbox").status, 200);
    store_exec(
        &d.dir,
        "UPDATE sessions SET last_seen_at = '2020-01-01T00:00:00Z'",
        None,
    );
    let idle = b.get("/inbox");
    assert_eq!(idle.status, 303, "{idle:?}");
    assert_eq!(b.get("/inbox").status, 303);
    let ends = events(&d, ops, "session.end");
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0]["summary"]["reason"], "idle");
    assert_eq!(ends[0]["actor"], "system");

    // Bearer tokens still serve scripts; a session cookie opens nothing of the API. The next
    // sign-in forgets sessions long past (the audit trail keeps their story).
    let r = curl(&d, "GET", "/api/v1/requests", Some(ops), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(store_query(&d.dir, "SELECT id FROM sessions").len(), 1);
    assert_eq!(b.sign_in("kabid", PASSWORD).status, 303);
    assert_eq!(
        store_query(&d.dir, "SELECT id FROM sessions").len(),
        1,
        "the idle one, unused since 2020, is gone"
    );
    let session = b.session().unwrap();
    let r = curl(
        &d,
        "GET",
        "/api/v1/requests",
        None,
        &["-H", &format!("Cookie: ranah={session}")],
    );
    assert_eq!(r.status, 401, "{}", r.json);
}

#[test]
fn an_applicant_submits_with_files_withdraws_and_reads_the_register() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let ops = &tokens[5];
    set_password(&d, "andi", PASSWORD);
    provision(&d, &tokens, "lama", "203.0.113.7");
    let andi = Browser::new(&d);
    assert_eq!(andi.sign_in("andi", PASSWORD).status, 303);
    let inbox = andi.get("/inbox");
    assert!(
        inbox.body.contains("href=\"/requests/new\""),
        "{}",
        inbox.body
    );
    let form = andi.get("/requests/new");
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("<option value=\"example.go.id\">"),
        "{}",
        form.body
    );
    let csrf = form.hidden("csrf");
    let letter = d.dir.join("surat.pdf");
    std::fs::write(&letter, LETTER_PDF).unwrap();
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "kesehatan"),
        ("zone", "example.go.id"),
        ("type_1", "A"),
        ("value_1", "203.0.113.90"),
        ("ttl_1", "3600"),
        ("type_2", "AAAA"),
        ("value_2", ""),
        ("purpose", "Portal layanan kesehatan"),
        ("contact_name", "Andi"),
        ("contact_email", "andi@dinkes.example"),
        ("recommendation_ref", "REK/002/2026"),
    ];
    // Without the form token nothing is submitted.
    let mut forged = fields.to_vec();
    forged[0] = ("csrf", "x");
    let refused = andi.post_files("/requests", &forged, &[("letter", &letter)]);
    assert_eq!(refused.status, 403, "{refused:?}");
    // A file that is not what it claims stops the submission before anything is kept.
    let fake = d.dir.join("palsu.pdf");
    std::fs::write(&fake, "not a pdf").unwrap();
    let bad = andi.post_files("/requests", &fields, &[("letter", &fake)]);
    assert_eq!(bad.status, 415, "{bad:?}");
    let r = curl(&d, "GET", "/api/v1/requests", Some(ops), &[]);
    assert_eq!(r.json["total"], 1, "{}", r.json);

    let sent = andi.post_files("/requests", &fields, &[("letter", &letter)]);
    assert_eq!(sent.status, 303, "{sent:?}");
    let to = sent.header("location").unwrap();
    let id: i64 = to
        .trim_start_matches("/requests/")
        .trim_end_matches("?saved=1")
        .parse()
        .unwrap();
    let page = andi.get(&to);
    assert!(
        page.body.contains("kesehatan.example.go.id"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("/requests/{id}/files/")),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"withdraw\""), "{}", page.body);
    // An applicant never decides.
    assert!(!page.body.contains("id=\"decision\""));
    let r = curl(&d, "GET", &format!("/api/v1/requests/{id}"), Some(ops), &[]);
    assert_eq!(r.json["records"][0]["value"], "203.0.113.90", "{}", r.json);
    assert_eq!(r.json["attachments"][0]["kind"], "letter", "{}", r.json);

    // Another agency's applicant sees nothing of it.
    set_password(&d, "dewi", PASSWORD);
    let dewi = Browser::new(&d);
    assert_eq!(dewi.sign_in("dewi", PASSWORD).status, 303);
    assert_eq!(dewi.get(&format!("/requests/{id}")).status, 404);
    assert_eq!(
        dewi.get(&format!("/requests/{id}/files/letter")).status,
        404
    );

    let csrf = page.hidden("csrf");
    let gone = andi.post(
        &format!("/requests/{id}/applicant"),
        &[("csrf", &csrf), ("action", "withdraw")],
    );
    assert_eq!(gone.status, 303, "{gone:?}");
    let r = curl(&d, "GET", &format!("/api/v1/requests/{id}"), Some(ops), &[]);
    assert_eq!(r.json["status"], "withdrawn", "{}", r.json);

    // The register: every name, searchable and by agency.
    let register = andi.get("/register");
    assert_eq!(register.status, 200);
    assert!(
        register.body.contains("lama.example.go.id"),
        "{}",
        register.body
    );
    assert!(register.body.contains("203.0.113.7"), "{}", register.body);
    let none = andi.get("/register?q=tidakada");
    assert!(!none.body.contains("lama.example.go.id"));
    let by_agency = andi.get("/register?agency=DINKES&q=LAMA");
    assert!(
        by_agency.body.contains("lama.example.go.id"),
        "{}",
        by_agency.body
    );
}

#[test]
fn the_office_reads_certificates_zones_the_report_with_its_chart_and_the_audit_trail() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let ops = &tokens[5];
    let id = provision(&d, &tokens, "arsip", "203.0.113.8");
    set_password(&d, "ops", PASSWORD);
    set_password(&d, "kadis", PASSWORD);
    set_password(&d, "andi", PASSWORD);
    let admin = Browser::new(&d);
    assert_eq!(admin.sign_in("ops", PASSWORD).status, 303);
    let inbox = admin.get("/inbox");
    for link in ["/certificates", "/zones", "/report", "/audit"] {
        assert!(inbox.body.contains(&format!("href=\"{link}\"")), "{link}");
    }

    let zones = admin.get("/zones");
    assert_eq!(zones.status, 200);
    let r = curl(&d, "GET", "/api/v1/zones/example.go.id", Some(ops), &[]);
    let serial = r.json["serial"].as_u64().unwrap();
    assert!(
        zones
            .body
            .contains(&format!("<dd class=\"serial\">{serial}</dd>")),
        "{}",
        zones.body
    );
    assert_eq!(admin.get("/certificates").status, 200);

    // The report of this month: the chart is SVG made by ranah, the CSV is the API's.
    let month = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Makassar)
        .format("%Y-%m")
        .to_string();
    let report = admin.get(&format!("/report?month={month}"));
    assert_eq!(report.status, 200, "{report:?}");
    assert!(report.body.contains("<svg id=\"chart\""), "{}", report.body);
    assert!(report.body.contains("Disposisi Kepala Dinas"));
    assert_eq!(
        report.body.matches("<rect ").count(),
        2 * 4,
        "{}",
        report.body
    );
    let csv = admin.get(&format!("/report.csv?month={month}"));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .contains(&format!("laporan-layanan-{month}.csv"))
    );
    let api_csv = Command::new("curl")
        .args(["-s", "-H", "Accept: text/csv", "-H"])
        .arg(format!("Authorization: Bearer {ops}"))
        .arg(format!(
            "http://{}/api/v1/reports/service?month={month}",
            d.api
        ))
        .output()
        .unwrap();
    assert_eq!(csv.body, String::from_utf8_lossy(&api_csv.stdout));
    let bad = admin.get("/report?month=2026-13");
    assert_eq!(bad.status, 422, "{bad:?}");

    // The trail: filtered, verified, and the request's own events on its page.
    let audit = admin.get("/audit?action=request.approved");
    assert_eq!(audit.status, 200);
    // provision() walks the three approvals up to the records; the response is not yet given.
    assert_eq!(
        audit.body.matches("<td>request.approved</td>").count(),
        3,
        "{}",
        audit.body
    );
    let verified = admin.get("/audit?verify=1");
    assert!(
        verified.body.contains("id=\"verified\""),
        "{}",
        verified.body
    );
    assert!(verified.body.contains("utuh"), "{}", verified.body);
    let request = admin.get(&format!("/requests/{id}"));
    assert!(
        request.body.contains("id=\"request-audit\""),
        "{}",
        request.body
    );

    // An approver reads the report but not the trail; an applicant neither.
    let kadis = Browser::new(&d);
    assert_eq!(kadis.sign_in("kadis", PASSWORD).status, 303);
    assert_eq!(kadis.get("/report").status, 200);
    assert_eq!(kadis.get("/audit").status, 403);
    assert!(
        !kadis
            .get(&format!("/requests/{id}"))
            .body
            .contains("request-audit")
    );
    let andi = Browser::new(&d);
    assert_eq!(andi.sign_in("andi", PASSWORD).status, 303);
    let inbox = andi.get("/inbox");
    assert!(!inbox.body.contains("href=\"/report\""));
    assert!(!inbox.body.contains("href=\"/audit\""));
    assert_eq!(andi.get("/report").status, 403);
    assert_eq!(andi.get("/audit").status, 403);
    assert_eq!(andi.get("/report.csv").status, 403);
}

#[test]
fn an_admin_manages_users_roles_passwords_and_tokens_and_nobody_else_can() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let ops = &tokens[5];
    set_password(&d, "ops", PASSWORD);
    set_password(&d, "kadis", PASSWORD);
    let admin = Browser::new(&d);
    assert_eq!(admin.sign_in("ops", PASSWORD).status, 303);
    let page = admin.get("/admin");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("id=\"users\""));
    let csrf = page.hidden("csrf");

    // A new approver, with a password, who then signs in.
    let added = admin.post(
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("name", "sekretaris"),
            ("roles", "head_of_division"),
            ("email", "sekretaris@example.go.id"),
        ],
    );
    assert_eq!(added.status, 303, "{added:?}");
    let refused = admin.post(
        "/admin/users",
        &[("csrf", &csrf), ("name", "x y"), ("roles", "technical")],
    );
    assert_eq!(refused.status, 422, "{refused:?}");
    let incompatible = admin.post(
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("name", "campur"),
            ("roles", "admin, technical"),
        ],
    );
    assert_eq!(incompatible.status, 403, "{incompatible:?}");
    let short = admin.post(
        "/admin/users/sekretaris",
        &[
            ("csrf", &csrf),
            ("action", "password"),
            ("password", "pendek"),
        ],
    );
    assert_eq!(short.status, 422);
    let set = admin.post(
        "/admin/users/sekretaris",
        &[
            ("csrf", &csrf),
            ("action", "password"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(set.status, 303, "{set:?}");
    let sekretaris = Browser::new(&d);
    assert_eq!(sekretaris.sign_in("sekretaris", PASSWORD).status, 303);

    // An acting period, recorded.
    let roles = admin.post(
        "/admin/users/sekretaris",
        &[
            ("csrf", &csrf),
            ("action", "roles"),
            (
                "roles",
                "head_of_division, head_of_office@2026-12-01..2026-12-31",
            ),
        ],
    );
    assert_eq!(roles.status, 303, "{roles:?}");
    let changed = events(&d, ops, "user.roles");
    assert_eq!(
        changed[0]["summary"]["after"],
        serde_json::json!(["head_of_division", "head_of_office@2026-12-01..2026-12-31"])
    );
    assert_eq!(changed[0]["actor"], "ops");

    // A token, shown once, that works; then revoked.
    let made = admin.post("/admin/tokens", &[("csrf", &csrf), ("user", "sekretaris")]);
    assert_eq!(made.status, 200, "{made:?}");
    let start = made.body.find("<code id=\"token\">").unwrap() + "<code id=\"token\">".len();
    let token = made.body[start..].split('<').next().unwrap().to_owned();
    assert!(token.starts_with("ranah_"), "{token}");
    assert_eq!(
        curl(&d, "GET", "/api/v1/requests", Some(&token), &[]).status,
        200
    );
    assert!(
        !admin.get("/admin").body.contains(&token),
        "shown once only"
    );
    let id = events(&d, ops, "token.create")
        .iter()
        .find(|e| e["target"] == "user/sekretaris")
        .unwrap()["summary"]["token"]
        .as_i64()
        .unwrap();
    let revoked = admin.post(&format!("/admin/tokens/{id}/revoke"), &[("csrf", &csrf)]);
    assert_eq!(revoked.status, 303, "{revoked:?}");
    assert_eq!(
        curl(&d, "GET", "/api/v1/requests", Some(&token), &[]).status,
        401
    );

    // Disabled: the session ends at once.
    let disabled = admin.post(
        "/admin/users/sekretaris",
        &[("csrf", &csrf), ("action", "disable")],
    );
    assert_eq!(disabled.status, 303);
    assert_eq!(sekretaris.get("/inbox").status, 303);

    // A forged form changes nothing; an approver sees and changes nothing here.
    let forged = admin.post(
        "/admin/users/kadis",
        &[("csrf", "x"), ("action", "disable")],
    );
    assert_eq!(forged.status, 403);
    let kadis = Browser::new(&d);
    assert_eq!(kadis.sign_in("kadis", PASSWORD).status, 303);
    assert!(!kadis.get("/inbox").body.contains("href=\"/admin\""));
    assert_eq!(kadis.get("/admin").status, 403);
    let csrf = kadis.get("/inbox").hidden("csrf");
    let attempt = kadis.post(
        "/admin/users",
        &[("csrf", &csrf), ("name", "penyusup"), ("roles", "admin")],
    );
    assert_eq!(attempt.status, 403, "{attempt:?}");
    let attempt = kadis.post("/admin/tokens", &[("csrf", &csrf), ("user", "kadis")]);
    assert_eq!(attempt.status, 403, "{attempt:?}");
    assert!(
        events(&d, ops, "user.add")
            .iter()
            .all(|e| e["target"] != "user/penyusup")
    );
}

#[test]
fn sign_ins_from_one_source_are_limited_and_hostile_forms_get_clear_refusals() {
    let d = Daemon::start_test_zone_configured("[console]\nsign_ins_per_minute = 3\n");
    let tokens = setup_people(&d);
    let ops = &tokens[5];
    let b = Browser::new(&d);
    for _ in 0..3 {
        assert_eq!(b.sign_in("kadis", "salah-salah-salah").status, 401);
    }
    let limited = b.sign_in("kadis", "salah-salah-salah");
    assert_eq!(limited.status, 429, "{limited:?}");
    assert!(
        limited.body.contains("Terlalu banyak percobaan"),
        "{}",
        limited.body
    );
    // The limit is checked first: what it refuses costs no hash and writes nothing.
    assert_eq!(events(&d, ops, "signin.refused").len(), 3);

    // A body past the form limit, and a form that is no form: refused, never a 500.
    let big = "x".repeat(3 * 1024 * 1024);
    let file = d.dir.join("big.txt");
    std::fs::write(&file, format!("name={big}&password=x&form=y")).unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-binary",
        ])
        .arg(format!("@{}", file.display()))
        .arg(format!("http://{}/signin/password", d.api))
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(status == "400" || status == "413", "{status}");
    let odd = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg("Content-Type: application/json")
        .args(["--data", "{\"name\": 1}"])
        .arg(format!("http://{}/signin/password", d.api))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&odd.stdout), "400");
    // Pages that do not exist, and requests that are not numbers.
    assert_eq!(b.get("/tidak-ada").status, 404);
    let cookie_flood = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Cookie: ranah={}", "a".repeat(4000)))
        .arg(format!("http://{}/inbox", d.api))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&cookie_flood.stdout), "303");
}

#[test]
fn wrong_passwords_sent_at_once_are_each_counted_and_lock() {
    let d = Daemon::start_test_zone_configured("[console]\nsign_ins_per_minute = 100\n");
    let tokens = setup_people(&d);
    let ops = &tokens[5];
    set_password(&d, "kadis", PASSWORD);
    let guesses: Vec<_> = (0..8)
        .map(|i| {
            let base = format!("http://{}", d.api);
            std::thread::spawn(move || {
                Browser::at(&base)
                    .sign_in("kadis", &format!("tebakan-ke-{i}-salah"))
                    .status
            })
        })
        .collect();
    for g in guesses {
        assert_eq!(g.join().unwrap(), 401);
    }
    // Eight failures read and raised one after another: the fifth locked the account.
    let refused = events(&d, ops, "signin.refused");
    assert_eq!(refused.len(), 8, "{refused:?}");
    let locks = refused
        .iter()
        .filter(|e| e["summary"]["locked_until"].is_string())
        .count();
    assert_eq!(locks, 1, "{refused:?}");
    let right = Browser::new(&d).sign_in("kadis", PASSWORD);
    assert_eq!(right.status, 403, "{right:?}");
}
