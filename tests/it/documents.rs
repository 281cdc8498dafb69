//! The documents ranah makes, signed with the office's certificate (PAdES): poppler's pdfsig
//! verifies the response letter and the register, and finds a changed byte; without a
//! certificate the documents say they are unsigned; a key that is not the certificate's stops
//! the start.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

/// A certificate for the office's signature and its PKCS#8 key, written as PEM files.
fn office_certificate(dir: &Path, common_name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("signing.crt"), dir.join("signing.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

fn download(d: &Daemon, token: &str, path: &str, accept: &str, to: &Path) {
    let out = Command::new("curl")
        .args(["-s", "-o", to.to_str().unwrap(), "-w", "%{http_code}"])
        .args([
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            &format!("Accept: {accept}"),
        ])
        .arg(format!("http://{}{path}", d.api))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{path}");
}

/// What pdfsig says of a file.
fn pdfsig(file: &Path) -> String {
    let out = Command::new("pdfsig")
        .arg(file)
        .output()
        .expect("pdfsig (poppler-utils) is required; the README's test command installs it");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn text_of(file: &Path) -> String {
    let out = Command::new("pdftotext")
        .args([file.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A copy of `file` with one byte of its signed part changed.
fn tampered(file: &Path) -> std::path::PathBuf {
    let mut bytes = std::fs::read(file).unwrap();
    // The version in the header (`%PDF-1.x`): signed, and the file still reads.
    assert!(bytes.starts_with(b"%PDF-1."));
    bytes[7] = if bytes[7] == b'4' { b'5' } else { b'4' };
    let out = file.with_extension("changed.pdf");
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn the_response_letter_and_the_register_are_signed_and_a_changed_byte_is_found() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let (cert, key) = office_certificate(tmp.path(), "Kepala Dinas Contoh");
    let config = format!(
        "[checker]\nenabled = false\n[signing]\ncertificate_file = \"{cert}\"\nkey_file = \"{key}\"\n"
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let [andi, _dewi, kadis, kabid, teknis, ops] = setup_people(&d);
    let r = post_json(
        &d,
        "/api/v1/requests",
        &andi,
        r#"{"kind": "create", "zone": "example.go.id", "name": "bertanda",
            "records": [{"type": "A", "value": "203.0.113.92", "ttl": 3600}],
            "contact": {"name": "Andi", "email": "andi@dinkes.example"},
            "purpose": "Aplikasi layanan", "certificate": false}"#,
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    let letter = tmp.path().join("surat.pdf");
    std::fs::write(&letter, LETTER_PDF).unwrap();
    let r = curl(
        &d,
        "POST",
        &format!("/api/v1/requests/{id}/attachments"),
        Some(&andi),
        &["-F", &format!("letter=@{}", letter.display())],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    for token in [&kadis, &kabid, &teknis, &kadis] {
        let r = post_json(&d, &format!("/api/v1/requests/{id}/approve"), token, "{}");
        assert_eq!(r.status, 200, "{}", r.json);
    }
    let response = tmp.path().join("tanggapan.pdf");
    download(
        &d,
        &andi,
        &format!("/api/v1/requests/{id}/attachments/response_letter"),
        "application/pdf",
        &response,
    );
    let register = tmp.path().join("daftar.pdf");
    download(&d, &ops, "/api/v1/subdomains", "application/pdf", &register);
    for file in [&response, &register] {
        let said = pdfsig(file);
        assert!(
            said.contains("Signature is Valid."),
            "{}: {said}",
            file.display()
        );
        assert!(said.contains("Total document signed"), "{said}");
        assert!(said.contains("Kepala Dinas Contoh"), "{said}");
        assert!(said.contains("ETSI.CAdES.detached"), "{said}");
        assert!(
            text_of(file).contains("Ditandatangani secara elektronik oleh Kepala Dinas Contoh"),
            "{}",
            text_of(file)
        );
        let changed = pdfsig(&tampered(file));
        assert!(
            changed.contains("Digest Mismatch") && !changed.contains("Signature is Valid."),
            "{changed}"
        );
    }
}

#[test]
fn without_a_certificate_documents_say_they_are_unsigned_and_a_wrong_key_stops_the_start() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let d = Daemon::start_configured(
        tmp.path(),
        ([127, 0, 0, 1], 0).into(),
        Some("[checker]\nenabled = false\n"),
    );
    let [_, _, _, _, _, ops] = setup_people(&d);
    let register = tmp.path().join("daftar.pdf");
    download(&d, &ops, "/api/v1/subdomains", "application/pdf", &register);
    assert!(
        text_of(&register).contains("Dokumen ini tidak ditandatangani secara elektronik."),
        "{}",
        text_of(&register)
    );
    assert!(
        pdfsig(&register).contains("does not contain any signatures"),
        "{}",
        pdfsig(&register)
    );
    drop(d);

    // A key that is not the certificate's: ranah does not start, and says why.
    let other = tempfile::tempdir().unwrap();
    let (cert, _) = office_certificate(tmp.path(), "Kepala Dinas Contoh");
    let (_, key) = office_certificate(other.path(), "Orang Lain");
    let config = format!(
        "[checker]\nenabled = false\n[signing]\ncertificate_file = \"{cert}\"\nkey_file = \"{key}\"\n"
    );
    let again = Daemon::workdir("example.go.id.zone", &test_zone());
    let e = Daemon::try_start_configured(
        again.path(),
        ([127, 0, 0, 1], free_port()).into(),
        Some(&config),
    )
    .err()
    .expect("ranah started with a key that is not its certificate's");
    assert!(e.contains("not the certificate's"), "{e}");

    // An office's template whose signature names a step its workflow does not have: no start.
    let documents = other.path().join("documents");
    std::fs::create_dir_all(&documents).unwrap();
    std::fs::write(
        documents.join("response_letter.toml"),
        "title = \"SURAT\"\nfile_name = \"surat\"\n[[signatures]]\ntitle = \"Kepala\"\nstep = \"nowhere\"\n",
    )
    .unwrap();
    let config = format!(
        "[checker]\nenabled = false\n[letter]\ndocuments_dir = \"{}\"\n",
        documents.display()
    );
    let third = Daemon::workdir("example.go.id.zone", &test_zone());
    let e = Daemon::try_start_configured(
        third.path(),
        ([127, 0, 0, 1], free_port()).into(),
        Some(&config),
    )
    .err()
    .expect("ranah started with a template that can never be signed");
    assert!(e.contains("nowhere") && e.contains("does not have"), "{e}");
}
