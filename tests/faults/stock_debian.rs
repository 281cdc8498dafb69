//! The test command's set-up stage on a stock Debian 12: a clean system made for the test with
//! `debootstrap --variant=minbase` (no Python at all, no pip, no curl), where
//! `tests/run-all.sh --setup-only` must install the tools with apt, make the virtual
//! environment with Debian's own python3 and fill it from PyPI, leaving the system's Python as
//! Debian ships it; a second run must find everything in place and install nothing. Then the
//! README's apt-get line of prerequisites must install in that system too.
//!
//! The system runs in a `chroot` inside a mount namespace of its own (`unshare`), so nothing it
//! mounts outlives it. That takes root. The minimal system is made once from the mirror apt
//! uses on this machine and kept as a tar file under the target directory (delete
//! `target/tmp/stock-debian/` to make it again); every run unpacks a fresh copy of it. The
//! network the machine has is the one the system has: when this machine reaches PyPI through a
//! proxy or a certificate authority of its own, named by the usual variables (`PIP_CERT`,
//! `SSL_CERT_FILE`, `https_proxy`, ...), those variables and the files they name are passed in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// Debian 12.
const SUITE: &str = "bookworm";
/// Every step's limit, in seconds (`timeout`): set-up took about two minutes here.
const STEP_LIMIT: &str = "900";
/// The variables that say how this machine reaches the network (passed into the system).
const NETWORK_VARS: &[&str] = &[
    "PIP_CERT",
    "PIP_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The Debian mirror apt uses on this machine (deb822 `.sources` or `sources.list`), else
/// deb.debian.org.
fn mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(content) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in content.lines().map(str::trim) {
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            };
            if let Some(uri) = uri
                && uri.trim_end_matches('/').ends_with("/debian")
            {
                return uri.to_owned();
            }
        }
    }
    "http://deb.debian.org/debian".into()
}

/// The minimal Debian 12 as a tar file, made with debootstrap on first use.
fn base_tarball(cache: &Path) -> (PathBuf, Option<f64>) {
    let tarball = cache.join(format!("{SUITE}-minbase.tar"));
    if tarball.exists() {
        return (tarball, None);
    }
    std::fs::create_dir_all(cache).unwrap();
    let started = Instant::now();
    let work = tempfile::tempdir_in(cache).unwrap();
    let root = work.path().join("root");
    let mirror = mirror();
    let out = Command::new("timeout")
        .args([STEP_LIMIT, "debootstrap", "--variant=minbase", SUITE])
        .arg(&root)
        .arg(&mirror)
        .output()
        .expect("timeout and debootstrap (the README's test command installs debootstrap)");
    assert!(
        out.status.success(),
        "debootstrap {SUITE} from {mirror}: {}",
        text(&out)
    );
    let partial = cache.join(format!("{SUITE}-minbase.tar.partial"));
    let out = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&partial)
        .arg(".")
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar: {}", text(&out));
    std::fs::rename(&partial, &tarball).unwrap();
    (tarball, Some(started.elapsed().as_secs_f64()))
}

/// A fresh copy of the minimal system, with the test command's script in `/ranah/tests` and
/// what it installs from (the Node.js tools' manifest and lock).
struct System {
    dir: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
}

impl System {
    fn unpack(tarball: &Path, cache: &Path) -> System {
        let dir = tempfile::tempdir_in(cache).unwrap();
        let out = Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .arg("-xf")
            .arg(tarball)
            .output()
            .expect("tar");
        assert!(out.status.success(), "tar: {}", text(&out));
        let root = dir.path();
        std::fs::create_dir_all(root.join("ranah/tests/fixtures/oidc")).unwrap();
        // The set-up reads the script and the Node.js tools' manifest and lock file.
        for file in [
            "tests/run-all.sh",
            "tests/fixtures/oidc/package.json",
            "tests/fixtures/oidc/package-lock.json",
        ] {
            std::fs::copy(repo().join(file), root.join("ranah").join(file)).unwrap();
        }
        // The name servers this machine uses (the file, not a link into a runtime directory).
        let _ = std::fs::remove_file(root.join("etc/resolv.conf"));
        std::fs::write(
            root.join("etc/resolv.conf"),
            std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        )
        .unwrap();
        let mut env = vec![
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
            ("HOME".into(), "/root".into()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        for var in NETWORK_VARS {
            let Ok(value) = std::env::var(var) else {
                continue;
            };
            let path = Path::new(&value);
            if path.is_absolute() && path.is_file() {
                // A file of its own: where the host keeps it (the system's CA bundle, say),
                // Debian's packages would write their own.
                let inside = format!("/ranah/network/{var}");
                std::fs::create_dir_all(root.join("ranah/network")).unwrap();
                std::fs::copy(path, root.join(&inside[1..])).unwrap();
                env.push(((*var).into(), inside));
            } else {
                env.push(((*var).into(), value));
            }
        }
        System {
            dir: Some(dir),
            env,
        }
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().expect("unpacked").path()
    }

    /// Run `script` with bash inside the system, as root, with /proc mounted in a mount
    /// namespace that ends with it; at most [`STEP_LIMIT`] seconds.
    fn run(&self, script: &str) -> Output {
        let mut command = Command::new("timeout");
        command
            .args([
                "--kill-after=10",
                STEP_LIMIT,
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--fork",
                "--",
                "sh",
                "-c",
                r#"mount -t proc proc "$1/proc" && exec chroot "$@""#,
                "sh",
            ])
            .arg(self.root())
            .args(["/usr/bin/env", "-i"])
            .args(self.env.iter().map(|(k, v)| format!("{k}={v}")))
            .args(["bash", "-euo", "pipefail", "-c", script]);
        command
            .output()
            .expect("timeout, unshare and chroot (util-linux, coreutils)")
    }

    fn run_ok(&self, script: &str) -> String {
        let out = self.run(script);
        assert!(
            out.status.success(),
            "in the clean Debian ({}): {script}\n{}",
            out.status,
            text(&out)
        );
        text(&out)
    }
}

impl Drop for System {
    fn drop(&mut self) {
        // The directory is removed only when nothing is mounted inside it (the namespace's
        // mounts end with it; this is the guard against removing through a mount).
        let Some(dir) = self.dir.take() else { return };
        let root = dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if mounts.lines().any(|l| l.contains(&root)) {
            eprintln!("{root} still has mounts: left in place");
            let _ = dir.keep();
        }
    }
}

/// The README's apt-get line of prerequisites, run as root (without its `sudo`).
fn readme_apt_line() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let rest = &readme[readme
        .find("<!-- prerequisites")
        .expect("README.md has the <!-- prerequisites marker")..];
    let line = rest
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .find(|l| l.contains("apt-get install"))
        .expect("the prerequisites block has an apt-get install line");
    line.replace("sudo ", "")
}

#[test]
fn the_set_up_stage_works_on_a_clean_debian_12() {
    let _one = crate::one_at_a_time();
    let uid = Command::new("id").arg("-u").output().expect("id");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this test makes a Debian system and chroots into it: run it as root (CI does)"
    );
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stock-debian");
    let (tarball, made) = base_tarball(&cache);
    let system = System::unpack(&tarball, &cache);

    // Stock: no Python, so no pip, and no curl.
    system.run_ok("! command -v python3 && ! command -v pip3 && ! command -v curl");

    let started = Instant::now();
    let first = system.run_ok("/ranah/tests/run-all.sh --setup-only");
    let first_secs = started.elapsed().as_secs_f64();
    assert!(
        first.contains("installing test tools:") && first.contains("python3 python3-venv"),
        "Debian's python3 and its venv module come from apt:\n{first}"
    );
    assert!(first.contains("installing the Python test tools into target/test-venv"));
    assert!(first.contains("set-up done"), "{first}");

    // The virtual environment is Debian's python3's, and its tools work.
    let venv = system.run_ok(
        "cd /ranah && target/test-venv/bin/python3 -c \
         'import sys, openapi_spec_validator, jsonschema, aiosmtpd, schemathesis, psycopg, selenium, cloudflare; \
          print(sys.base_prefix, sys.version_info[:2] >= (3, 11))' \
         && readlink -f target/test-venv/bin/python3 \
         && dpkg -S \"$(readlink -f /usr/bin/python3)\" \
         && target/test-venv/bin/schemathesis --version \
         && printf '%s' '{\"openapi\": \"3.1.0\", \"info\": {\"title\": \"t\", \"version\": \"1\"}, \"paths\": {}}' > /tmp/doc.json \
         && target/test-venv/bin/python3 -m openapi_spec_validator /tmp/doc.json",
    );
    assert!(venv.contains("/usr True"), "{venv}");
    assert!(venv.contains("/usr/bin/python3.11"), "{venv}");
    assert!(venv.contains("python3.11-minimal"), "{venv}");
    assert!(venv.contains("schemathesis, version"), "{venv}");
    assert!(venv.contains("OK"), "{venv}");
    // Debian's own Python is left as shipped: still without pip, nothing installed into it.
    let system_pip = system.run("/usr/bin/python3 -m pip --version");
    assert!(!system_pip.status.success());
    assert!(
        text(&system_pip).contains("No module named pip"),
        "{}",
        text(&system_pip)
    );
    // Every tool the tests run is there.
    system.run_ok(
        "for t in dig kdig named-checkzone kzonecheck delv ldns-verify-zone dnsviz knotd nsd pebble \
         pdftotext curl openssl dnsperf debootstrap psql runuser chromium chromedriver node npm nsupdate certbot; do command -v $t >/dev/null || [ -x /usr/sbin/$t ] || \
         { echo missing $t; exit 1; }; done && ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl \
         && ls -d /usr/lib/python3/dist-packages/certbot_dns_rfc2136",
    );

    // The OpenID provider of the browser test, installed into target/ by Debian's npm, at the
    // version the lock file pins, and it loads under Debian's node.
    let provider = system.run_ok(
        "cd /ranah/target/test-node && node -e \
         \"import('./node_modules/oidc-provider/lib/index.js').then(m => \
            console.log(typeof m.default, require('./node_modules/oidc-provider/package.json').version))\" \
         && test -s node_modules/axe-core/axe.min.js && echo axe-core in place",
    );
    assert!(provider.contains("function 8.8.1"), "{provider}");
    assert!(provider.contains("axe-core in place"), "{provider}");

    // A second run finds everything in place and installs nothing.
    let started = Instant::now();
    let second = system.run_ok("/ranah/tests/run-all.sh --setup-only");
    let second_secs = started.elapsed().as_secs_f64();
    assert!(!second.contains("installing"), "{second}");

    // The README's prerequisites install there too (Rust itself comes from rustup).
    let apt = readme_apt_line();
    let started = Instant::now();
    system.run_ok(&apt);
    let prerequisites_secs = started.elapsed().as_secs_f64();
    let tools = system.run_ok("cc --version && pkg-config --version && git --version && dig -v");
    assert!(
        tools.contains("(Debian") && tools.contains("git version"),
        "{tools}"
    );

    let size = system.run_ok("du -smx / | cut -f1");
    println!(
        "stock Debian 12: minimal system {}; set-up stage {first_secs:.0} s, again {second_secs:.1} s; \
         README prerequisites ({apt}) {prerequisites_secs:.0} s; system at the end {} MiB",
        made.map_or("unpacked from the cache".into(), |s| format!(
            "made with debootstrap in {s:.0} s"
        )),
        size.trim()
    );
}
