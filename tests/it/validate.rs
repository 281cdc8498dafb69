//! DNSSEC validators as a test harness: real tools judge a server's signed answers and zone.
//!
//! The functions here take a server's address and run, each bounded in time (`timeout(1)`
//! kills a tool that hangs, and the call then fails):
//!
//! - [`trust_anchor`]: the zone's DNSKEY RRset over TCP (`kdig @ADDR -p PORT +tcp ZONE DNSKEY`),
//!   its SEP keys (flags 257) written twice: for delv, `trust-anchors { "ZONE." static-key 257 3
//!   13 "KEY"; };`, and as DNSKEY records for `ldns-verify-zone -k` and `dnsviz grok -t`.
//! - [`delv`]: `delv @ADDR -p PORT -a ANCHOR +root=ZONE NAME TYPE`. `+root=` names the anchor's
//!   zone, so delv validates from our apex without the real root, and it sends every query to
//!   the one server (nothing leaves loopback). Its last status line gives a [`Validation`]:
//!   `; fully validated`, `; negative response, fully validated` (NXDOMAIN or NODATA proven),
//!   `; unsigned answer` (below a delegation proven to have no DS: only when the same server
//!   also answers for the child), anything else failed. delv 9.18 exits 0 either way.
//!   An insecure delegation on a server that answers only for the parent is proven by its DS
//!   question ([`assert_insecure_delegation`]): NODATA, validated, by an NSEC3 (no opt-out) or
//!   NSEC whose bitmap has NS and neither DS nor SOA.
//! - [`ldns_verify_axfr`]: an AXFR (`kdig -b SOURCE [-y TSIG] ZONE AXFR`, from the address the
//!   server allows) written as a zone file, then `ldns-verify-zone -k ANCHOR.key FILE`: every
//!   RRSIG against the apex DNSKEYs, the DNSKEY RRset against the anchor (without `-k` it would
//!   use /usr/share/dns/root.key and not tie the zone to our key), the NSEC3 (or NSEC) chain,
//!   and the signatures' validity at the current time.
//! - [`kzonecheck`]: `kzonecheck -o ORIGIN -d on FILE`: Knot's semantic checks with the
//!   DNSSEC ones (signatures verified, NSEC3 chain, parameters); any output is a finding.
//! - [`dnsviz`]: `dnsviz probe -4 -A -E -t 1 -x 'ZONE+:NS1=ADDR:PORT,...' -o probe.json ZONE
//!   NAME...` (authoritative analysis; `-x ZONE+` makes the given servers the delegation too,
//!   so nothing is asked of the real root or parent, which would hang without a network; the
//!   names are the zone's NS names, all at the one server; `-E` adds the EDNS checks), then
//!   `dnsviz grok -l warning -t ANCHOR.key -r probe.json`, whose every line is a finding.
//!   Debian 12's dnsviz 0.9.4 refuses `-t` ("pygraphviz is required, but not installed"): it
//!   checks pygraphviz's version through `pygraphviz.release`, which pygraphviz 1.7 no longer
//!   has (dnsviz issue #98, fixed after 0.9.4). grok therefore runs through a few lines of
//!   Python that supply that module from `pygraphviz.__version__` and then run the installed
//!   `dnsviz` unchanged.
//!
//! The tools are Debian packages that tests/run-all.sh installs: bind9-dnsutils (delv),
//! knot-dnsutils (kdig), ldnsutils, knot-dnssecutils (kzonecheck), dnsviz. A missing tool fails
//! the test that needs it.
//!
//! The tests below prove the harness against a real signer: Knot signing a small zone itself
//! with the policy ranah signs with by default (ECDSA P-256 CSK, NSEC3 without salt, extra
//! iterations or opt-out), every validator accepting it, and every validator rejecting a forged
//! signature (NSD serving a copy of the signed zone with one signature byte changed) or a
//! wrong trust anchor.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{eventually, free_port};
use crate::secondaries::{Source, nsd};

/// A delv question: the resolver's own timeouts stay well inside this.
const DELV_LIMIT: Duration = Duration::from_secs(30);
/// A transfer, or a zone file checked whole (100,000 signed names take seconds).
const ZONE_LIMIT: Duration = Duration::from_secs(120);
/// DNSViz's probe of a few names, and its analysis.
const DNSVIZ_LIMIT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// Running the tools
// ---------------------------------------------------------------------------------------------

/// What a tool did: its exit status, whether it was killed for taking too long, and all it
/// printed (standard output, then standard error).
struct Ran {
    success: bool,
    timed_out: bool,
    text: String,
}

/// The Debian package that brings each tool, for the message when one is missing.
fn package(program: &str) -> &'static str {
    match program {
        "delv" => "bind9-dnsutils",
        "kdig" => "knot-dnsutils",
        "kzonecheck" => "knot-dnssecutils",
        "ldns-verify-zone" => "ldnsutils",
        "dnsviz" => "dnsviz",
        "knotd" | "knotc" => "knot",
        "nsd" => "nsd",
        "timeout" => "coreutils",
        _ => "its package",
    }
}

/// Where `program` is: on PATH, or in /usr/sbin (the servers' home, not on every PATH). A
/// missing tool fails the test: it is never a reason to skip one.
fn locate(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{program} is required for this test (Debian package {}); tests/run-all.sh \
                 installs it",
                package(program)
            )
        })
}

/// Runs `program` (found by [`locate`]) with `args`, killed after `limit`.
fn run<S: AsRef<OsStr>>(program: &str, args: &[S], limit: Duration) -> Ran {
    run_exe(&locate(program), args, limit)
}

/// Runs `exe` with `args`, killed (TERM, then KILL 5 s later) after `limit`.
fn run_exe<S: AsRef<OsStr>>(exe: &Path, args: &[S], limit: Duration) -> Ran {
    let program = exe.file_name().unwrap_or_default().to_string_lossy();
    let out = Command::new(locate("timeout"))
        .arg("--kill-after=5")
        .arg(format!("{}", limit.as_secs().max(1)))
        .arg(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    // timeout(1) answers 124 when it had to stop the tool (137 when it had to kill it).
    let timed_out = matches!(out.status.code(), Some(124) | Some(137));
    if timed_out {
        text.push_str(&format!(
            "\n[{program} stopped after {} s]\n",
            limit.as_secs()
        ));
    }
    Ran {
        success: out.status.success(),
        timed_out,
        text,
    }
}

fn server_args(server: SocketAddr) -> [String; 3] {
    [
        format!("@{}", server.ip()),
        "-p".to_owned(),
        server.port().to_string(),
    ]
}

/// kdig over TCP, one try: the records of the answer section, whitespace-normalised.
fn kdig_records(server: SocketAddr, name: &str, qtype: &str) -> Result<Vec<String>, String> {
    let mut args = server_args(server).to_vec();
    args.extend(
        [
            "+tcp", "+time=5", "+retry=0", "+noall", "+answer", name, qtype,
        ]
        .map(str::to_owned),
    );
    let ran = run("kdig", &args, DELV_LIMIT);
    if !ran.success {
        return Err(format!("kdig {name} {qtype} failed:\n{}", ran.text));
    }
    Ok(ran
        .text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect())
}

fn fqdn(name: &str) -> String {
    let name = name.trim_end_matches('.');
    format!("{name}.")
}

// ---------------------------------------------------------------------------------------------
// The trust anchor
// ---------------------------------------------------------------------------------------------

/// A zone's trust anchor, in the two forms the tools read, in a directory of its own (removed
/// when dropped).
pub(crate) struct Anchor {
    /// The zone, with its final dot.
    pub(crate) zone: String,
    /// The SEP keys as DNSKEY records (`ZONE. 3600 IN DNSKEY 257 3 13 KEY`).
    pub(crate) keys: Vec<String>,
    dir: tempfile::TempDir,
}

impl Anchor {
    /// An anchor of the given DNSKEY records (presentation format; only their flags, protocol,
    /// algorithm and key are read): the zone's, or a wrong one to see a validator refuse.
    pub(crate) fn from_keys(zone: &str, keys: &[String]) -> Anchor {
        let zone = fqdn(zone);
        let mut delv = String::from("trust-anchors {\n");
        let mut records = Vec::new();
        for key in keys {
            let fields: Vec<&str> = key.split_whitespace().collect();
            let at = fields
                .iter()
                .position(|f| f.eq_ignore_ascii_case("DNSKEY"))
                .filter(|at| fields.len() > at + 4)
                .unwrap_or_else(|| panic!("not a DNSKEY record: {key}"));
            let [flags, protocol, algorithm] = [1, 2, 3].map(|i| fields[at + i]);
            let material = fields[at + 4..].concat();
            delv.push_str(&format!(
                "    \"{zone}\" static-key {flags} {protocol} {algorithm} \"{material}\";\n"
            ));
            records.push(format!(
                "{zone} 3600 IN DNSKEY {flags} {protocol} {algorithm} {material}"
            ));
        }
        delv.push_str("};\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("anchor.conf"), delv).unwrap();
        std::fs::write(dir.path().join("anchor.key"), records.join("\n") + "\n").unwrap();
        Anchor {
            zone,
            keys: records,
            dir,
        }
    }

    /// An anchor of DS records (`ZONE. IN DS TAG ALG 2 DIGEST`, as a parent serves them or
    /// `ranah dnssec ds` prints them), for delv only: what a resolver that learnt the DS from
    /// the parent trusts.
    pub(crate) fn from_ds(zone: &str, ds: &[String]) -> Anchor {
        let zone = fqdn(zone);
        let mut delv = String::from("trust-anchors {\n");
        for line in ds {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields
                .iter()
                .position(|f| f.eq_ignore_ascii_case("DS"))
                .filter(|at| fields.len() > at + 4)
                .unwrap_or_else(|| panic!("not a DS record: {line}"));
            let [tag, algorithm, digest_type] = [1, 2, 3].map(|i| fields[at + i]);
            let digest = fields[at + 4..].concat();
            delv.push_str(&format!(
                "    \"{zone}\" static-ds {tag} {algorithm} {digest_type} \"{digest}\";\n"
            ));
        }
        delv.push_str("};\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("anchor.conf"), delv).unwrap();
        std::fs::write(dir.path().join("anchor.key"), "").unwrap();
        Anchor {
            zone,
            keys: Vec::new(),
            dir,
        }
    }

    /// For `delv -a`.
    pub(crate) fn delv_file(&self) -> PathBuf {
        self.dir.path().join("anchor.conf")
    }

    /// DNSKEY records, for `ldns-verify-zone -k` and `dnsviz grok -t`.
    pub(crate) fn key_file(&self) -> PathBuf {
        self.dir.path().join("anchor.key")
    }
}

/// The trust anchor of `zone` as `server` serves it: the SEP keys (flags 257) of its DNSKEY
/// RRset, asked over TCP. Fails the test when there is none.
pub(crate) fn trust_anchor(server: SocketAddr, zone: &str) -> Anchor {
    let records = kdig_records(server, &fqdn(zone), "DNSKEY").unwrap_or_else(|e| panic!("{e}"));
    let sep: Vec<String> = records
        .iter()
        .filter(|r| {
            let f: Vec<&str> = r.split_whitespace().collect();
            f.get(3).is_some_and(|t| t.eq_ignore_ascii_case("DNSKEY")) && f.get(4) == Some(&"257")
        })
        .cloned()
        .collect();
    assert!(
        !sep.is_empty(),
        "{server} serves no SEP key (DNSKEY flags 257) for {zone}:\n{}",
        records.join("\n")
    );
    Anchor::from_keys(zone, &sep)
}

// ---------------------------------------------------------------------------------------------
// delv
// ---------------------------------------------------------------------------------------------

/// What a denial proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denial {
    NxDomain,
    NoData,
}

/// delv's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validation {
    /// `; fully validated`: the answer's signatures chain up to the anchor.
    Validated,
    /// `; negative response, fully validated`: the name or the type proven not to exist.
    Negative(Denial),
    /// `; unsigned answer`: an answer from below a delegation proven to have no DS.
    Insecure,
    /// Anything else: bogus, a broken chain, no answer, a timeout.
    Failed,
}

/// One delv run: the question, the verdict and everything delv printed.
pub(crate) struct Delv {
    pub(crate) question: String,
    pub(crate) validation: Validation,
    pub(crate) output: String,
}

impl fmt::Display for Delv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delv {}: {:?}\n--- delv's output ---\n{}\n---",
            self.question,
            self.validation,
            self.output.trim_end()
        )
    }
}

impl Delv {
    /// The denial records delv printed as proof (`; OWNER NSEC3 ...` or `; OWNER NSEC ...`),
    /// as fields.
    fn proof(&self) -> Vec<Vec<String>> {
        self.output
            .lines()
            .filter_map(|l| l.strip_prefix("; "))
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|f| f.get(1).is_some_and(|t| t == "NSEC3" || t == "NSEC"))
            .collect()
    }
}

/// Reads delv's verdict from its output. A verdict other than failed also needs delv to have
/// printed no complaint (`;;` lines) besides the resolver's note of the negative answer.
fn verdict(output: &str) -> Validation {
    let status = |s: &str| output.lines().any(|l| l.trim_end() == s);
    let complaints = output.lines().any(|l| {
        l.starts_with(";;")
            && l != ";; resolution failed: ncache nxdomain"
            && l != ";; resolution failed: ncache nxrrset"
    });
    if complaints {
        return Validation::Failed;
    }
    if status("; fully validated") {
        Validation::Validated
    } else if status("; negative response, fully validated") {
        if output.contains(";-$NXDOMAIN") {
            Validation::Negative(Denial::NxDomain)
        } else if output.contains(";-$NXRRSET") {
            Validation::Negative(Denial::NoData)
        } else {
            Validation::Failed
        }
    } else if status("; unsigned answer") || status("; negative response, unsigned answer") {
        Validation::Insecure
    } else {
        Validation::Failed
    }
}

/// Asks delv for `name`/`qtype` at `server`, validating from `anchor`'s zone.
pub(crate) fn delv(server: SocketAddr, anchor: &Anchor, name: &str, qtype: &str) -> Delv {
    let mut args = server_args(server).to_vec();
    args.extend([
        "-a".to_owned(),
        anchor.delv_file().display().to_string(),
        format!("+root={}", anchor.zone),
        fqdn(name),
        qtype.to_owned(),
    ]);
    let ran = run("delv", &args, DELV_LIMIT);
    let validation = if ran.timed_out {
        Validation::Failed
    } else {
        verdict(&ran.text)
    };
    Delv {
        question: format!("@{server} {} {qtype}", fqdn(name)),
        validation,
        output: ran.text,
    }
}

/// delv must give `want` for `name`/`qtype`; on failure the message holds delv's whole output.
pub(crate) fn assert_delv(
    server: SocketAddr,
    anchor: &Anchor,
    name: &str,
    qtype: &str,
    want: Validation,
) -> Delv {
    let d = delv(server, anchor, name, qtype);
    assert_eq!(d.validation, want, "{d}");
    d
}

/// A positive answer, validated.
pub(crate) fn assert_validated(
    server: SocketAddr,
    anchor: &Anchor,
    name: &str,
    qtype: &str,
) -> Delv {
    assert_delv(server, anchor, name, qtype, Validation::Validated)
}

/// The secure delegation at `cut`: its DS RRset, validated.
pub(crate) fn assert_secure_delegation(server: SocketAddr, anchor: &Anchor, cut: &str) -> Delv {
    assert_validated(server, anchor, cut, "DS")
}

/// The insecure delegation at `cut`, proven from the parent alone: the DS question answered
/// NODATA, validated, by a proof without opt-out whose record for the cut has NS in its
/// bitmap and neither DS nor SOA (a delegation, not the apex of a zone of ours).
pub(crate) fn insecure_delegation(
    server: SocketAddr,
    anchor: &Anchor,
    cut: &str,
) -> Result<Delv, String> {
    let d = delv(server, anchor, cut, "DS");
    if d.validation != Validation::Negative(Denial::NoData) {
        return Err(format!("the DS question is not a validated NODATA\n{d}"));
    }
    let proof = d.proof();
    let opt_out = proof
        .iter()
        .any(|f| f[1] == "NSEC3" && f.get(3).is_some_and(|flags| flags != "0"));
    if opt_out {
        return Err(format!("the proof uses NSEC3 opt-out\n{d}"));
    }
    let cut_name = fqdn(cut).to_ascii_lowercase();
    let delegation = proof.iter().any(|f| {
        let types: &[String] = match f[1].as_str() {
            // OWNER NSEC3 ALG FLAGS ITERATIONS SALT NEXT TYPES...: the one matching record
            // of a NODATA proof.
            "NSEC3" => f.get(7..).unwrap_or_default(),
            // OWNER NSEC NEXT TYPES...: the record at the cut itself.
            _ if f[0].to_ascii_lowercase() == cut_name => f.get(3..).unwrap_or_default(),
            _ => &[],
        };
        let has = |t: &str| types.iter().any(|x| x == t);
        has("NS") && !has("DS") && !has("SOA")
    });
    if !delegation {
        return Err(format!(
            "no denial record shows a delegation without DS at {cut}\n{d}"
        ));
    }
    Ok(d)
}

/// [`insecure_delegation`], or the test fails with delv's output.
pub(crate) fn assert_insecure_delegation(server: SocketAddr, anchor: &Anchor, cut: &str) -> Delv {
    insecure_delegation(server, anchor, cut).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// The zone as a file: AXFR, ldns-verify-zone, kzonecheck
// ---------------------------------------------------------------------------------------------

/// How to ask for a transfer: from `source` (the address the server allows transfers to),
/// with a TSIG key when it wants one (`ALGORITHM:NAME:SECRET`, kdig's `-y`).
pub(crate) struct Xfr<'a> {
    pub(crate) source: IpAddr,
    pub(crate) tsig: Option<&'a str>,
}

/// The zone's AXFR written to `file` as a zone file: one record per line, without the
/// transfer's closing SOA (a second SOA makes it a bad zone file for NSD).
pub(crate) fn axfr(
    server: SocketAddr,
    zone: &str,
    xfr: &Xfr<'_>,
    file: &Path,
) -> Result<(), String> {
    let mut args = server_args(server).to_vec();
    args.extend(["-b".to_owned(), xfr.source.to_string()]);
    if let Some(key) = xfr.tsig {
        args.extend(["-y".to_owned(), key.to_owned()]);
    }
    args.extend(["+time=10", "+retry=0", "+nocomments"].map(str::to_owned));
    args.extend([fqdn(zone), "AXFR".to_owned()]);
    let ran = run("kdig", &args, ZONE_LIMIT);
    let mut records: Vec<&str> = ran
        .text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .collect();
    let is_soa = |r: Option<&&str>| r.is_some_and(|r| r.split_whitespace().nth(3) == Some("SOA"));
    if !ran.success || records.len() < 2 || !is_soa(records.first()) || !is_soa(records.last()) {
        return Err(format!(
            "AXFR of {zone} from {server} failed:\n{}",
            ran.text
        ));
    }
    records.pop();
    std::fs::write(file, records.join("\n") + "\n").map_err(|e| e.to_string())
}

/// `ldns-verify-zone` on a zone file, its DNSKEYs tied to `anchor`.
pub(crate) fn ldns_verify_zone(file: &Path, anchor: &Anchor) -> Result<(), String> {
    let args = [
        OsString::from("-V"),
        "2".into(),
        "-k".into(),
        anchor.key_file().into(),
        file.into(),
    ];
    let ran = run("ldns-verify-zone", &args, ZONE_LIMIT);
    if ran.success {
        Ok(())
    } else {
        Err(format!(
            "ldns-verify-zone rejects {}:\n{}",
            file.display(),
            ran.text
        ))
    }
}

/// An AXFR of `zone` from `server`, checked by `ldns-verify-zone` against `anchor`.
pub(crate) fn ldns_verify_axfr(
    server: SocketAddr,
    zone: &str,
    xfr: &Xfr<'_>,
    anchor: &Anchor,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("axfr.zone");
    axfr(server, zone, xfr, &file)?;
    ldns_verify_zone(&file, anchor)
}

/// `kzonecheck -d on` on a zone file: it must exit 0 and print nothing.
pub(crate) fn kzonecheck(file: &Path, origin: &str) -> Result<(), String> {
    let args = [
        OsStr::new("-o"),
        OsStr::new(origin),
        OsStr::new("-d"),
        OsStr::new("on"),
        file.as_os_str(),
    ];
    let ran = run("kzonecheck", &args, ZONE_LIMIT);
    if ran.success && ran.text.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "kzonecheck -d on rejects {}:\n{}",
            file.display(),
            ran.text
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// DNSViz
// ---------------------------------------------------------------------------------------------

/// Runs the installed `dnsviz` with `args`, supplying `pygraphviz.release` when pygraphviz no
/// longer has it (see the module's comment: Debian 12's dnsviz 0.9.4 needs it for `grok -t`).
fn dnsviz_patched(args: &[OsString], limit: Duration) -> Ran {
    const SHIM: &str = "\
import runpy, sys, types
try:
    from pygraphviz import release
except ImportError:
    import pygraphviz
    release = types.ModuleType('pygraphviz.release')
    release.version = pygraphviz.__version__
    sys.modules['pygraphviz.release'] = pygraphviz.release = release
script = sys.argv[1]
sys.argv = [script] + sys.argv[2:]
runpy.run_path(script, run_name='__main__')
";
    let script = locate("dnsviz");
    // The script's own interpreter: the Python that has dnsviz's modules.
    let first = std::fs::read_to_string(&script)
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_default();
    let python = first
        .strip_prefix("#!")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("{} does not start with #!: {first}", script.display()));
    let mut all = vec![OsString::from("-c"), SHIM.into(), script.into()];
    all.extend_from_slice(args);
    run_exe(Path::new(python), &all, limit)
}

/// DNSViz's analysis of `zone` (and of `names` in it) as `server` serves it, trusting
/// `anchor`: Err with grok's findings when it reports any warning or error.
pub(crate) fn dnsviz(
    server: SocketAddr,
    zone: &str,
    anchor: &Anchor,
    names: &[&str],
) -> Result<(), String> {
    let zone = fqdn(zone);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let probe = dir.path().join("probe.json");
    // The zone's own NS names, each at the server under test, as its delegation.
    let ns: Vec<String> = kdig_records(server, &zone, "NS")?
        .iter()
        .filter_map(|r| {
            let f: Vec<&str> = r.split_whitespace().collect();
            (f.get(3) == Some(&"NS")).then(|| f.get(4).map(|n| n.to_string()))?
        })
        .collect();
    let at = match server.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", server.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", server.port()),
    };
    let servers = if ns.is_empty() {
        at
    } else {
        ns.iter()
            .map(|n| format!("{n}={at}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let family = if server.is_ipv4() { "-4" } else { "-6" };
    let mut args: Vec<OsString> = ["probe", family, "-A", "-E", "-t", "1", "-x"]
        .map(OsString::from)
        .to_vec();
    args.push(format!("{zone}+:{servers}").into());
    args.extend(["-o".into(), probe.clone().into(), zone.into()]);
    args.extend(names.iter().map(|n| fqdn(n).into()));
    let probed = dnsviz_patched(&args, DNSVIZ_LIMIT);
    if !probed.success {
        return Err(format!("dnsviz probe failed:\n{}", probed.text));
    }
    let grok = [
        OsString::from("grok"),
        "-l".into(),
        "warning".into(),
        "-t".into(),
        anchor.key_file().into(),
        "-r".into(),
        probe.into(),
    ];
    let grokked = dnsviz_patched(&grok, DNSVIZ_LIMIT);
    if grokked.success && grokked.text.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "dnsviz grok -l warning reports:\n{}\n(probe: {})",
            grokked.text, probed.text
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The harness proven against Knot signing the zone itself
// ---------------------------------------------------------------------------------------------

const ZONE: &str = "example.go.id";

/// Every case the validators must judge: a positive name, a CNAME, a wildcard, an empty
/// non-terminal (b.c and c, above a.b.c), a secure delegation (NS and DS) and an insecure one
/// (NS, no DS).
const SIGNED_ZONE: &str = r#"$ORIGIN example.go.id.
$TTL 3600
@ SOA ns1 hostmaster 2026010100 3600 900 1209600 300
@ NS ns1
@ NS ns2
@ A 203.0.113.1
ns1 A 203.0.113.2
ns2 A 203.0.113.3
www A 203.0.113.10
www AAAA 2001:db8::10
portal CNAME www
*.wild TXT "wildcard"
a.b.c A 203.0.113.5
secure NS ns1.secure
; The DS of a child key made once for this test (`dnssec-keygen -a ECDSAP256SHA256 -f KSK
; secure.example.go.id`, then `dnssec-dsfromkey -2`): the child itself is not served.
secure DS 57555 13 2 ED7A0636C5489DE5357D45A812064777250FD7D4C1B0EE297771CFE536E8B6D4
ns1.secure A 203.0.113.51
insecure NS ns1.insecure
ns1.insecure A 203.0.113.61
"#;

/// That child's key: a well-formed ECDSA P-256 key that does not sign example.go.id, the wrong
/// trust anchor of the negative tests.
const OTHER_KEY: &str = "example.go.id. 3600 IN DNSKEY 257 3 13 \
    FwKOHKGTyucVc7ZHHYJznJKVjky47HjUdcy/hVBhvAaxZzBsLjSqcHlUP5vyY9/ArWU0AfDtPgmkSJYyX+vpog==";

/// The insecure child, unsigned, served by the same Knot: delv, which asks one server for
/// everything, then gets an answer from below the delegation and judges it insecure.
const CHILD_ZONE: &str = r#"$ORIGIN insecure.example.go.id.
$TTL 3600
@ SOA ns1 hostmaster 1 3600 900 1209600 300
@ NS ns1
ns1 A 203.0.113.61
host A 203.0.113.62
"#;

/// Transfers from 127.0.0.1, without TSIG: what the test Knot allows.
const FROM_LOOPBACK: Xfr<'static> = Xfr {
    source: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    tsig: None,
};

/// Knot signing example.go.id itself with the policy ranah signs with by default (ECDSA P-256
/// CSK, NSEC3 with no salt, no extra iterations, no opt-out), and serving the insecure child
/// unsigned; stopped when dropped.
struct Signer {
    addr: SocketAddr,
    conf: PathBuf,
    dir: tempfile::TempDir,
    child: Child,
}

impl Signer {
    fn start() -> Signer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join(format!("{ZONE}.zone")), SIGNED_ZONE).unwrap();
        std::fs::write(d.join("child.zone"), CHILD_ZONE).unwrap();
        let port = free_port();
        let conf = format!(
            r#"server:
    listen: 127.0.0.1@{port}
    rundir: {d}
log:
  - target: {d}/knot.log
    any: info
database:
    storage: {d}
policy:
  - id: ranah-default
    algorithm: ecdsap256sha256
    single-type-signing: on
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
    nsec3-opt-out: off
acl:
  - id: transfer
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
zone:
  - domain: {ZONE}
    file: {d}/{ZONE}.zone
    dnssec-signing: on
    dnssec-policy: ranah-default
    acl: transfer
  - domain: insecure.{ZONE}
    file: {d}/child.zone
"#,
            d = d.display(),
        );
        let conf_file = d.join("knot.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let child = Command::new(locate("knotd"))
            .arg("-c")
            .arg(&conf_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("knotd starts");
        let signer = Signer {
            addr: ([127, 0, 0, 1], port).into(),
            conf: conf_file,
            dir,
            child,
        };
        // Ready when both zones answer, the parent with its keys (Knot signs before it serves).
        let ready = eventually(20, || {
            let keys = kdig_records(signer.addr, ZONE, "DNSKEY").unwrap_or_default();
            let child = kdig_records(signer.addr, &format!("insecure.{ZONE}"), "SOA");
            keys.iter().any(|k| k.contains(" DNSKEY 257 "))
                && child.is_ok_and(|c| c.iter().any(|r| r.contains(" SOA ")))
        });
        assert!(
            ready,
            "knotd did not serve the signed zone:\n{}",
            signer.log()
        );
        signer
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }

    /// The signed zone as Knot writes it (`knotc zone-flush +outdir`, named as the zone's
    /// file): its export.
    fn export(&self) -> PathBuf {
        let out = self.dir.path().join("export");
        std::fs::create_dir_all(&out).unwrap();
        let args = [
            OsStr::new("-c"),
            self.conf.as_os_str(),
            OsStr::new("-b"),
            OsStr::new("zone-flush"),
            OsStr::new(ZONE),
            OsStr::new("+outdir"),
            out.as_os_str(),
        ];
        let ran = run("knotc", &args, ZONE_LIMIT);
        assert!(
            ran.success,
            "knotc zone-flush: {}\n{}",
            ran.text,
            self.log()
        );
        out.join(format!("{ZONE}.zone"))
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of a signed zone file with one byte of one signature changed: the RRSIG over
/// `owner`'s `covered` RRset.
fn forge_signature(zone: &str, owner: &str, covered: &str) -> String {
    let mut forged = 0;
    let lines: Vec<String> = zone
        .lines()
        .map(|line| {
            let mut f: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
            let Some(at) = f.iter().position(|t| t == "RRSIG") else {
                return line.to_owned();
            };
            // OWNER [TTL] [CLASS] RRSIG COVERED ALG LABELS TTL EXPIRY INCEPTION TAG SIGNER SIG
            if f[0] != fqdn(owner) || f.get(at + 1).map(String::as_str) != Some(covered) {
                return line.to_owned();
            }
            let sig = &mut f[at + 9];
            let swap = if sig.starts_with('A') { "B" } else { "A" };
            sig.replace_range(0..1, swap);
            forged += 1;
            f.join(" ")
        })
        .collect();
    assert_eq!(forged, 1, "one RRSIG {covered} at {owner} in:\n{zone}");
    lines.join("\n") + "\n"
}

/// NSD serving `zone_text` (a signed example.go.id) as it is.
fn serve_file(dir: &Path, zone_text: &str) -> crate::secondaries::Peer {
    let file = dir.join("served.zone");
    std::fs::write(&file, zone_text).unwrap();
    let peer = nsd(dir, free_port(), Source::File(&file));
    assert!(
        eventually(20, || peer.serial().is_some()),
        "nsd did not serve {}",
        file.display()
    );
    peer
}

/// The signed zone by AXFR from `signer`, and a copy with www's A signature forged.
fn signed_and_forged(signer: &Signer, dir: &Path) -> (PathBuf, PathBuf) {
    let signed = dir.join("signed.zone");
    axfr(signer.addr, ZONE, &FROM_LOOPBACK, &signed).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&signed).unwrap();
    let forged = dir.join("forged.zone");
    std::fs::write(&forged, forge_signature(&text, "www.example.go.id", "A")).unwrap();
    (signed, forged)
}

#[test]
fn delv_validates_every_kind_of_answer_knot_signs() {
    let started = Instant::now();
    let knot = Signer::start();
    let server = knot.addr;
    let anchor = trust_anchor(server, ZONE);
    assert_eq!(anchor.keys.len(), 1, "one CSK: {:?}", anchor.keys);

    let www = assert_validated(server, &anchor, "www.example.go.id", "A");
    assert!(www.output.contains("203.0.113.10"), "{www}");
    assert_validated(server, &anchor, ZONE, "SOA");
    assert_validated(server, &anchor, ZONE, "DNSKEY");

    assert_delv(
        server,
        &anchor,
        "nowhere.example.go.id",
        "A",
        Validation::Negative(Denial::NxDomain),
    );
    assert_delv(
        server,
        &anchor,
        "www.example.go.id",
        "TXT",
        Validation::Negative(Denial::NoData),
    );
    // The empty non-terminal exists, with no data.
    assert_delv(
        server,
        &anchor,
        "b.c.example.go.id",
        "A",
        Validation::Negative(Denial::NoData),
    );

    let wild = assert_validated(server, &anchor, "anything.wild.example.go.id", "TXT");
    assert!(wild.output.contains("\"wildcard\""), "{wild}");
    assert_delv(
        server,
        &anchor,
        "anything.wild.example.go.id",
        "A",
        Validation::Negative(Denial::NoData),
    );

    let cname = assert_validated(server, &anchor, "portal.example.go.id", "A");
    assert!(
        cname.output.contains("CNAME") && cname.output.contains("203.0.113.10"),
        "{cname}"
    );

    let secure = assert_secure_delegation(server, &anchor, "secure.example.go.id");
    assert!(secure.output.contains("57555 13 2"), "{secure}");
    assert_insecure_delegation(server, &anchor, "insecure.example.go.id");
    // A secure delegation is no insecure one: the harness tells them apart.
    let wrong_kind = insecure_delegation(server, &anchor, "secure.example.go.id");
    assert!(
        wrong_kind.is_err_and(|e| e.contains("not a validated NODATA")),
        "secure.example.go.id passed as insecure"
    );
    // Below the insecure delegation (Knot also serves the child): proven unsigned.
    let below = assert_delv(
        server,
        &anchor,
        "host.insecure.example.go.id",
        "A",
        Validation::Insecure,
    );
    assert!(below.output.contains("203.0.113.62"), "{below}");
    println!(
        "delv, 14 questions: {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn delv_rejects_a_wrong_anchor_and_a_forged_signature() {
    let started = Instant::now();
    let knot = Signer::start();
    let wrong = Anchor::from_keys(ZONE, &[OTHER_KEY.to_owned()]);
    let d = assert_delv(
        knot.addr,
        &wrong,
        "www.example.go.id",
        "A",
        Validation::Failed,
    );
    assert!(d.output.contains("broken trust chain"), "{d}");
    assert_delv(
        knot.addr,
        &wrong,
        "nowhere.example.go.id",
        "A",
        Validation::Failed,
    );

    let anchor = trust_anchor(knot.addr, ZONE);
    let tmp = tempfile::tempdir().unwrap();
    let (_, forged) = signed_and_forged(&knot, tmp.path());
    let nsd = serve_file(tmp.path(), &std::fs::read_to_string(forged).unwrap());
    let d = assert_delv(
        nsd.addr,
        &anchor,
        "www.example.go.id",
        "A",
        Validation::Failed,
    );
    assert!(d.output.contains("RRSIG failed to verify"), "{d}");
    // The rest of the same copy validates: what fails is the one forged signature.
    assert_validated(nsd.addr, &anchor, "www.example.go.id", "AAAA");
    println!(
        "delv, wrong anchor and forged signature: {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn ldns_verify_zone_accepts_the_axfr_and_rejects_a_forgery() {
    let started = Instant::now();
    let knot = Signer::start();
    let anchor = trust_anchor(knot.addr, ZONE);
    ldns_verify_axfr(knot.addr, ZONE, &FROM_LOOPBACK, &anchor).unwrap_or_else(|e| panic!("{e}"));
    // The transfer is asked from the given address: Knot refuses it from another.
    let elsewhere = Xfr {
        source: IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)),
        tsig: None,
    };
    let refused = ldns_verify_axfr(knot.addr, ZONE, &elsewhere, &anchor);
    assert!(refused.is_err_and(|e| e.contains("AXFR")));

    let tmp = tempfile::tempdir().unwrap();
    let (signed, forged) = signed_and_forged(&knot, tmp.path());
    let e = ldns_verify_zone(&forged, &anchor).unwrap_err();
    assert!(
        e.contains("Bogus DNSSEC signature for www.example.go.id."),
        "{e}"
    );
    let wrong = Anchor::from_keys(ZONE, &[OTHER_KEY.to_owned()]);
    let e = ldns_verify_zone(&signed, &wrong).unwrap_err();
    assert!(e.contains("No keys with the keytag"), "{e}");
    println!("ldns-verify-zone: {:.2} s", started.elapsed().as_secs_f64());
}

#[test]
fn kzonecheck_accepts_the_export_and_rejects_a_forgery() {
    let started = Instant::now();
    let knot = Signer::start();
    kzonecheck(&knot.export(), ZONE).unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().unwrap();
    let (signed, forged) = signed_and_forged(&knot, tmp.path());
    kzonecheck(&signed, ZONE).unwrap_or_else(|e| panic!("{e}"));
    let e = kzonecheck(&forged, ZONE).unwrap_err();
    assert!(e.contains("[www.example.go.id.] no valid signature"), "{e}");
    println!("kzonecheck: {:.2} s", started.elapsed().as_secs_f64());
}

#[test]
fn dnsviz_reports_nothing_for_knot_and_finds_a_forgery() {
    let started = Instant::now();
    let knot = Signer::start();
    let anchor = trust_anchor(knot.addr, ZONE);
    let names = [
        "www.example.go.id",
        "portal.example.go.id",
        "anything.wild.example.go.id",
        "a.b.c.example.go.id",
    ];
    dnsviz(knot.addr, ZONE, &anchor, &names).unwrap_or_else(|e| panic!("{e}"));

    let wrong = Anchor::from_keys(ZONE, &[OTHER_KEY.to_owned()]);
    let e = dnsviz(knot.addr, ZONE, &wrong, &[]).unwrap_err();
    assert!(e.contains("NO_TRUST_ANCHOR_SIGNING"), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    let (_, forged) = signed_and_forged(&knot, tmp.path());
    let nsd = serve_file(tmp.path(), &std::fs::read_to_string(forged).unwrap());
    let e = dnsviz(nsd.addr, ZONE, &anchor, &["www.example.go.id"]).unwrap_err();
    assert!(e.contains("SIGNATURE_INVALID"), "{e}");
    println!("dnsviz: {:.2} s", started.elapsed().as_secs_f64());
}
