//! What the fault tests need beyond the integration harness: HTTP calls to an address (the API
//! moves to a new port on every restart) that report "no answer" instead of failing, DNS
//! lookups with a short timeout that say what was answered, and checks of the host.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use crate::harness::{Q, Reply, build_query, exchange_raw};

/// A call to the API at `api` through curl: status 0 when nothing answered (the daemon is
/// down, or was killed mid-call). Every answer is held against the OpenAPI document, as the
/// integration tests do.
pub fn call(
    api: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    args: &[&str],
) -> Reply {
    let url = format!("http://{api}{path}");
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-X",
        method,
        "-w",
        "\n%{http_code} %{content_type}",
        "--max-time",
        "30",
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    cmd.args(args).arg(&url);
    let out = cmd.output().expect("curl is required for this test");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut tail = tail.splitn(2, ' ');
    let status = tail.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = tail.next().unwrap_or("").to_owned();
    let reply = Reply {
        status,
        content_type,
        json: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    };
    crate::contract::check(
        api,
        method,
        path,
        reply.status,
        &reply.content_type,
        &reply.json,
    );
    reply
}

/// POST a JSON body.
pub fn post(api: SocketAddr, path: &str, token: &str, body: &str) -> Reply {
    call(
        api,
        "POST",
        path,
        Some(token),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ],
    )
}

/// GET.
pub fn get(api: SocketAddr, path: &str, token: &str) -> Reply {
    call(api, "GET", path, Some(token), &[])
}

/// Upload `file` as the request letter of request `id`.
pub fn attach(api: SocketAddr, token: &str, id: i64, file: &std::path::Path) -> Reply {
    call(
        api,
        "POST",
        &format!("/api/v1/requests/{id}/attachments"),
        Some(token),
        &["-F", &format!("letter=@{}", file.display())],
    )
}

/// A real PDF (ranah reads an attachment whole), the request letter of every request here.
pub const LETTER: &[u8] = crate::harness::LETTER_PDF;

/// What DNS said of a name's A records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// NOERROR with these addresses (empty: no data).
    Addresses(Vec<Ipv4Addr>),
    /// NXDOMAIN.
    NoSuchName,
    /// Another response code.
    Other(ResponseCode),
}

impl Answer {
    /// What a name holding `a` (or nothing) must answer.
    pub fn of(a: Option<Ipv4Addr>) -> Self {
        match a {
            Some(a) => Self::Addresses(vec![a]),
            None => Self::NoSuchName,
        }
    }
}

/// The A records of `name` over UDP (TCP if `tcp`), asked up to three times, one second each;
/// `None` if nothing answered.
pub fn lookup_a(dns: SocketAddr, name: &str, tcp: bool) -> Option<Answer> {
    let q = Q {
        edns: Some(1232),
        tcp,
    };
    let m = build_query(name, RecordType::A, q);
    let reply = exchange_raw(dns, &m.to_vec().ok()?, tcp)?;
    let msg = Message::from_vec(&reply).ok()?;
    Some(match msg.metadata.response_code {
        ResponseCode::NoError => Answer::Addresses(
            msg.answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect(),
        ),
        ResponseCode::NXDomain => Answer::NoSuchName,
        other => Answer::Other(other),
    })
}

/// The zone's SOA serial, asked once over UDP with `timeout`; `None` if nothing answered in
/// time (the daemon is down).
pub fn soa_serial(dns: SocketAddr, zone: &str, timeout: Duration) -> Option<u32> {
    let q = Q {
        edns: Some(1232),
        tcp: false,
    };
    let m = build_query(zone, RecordType::SOA, q);
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.send_to(&m.to_vec().ok()?, dns).ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    let msg = Message::from_vec(&buf[..n]).ok()?;
    if msg.metadata.id != m.metadata.id {
        return None;
    }
    msg.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}

/// A tool the test cannot run without: its absence fails the test, loudly.
pub fn require_tool(program: &str, package: &str) {
    let found = Command::new("sh")
        .args([
            "-c",
            &format!("command -v {program} || test -x /usr/sbin/{program}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{program} is required for this test (Debian package {package}); tests/run-all.sh installs it"
    );
}
