//! pebble, Let's Encrypt's test CA, on loopback with a throwaway listener certificate, and the
//! checks of what it issues (openssl). Shared by the certificate tests and the fault tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::harness::*;

/// A throwaway CA and pebble's listener certificate for 127.0.0.1, made with openssl.
pub fn listener_certificate(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ranah test listener CA",
    ]);
    run(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "key.pem",
        "-out",
        "cert.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&csr);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

/// pebble, killed when dropped.
pub struct Pebble {
    child: Option<Child>,
    pub dir: PathBuf,
    port: u16,
    management: u16,
    dns: SocketAddr,
}

impl Pebble {
    /// Start pebble in `dir` (which holds the listener certificate) asking `dns` for DNS-01,
    /// issuing certificates valid for `validity` seconds if given (else its default, 5 years).
    pub fn start(
        dir: &Path,
        port: u16,
        management: u16,
        dns: SocketAddr,
        validity: Option<u64>,
    ) -> Pebble {
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.join("cert.pem"), "privateKey": dir.join("key.pem"),
            "httpPort": free_port(), "tlsPort": free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        if let Some(secs) = validity {
            config["pebble"]["certificateValidityPeriod"] = secs.into();
        }
        let file = dir.join("pebble.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let mut p = Pebble {
            child: None,
            dir: dir.to_owned(),
            port,
            management,
            dns,
        };
        p.spawn();
        p
    }

    pub fn spawn(&mut self) {
        let child = Command::new("pebble")
            .args(["-config", self.dir.join("pebble.json").to_str().unwrap()])
            .args(["-dnsserver", &self.dns.to_string()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble is required; the README's test command installs it");
        self.child = Some(child);
        assert!(
            eventually(20, || self.get(self.port, "/dir").is_some()),
            "pebble did not serve /dir within 20 s"
        );
    }

    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// GET over TLS trusting the listener CA.
    pub fn get(&self, port: u16, path: &str) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "5", "--cacert"])
            .arg(self.dir.join("ca.pem"))
            .arg(format!("https://127.0.0.1:{port}{path}"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The root that issued this run's certificates (it changes with every start).
    pub fn root(&self) -> String {
        self.get(self.management, "/roots/0")
            .expect("pebble's root")
    }

    /// What pebble's management interface says of a serial: `Valid` or `Revoked`.
    pub fn status_of(&self, serial_hex: &str) -> String {
        let body = self
            .get(
                self.management,
                &format!("/cert-status-by-serial/{serial_hex}"),
            )
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["Status"].as_str().unwrap_or("").to_owned()
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.kill();
    }
}

pub const KEY_ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Download a text body.
pub fn text(d: &Daemon, token: &str, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .arg(format!("http://{}{}", d.api, path))
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = t.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

/// `openssl verify` of the chain's leaf against `root`, for `name`; and the leaf's public key.
pub fn verify_chain(dir: &Path, chain: &str, root: &str, name: &str) -> String {
    let chain_file = dir.join(format!("{name}.chain.pem"));
    let root_file = dir.join("pebble-root.pem");
    std::fs::write(&chain_file, chain).unwrap();
    std::fs::write(&root_file, root).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&root_file)
        .arg("-untrusted")
        .arg(&chain_file)
        .args(["-verify_hostname", name])
        .arg(&chain_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let san = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&chain_file)
        .output()
        .unwrap();
    let san = String::from_utf8_lossy(&san.stdout);
    assert_eq!(
        san.lines().nth(1).map(str::trim),
        Some(format!("DNS:{name}").as_str()),
        "the certificate must name exactly {name}: {san}"
    );
    public_key(&["x509", "-pubkey", "-noout", "-in"], &chain_file)
}

pub fn public_key(args: &[&str], file: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = String::from_utf8_lossy(&out.stdout).into_owned();
    if pem.contains("PUBLIC KEY") {
        return pem;
    }
    // A private key: derive its public half.
    let tmp = file.with_extension("pub");
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(file)
        .arg("-out")
        .arg(&tmp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(tmp).unwrap()
}
