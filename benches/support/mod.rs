//! What the benchmarks that drive the daemon over HTTP and DNS share: people and their
//! tokens, requests walked to their last step, one HTTP exchange, one DNS question, and
//! percentiles.

#![allow(dead_code)] // each benchmark uses its own part of it

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use ranah::domain::access::{Grant, Role};
use ranah::domain::audit::Attribution;
use ranah::domain::calendar::Calendar;
use ranah::store::Store;

/// Write `ORIGIN.zone` in `zones` (created): the apex, a name server and `names` hosts
/// with an A record each.
pub fn write_zone(zones: &std::path::Path, origin: &str, names: usize) {
    std::fs::create_dir_all(zones).expect("zones directory");
    let mut zone = format!(
        "$ORIGIN {origin}.\n$TTL 3600\n@ SOA ns1 h 1 3600 900 1209600 300\n@ NS ns1\nns1 A 203.0.113.1\n"
    );
    for i in 0..names {
        zone.push_str(&format!("host{i} A 203.0.113.{}\n", i % 250 + 1));
    }
    std::fs::write(zones.join(format!("{origin}.zone")), zone).expect("zone file");
}

/// An agency, an applicant of it and the three approvers of the kaltara chain, with their
/// tokens (applicant, head of office, head of division, technical), made through a pool of
/// its own on the store at `url` (as the command line would).
pub async fn people(url: &str) -> Vec<String> {
    let store = Store::open(url).await.expect("store");
    let people =
        ranah::service::people::People::new(store.clone(), Arc::new(Calendar::default_wita([])));
    let cli = Attribution::cli();
    let agency = people
        .add_agency("DINKES", "Dinas Kesehatan", &cli, Utc::now())
        .await
        .expect("agency");
    let mut tokens = Vec::new();
    for (name, role, agency) in [
        ("andi", "applicant", Some(agency)),
        ("kadis", "head_of_office", None),
        ("kabid", "head_of_division", None),
        ("teknis", "technical", None),
    ] {
        let grant = Grant::permanent(Role::parse(role).expect("role"));
        people
            .add_user(name, None, agency, &[grant], &cli, Utc::now())
            .await
            .expect("user");
        let (_, token) = people
            .create_token(name, None, &cli, Utc::now())
            .await
            .expect("token");
        tokens.push(token);
    }
    store.close().await;
    tokens
}

/// A request for `name` in `zone` (one A record) submitted with its letter and approved up to
/// the technical step, over HTTP at `api`: the next approval (by `tokens[3]`) provisions it.
pub async fn prepare(api: SocketAddr, tokens: &[String], zone: &str, name: &str) -> i64 {
    let body = format!(
        r#"{{"kind":"create","zone":"{zone}","name":"{name}","records":[{{"type":"A","value":"203.0.113.9","ttl":3600}}],"contact":{{"name":"Andi","email":"andi@dinkes.example"}},"purpose":"Aplikasi layanan","certificate":false}}"#
    );
    let (status, reply) = http(
        api,
        "POST",
        "/api/v1/requests",
        &tokens[0],
        "application/json",
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let id = json_id(&reply);
    let boundary = "ranahbench";
    let mut upload = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"letter\"; filename=\"surat.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    upload.extend_from_slice(include_bytes!("../../tests/fixtures/letter.pdf"));
    upload.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ctype = format!("multipart/form-data; boundary={boundary}");
    let path = format!("/api/v1/requests/{id}/attachments");
    let (status, reply) = http(api, "POST", &path, &tokens[0], &ctype, &upload).await;
    assert!(status == 200 || status == 201, "{status} {reply}");
    for token in &tokens[1..3] {
        let path = format!("/api/v1/requests/{id}/approve");
        let (status, reply) = http(api, "POST", &path, token, "application/json", b"{}").await;
        assert_eq!(status, 200, "{reply}");
    }
    id
}

/// Median, p90, p99 and maximum.
pub fn summary(times: &mut [Duration]) -> String {
    times.sort();
    if times.is_empty() {
        return "none".into();
    }
    let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(times[times.len() - 1])
    )
}

/// Whether DNS answers the name's A record (one UDP question).
pub async fn answered(dns: SocketAddr, name: &str) -> bool {
    let Ok(socket) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else {
        return false;
    };
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii(name).expect("name"),
        RecordType::A,
    ));
    let Ok(bytes) = query.to_vec() else {
        return false;
    };
    if socket.send_to(&bytes, dns).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 1232];
    let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await
    else {
        return false;
    };
    Message::from_vec(&buf[..n])
        .is_ok_and(|m| m.metadata.response_code == ResponseCode::NoError && !m.answers.is_empty())
}

/// One HTTP/1.1 exchange on a connection of its own: the status and the body.
pub async fn http(
    api: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(api).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.expect("read");
    let text = String::from_utf8_lossy(&reply).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn json_id(body: &str) -> i64 {
    let value: serde_json::Value = serde_json::from_str(body).expect("JSON");
    value["id"].as_i64().expect("id")
}
