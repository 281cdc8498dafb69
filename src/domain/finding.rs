//! Oversight of what a subdomain points to: the kinds of finding, the rules that turn what a
//! check saw into findings, and how a check's verdicts update the open findings. Pure: the
//! probes live in `check`, the clock and the store in `service::oversight`.
//!
//! Government names are taken over for gambling spam through records that point at something
//! nobody holds any more (a CNAME to a deleted cloud app, a delegation to dead servers) and
//! through abandoned hosting; these are the findings that catch both.

use std::collections::BTreeMap;

/// What a check found wrong with a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// A CNAME whose target does not exist (NXDOMAIN).
    DanglingCname,
    /// An MX whose exchange does not exist.
    DanglingMx,
    /// A CNAME to a cloud or hosting service whose page says nothing is deployed there: anyone
    /// can claim it.
    UnclaimedService,
    /// A delegation whose name servers do not answer for the child.
    LameDelegation,
    /// No address of the name answers on 80 or 443.
    Unreachable,
    /// The certificate served on 443 does not cover the name.
    TlsMismatch,
    /// The certificate served on 443 has expired (or is not valid yet).
    TlsExpired,
    /// ranah issued a certificate for the name and another one is served.
    CertificateNotServed,
    /// The page matches the abuse patterns (gambling spam).
    AbuseContent,
    /// The page sends visitors to another domain.
    ForeignRedirect,
}

impl FindingKind {
    /// Every kind, in order.
    pub const ALL: [FindingKind; 10] = [
        Self::DanglingCname,
        Self::DanglingMx,
        Self::UnclaimedService,
        Self::LameDelegation,
        Self::Unreachable,
        Self::TlsMismatch,
        Self::TlsExpired,
        Self::CertificateNotServed,
        Self::AbuseContent,
        Self::ForeignRedirect,
    ];

    /// The kind as the API and the store write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DanglingCname => "dangling_cname",
            Self::DanglingMx => "dangling_mx",
            Self::UnclaimedService => "unclaimed_service",
            Self::LameDelegation => "lame_delegation",
            Self::Unreachable => "unreachable",
            Self::TlsMismatch => "tls_mismatch",
            Self::TlsExpired => "tls_expired",
            Self::CertificateNotServed => "certificate_not_served",
            Self::AbuseContent => "abuse_content",
            Self::ForeignRedirect => "foreign_redirect",
        }
    }

    /// The kind written by [`FindingKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether the name can be taken over or is taken over already: what an admin suspends
    /// from the finding. The others are the hygiene of a live site.
    pub fn serious(self) -> bool {
        matches!(
            self,
            Self::DanglingCname
                | Self::DanglingMx
                | Self::UnclaimedService
                | Self::LameDelegation
                | Self::AbuseContent
                | Self::ForeignRedirect
        )
    }

    /// What staff and agencies read (emails, the console).
    pub fn in_indonesian(self) -> &'static str {
        match self {
            Self::DanglingCname => "CNAME menunjuk ke nama yang tidak ada",
            Self::DanglingMx => "MX menunjuk ke server surat yang tidak ada",
            Self::UnclaimedService => {
                "CNAME menunjuk ke layanan cloud yang kosong (dapat diambil alih)"
            }
            Self::LameDelegation => "server nama delegasi tidak menjawab untuk subdomain",
            Self::Unreachable => "situs tidak dapat dihubungi di port 80 maupun 443",
            Self::TlsMismatch => "sertifikat TLS tidak sesuai dengan nama",
            Self::TlsExpired => "sertifikat TLS kedaluwarsa",
            Self::CertificateNotServed => "sertifikat yang diterbitkan ranah tidak dipasang",
            Self::AbuseContent => "isi halaman cocok dengan pola penyalahgunaan (judi daring)",
            Self::ForeignRedirect => "halaman mengalihkan ke domain lain",
        }
    }
}

/// What a check concluded about one kind of finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Found, with the evidence: what was asked and what came back.
    Found(String),
    /// Looked and found nothing wrong (or nothing to look at).
    Clear,
    /// Could not tell (the resolver did not answer, the check ran out of time): an open
    /// finding stays open, none is opened.
    Unknown(String),
}

/// How one check changes the name's findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled<I> {
    /// New findings: kind and evidence.
    pub opened: Vec<(FindingKind, String)>,
    /// Open findings seen again, with the latest evidence.
    pub seen_again: Vec<(I, String)>,
    /// Open findings the check found clear.
    pub resolved: Vec<I>,
}

/// The findings that follow from `verdicts`, given the name's `open` findings (id and kind).
/// A kind the check did not judge (absent from `verdicts`) or could not tell leaves its open
/// finding as it is.
pub fn reconcile<I: Copy>(
    open: &[(I, FindingKind)],
    verdicts: &BTreeMap<FindingKind, Verdict>,
) -> Reconciled<I> {
    let mut out = Reconciled {
        opened: Vec::new(),
        seen_again: Vec::new(),
        resolved: Vec::new(),
    };
    for (kind, verdict) in verdicts {
        let current = open.iter().find(|(_, k)| k == kind).map(|(id, _)| *id);
        match (verdict, current) {
            (Verdict::Found(evidence), None) => out.opened.push((*kind, evidence.clone())),
            (Verdict::Found(evidence), Some(id)) => out.seen_again.push((id, evidence.clone())),
            (Verdict::Clear, Some(id)) => out.resolved.push(id),
            (Verdict::Clear, None) | (Verdict::Unknown(_), _) => {}
        }
    }
    out
}

/// A cloud or hosting service whose names can be claimed by anyone once the customer has left:
/// a CNAME to a name under `suffix` is unclaimed when the target does not exist, or when its
/// page shows `fingerprint` (the service's "nothing here" page).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimableService {
    /// The service's domain, e.g. `github.io`.
    pub suffix: String,
    /// Text of the page the service shows for a name nobody holds; left out, only a target
    /// that does not exist counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// The services known to be claimable when unused, from the public list kept by the
/// "can-i-take-over-xyz" project (services its maintainers mark vulnerable), with the
/// fingerprints it documents.
pub fn default_claimable_services() -> Vec<ClaimableService> {
    let service = |suffix: &str, fingerprint: Option<&str>| ClaimableService {
        suffix: suffix.into(),
        fingerprint: fingerprint.map(str::to_owned),
    };
    vec![
        service("github.io", Some("There isn't a GitHub Pages site here.")),
        service("herokuapp.com", Some("No such app")),
        service("herokudns.com", Some("No such app")),
        service("s3.amazonaws.com", Some("NoSuchBucket")),
        service(
            "s3-website.ap-southeast-1.amazonaws.com",
            Some("NoSuchBucket"),
        ),
        service(
            "s3-website.ap-southeast-3.amazonaws.com",
            Some("NoSuchBucket"),
        ),
        service("elasticbeanstalk.com", None),
        service("azurewebsites.net", None),
        service("cloudapp.net", None),
        service("cloudapp.azure.com", None),
        service("trafficmanager.net", None),
        service("blob.core.windows.net", None),
        service("azureedge.net", None),
        service("netlify.app", Some("Not Found - Request ID:")),
        service("pantheonsite.io", Some("The gods are wise")),
        service("readthedocs.io", Some("unknown to Read the Docs")),
        service("surge.sh", Some("project not found")),
        service("bitbucket.io", Some("Repository not found")),
        service("ghost.io", Some("Domain error")),
        service("wordpress.com", Some("Do you want to register")),
        service(
            "myshopify.com",
            Some("Sorry, this shop is currently unavailable"),
        ),
        service(
            "helpscoutdocs.com",
            Some("No settings were found for this company:"),
        ),
    ]
}

/// The service `target` (a CNAME's target, lower case, without the final dot) belongs to.
pub fn claimable_service<'s>(
    target: &str,
    services: &'s [ClaimableService],
) -> Option<&'s ClaimableService> {
    let target = target.trim_end_matches('.');
    services.iter().find(|s| within(target, &s.suffix))
}

/// Whether `name` is `domain` or below it (both lower case, without the final dot).
pub fn within(name: &str, domain: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    name == domain
        || (name.len() > domain.len()
            && name.ends_with(domain)
            && name.as_bytes()[name.len() - domain.len() - 1] == b'.')
}

/// Keywords of Indonesian gambling spam, as it is planted on taken-over government sites: one
/// alone appears on honest pages too (a news item about a raid on `judi online`), so a page
/// counts as abuse only when [`abuse_matches`] finds several.
pub fn default_abuse_keywords() -> Vec<String> {
    [
        "slot gacor",
        "situs slot",
        "slot online",
        "judi online",
        "judi slot",
        "togel",
        "maxwin",
        "slot88",
        "rtp live",
        "rtp slot",
        "scatter hitam",
        "bandar togel",
        "agen slot",
        "deposit pulsa",
        "slot dana",
        "sbobet",
        "pragmatic play",
        "link alternatif",
        "bocoran slot",
        "gampang menang",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The keywords (case-insensitive substrings) and patterns (regular expressions, matched on the
/// page in lower case) that the page's `text` matches, in the order configured.
pub fn abuse_matches(text: &str, keywords: &[String], patterns: &[regex::Regex]) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut out: Vec<String> = keywords
        .iter()
        .filter(|k| lower.contains(&k.to_lowercase()))
        .cloned()
        .collect();
    for p in patterns {
        if let Some(m) = p.find(&lower) {
            out.push(m.as_str().chars().take(80).collect());
        }
    }
    out
}

/// Where a redirect's `location` (or a meta refresh's URL) sends a visitor of `page`, by the
/// rules browsers follow (WHATWG URL: relative references, `//host`, backslashes); `None`
/// when it cannot be read.
pub fn redirect_target(page: &str, location: &str) -> Option<url::Url> {
    url::Url::parse(page).ok()?.join(location.trim()).ok()
}

/// The host of a redirect target: lower case, without the final dot.
pub fn target_host(target: &url::Url) -> String {
    target
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Whether a redirect to `target_host` leaves the office's domains: it is not `name`, not
/// within one of `allowed` (the office's zones and the configured domains, such as `go.id`).
pub fn foreign_redirect(target_host: &str, name: &str, allowed: &[String]) -> bool {
    !target_host.is_empty()
        && target_host != name
        && !allowed.iter().any(|domain| within(target_host, domain))
}

/// The URL of an HTML `<meta http-equiv="refresh" content="0; url=…">` in `html`: how planted
/// pages redirect when the server's answer cannot.
pub fn meta_refresh(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("<meta") {
        let start = from + at;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if tag.contains("http-equiv") && tag.contains("refresh") {
            let content = tag.find("url=")?;
            let url = &html[start + content + 4..end];
            let url = url
                .trim_start_matches(['\'', '"', ' '])
                .split(['"', '\'', ' ', '>'])
                .next()
                .unwrap_or_default();
            return (!url.is_empty()).then(|| url.to_owned());
        }
        from = end;
    }
    None
}

/// Whether a certificate naming `names` (its subject alternative DNS names) covers `host`: an
/// exact name, or a wildcard in the left-most label covering exactly one label (RFC 6125).
pub fn certificate_covers(host: &str, names: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    names.iter().any(|n| {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        match n.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => n == host,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_written_and_read_back() {
        for k in FindingKind::ALL {
            assert_eq!(FindingKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(FindingKind::parse("nope"), None);
        assert!(FindingKind::AbuseContent.serious());
        assert!(!FindingKind::TlsExpired.serious());
    }

    #[test]
    fn a_check_opens_keeps_and_resolves_findings() {
        let open = [
            (1, FindingKind::DanglingCname),
            (2, FindingKind::Unreachable),
        ];
        let verdicts = BTreeMap::from([
            (
                FindingKind::DanglingCname,
                Verdict::Found("x NXDOMAIN".into()),
            ),
            (FindingKind::Unreachable, Verdict::Clear),
            (
                FindingKind::AbuseContent,
                Verdict::Found("slot gacor".into()),
            ),
            (FindingKind::TlsExpired, Verdict::Clear),
        ]);
        let r = reconcile(&open, &verdicts);
        assert_eq!(
            r.opened,
            vec![(FindingKind::AbuseContent, "slot gacor".into())]
        );
        assert_eq!(r.seen_again, vec![(1, "x NXDOMAIN".into())]);
        assert_eq!(r.resolved, vec![2]);
        // What the check could not tell leaves the finding open.
        let unknown = BTreeMap::from([(
            FindingKind::Unreachable,
            Verdict::Unknown("out of time".into()),
        )]);
        let r = reconcile(&open, &unknown);
        assert!(r.opened.is_empty() && r.seen_again.is_empty() && r.resolved.is_empty());
    }

    #[test]
    fn claimable_services_by_suffix_at_a_label_boundary() {
        let services = default_claimable_services();
        assert_eq!(
            claimable_service("dinas.github.io.", &services).map(|s| s.suffix.as_str()),
            Some("github.io")
        );
        assert!(claimable_service("notgithub.io", &services).is_none());
        assert!(claimable_service("example.go.id", &services).is_none());
        assert!(within("a.b.go.id", "go.id"));
        assert!(!within("xgo.id", "go.id"));
        assert!(within("go.id", "go.id."));
    }

    #[test]
    fn gambling_spam_is_matched_by_keywords_and_patterns() {
        let keywords = default_abuse_keywords();
        let page = "<title>SLOT GACOR hari ini</title> Situs Slot maxwin";
        assert_eq!(
            abuse_matches(page, &keywords, &[]),
            vec!["slot gacor", "situs slot", "maxwin"]
        );
        let patterns = [regex::Regex::new(r"slot\s*\d{2,3}").unwrap()];
        assert_eq!(
            abuse_matches("Daftar SLOT 777", &[], &patterns),
            vec!["slot 777"]
        );
        assert!(abuse_matches("Dinas Kominfo", &keywords, &patterns).is_empty());
    }

    #[test]
    fn redirects_are_foreign_outside_the_allowed_domains() {
        let page = "https://web.example.go.id/";
        let host = |l: &str| redirect_target(page, l).map(|u| target_host(&u));
        assert_eq!(
            host("https://Slot.Example:8443/x?y").as_deref(),
            Some("slot.example")
        );
        assert_eq!(host("//cdn.example/").as_deref(), Some("cdn.example"));
        assert_eq!(host("/login").as_deref(), Some("web.example.go.id"));
        // A query naming another site is not a redirect to it; a backslash is, as browsers go.
        assert_eq!(
            host("login.php?next=https://slot.example/").as_deref(),
            Some("web.example.go.id")
        );
        assert_eq!(host("/\\slot.example/").as_deref(), Some("slot.example"));
        assert_eq!(
            host("http://u:p@[2001:db8::1]:80/").as_deref(),
            Some("2001:db8::1")
        );
        let allowed = ["example.go.id".to_owned(), "go.id".to_owned()];
        assert!(foreign_redirect(
            "slot.example",
            "web.example.go.id",
            &allowed
        ));
        assert!(!foreign_redirect(
            "sso.jatimprov.go.id",
            "web.example.go.id",
            &allowed
        ));
        assert!(!foreign_redirect(
            "web.example.go.id",
            "web.example.go.id",
            &[]
        ));
        assert_eq!(
            meta_refresh(r#"<META HTTP-EQUIV="refresh" content="0; URL=https://slot.example/">"#)
                .as_deref(),
            Some("https://slot.example/")
        );
        assert_eq!(meta_refresh("<meta charset=utf-8><p>halo</p>"), None);
    }

    #[test]
    fn certificates_cover_names_and_one_label_wildcards() {
        let names = [
            "web.example.go.id".to_owned(),
            "*.app.example.go.id".to_owned(),
        ];
        assert!(certificate_covers("WEB.example.go.id.", &names));
        assert!(certificate_covers("x.app.example.go.id", &names));
        assert!(!certificate_covers("app.example.go.id", &names));
        assert!(!certificate_covers("y.x.app.example.go.id", &names));
        assert!(!certificate_covers("other.example.go.id", &names));
    }
}
