//! The administration commands: agencies, users and tokens (`ranah agency|user|token …`).
//! They print what they did on standard output; `token create` prints only the token.

use anyhow::{Context as _, bail};
use chrono::Utc;
use hickory_proto::rr::Name;

use crate::cli::{
    AgencyCommand, AuditCommand, KeyCommand, SubdomainCommand, TokenCommand, UserCommand,
};
use crate::config::Config;
use crate::domain::access::Grant;
use crate::domain::audit::Attribution;
use crate::domain::workflow::Workflow;
use crate::store::{Assignment, Store};

/// `ROLE` or `ROLE@FROM..UNTIL`, a role of `workflow`.
pub fn parse_role_grant(s: &str, workflow: &Workflow) -> anyhow::Result<Grant> {
    Ok(Grant::parse(s, workflow)?)
}

fn check_code(code: &str) -> anyhow::Result<()> {
    let ok = !code.is_empty()
        && code.len() <= 32
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        bail!("agency code `{code}`: 1 to 32 letters, digits, `-` or `_`");
    }
    Ok(())
}

fn check_email(email: &str) -> anyhow::Result<()> {
    if !crate::domain::signin::plausible_email(email) {
        bail!("`{email}` is not an email address");
    }
    Ok(())
}

/// The people service for the command line.
fn people(store: &Store, config: &Config) -> crate::service::people::People {
    crate::service::people::People::new(store.clone(), std::sync::Arc::new(config.calendar.clone()))
}

/// `ranah agency …`
pub async fn agency(store: &Store, config: &Config, cmd: AgencyCommand) -> anyhow::Result<()> {
    let people = people(store, config);
    match cmd {
        AgencyCommand::Add { code, name } => {
            check_code(&code)?;
            if name.trim().is_empty() {
                bail!("the agency needs a name");
            }
            let id = people
                .add_agency(&code, name.trim(), &Attribution::cli(), Utc::now())
                .await?;
            crate::outln!("agency {code} added (id {id})")?;
        }
    }
    Ok(())
}

/// `ranah user …`
pub async fn user(store: &Store, config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    let people = people(store, config);
    match cmd {
        UserCommand::Add {
            name,
            roles,
            agency,
            email,
        } => {
            if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
                bail!("user name `{name}`: no spaces");
            }
            if let Some(e) = &email {
                check_email(e)?;
            }
            let workflow = config.load_workflow()?;
            let grants = roles
                .iter()
                .map(|r| parse_role_grant(r, &workflow))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let agency_id = match &agency {
                Some(code) => Some(
                    store
                        .agency(code)
                        .await?
                        .with_context(|| {
                            format!("no agency {code} (add it with `ranah agency add`)")
                        })?
                        .id,
                ),
                None => None,
            };
            let id = people
                .add_user(
                    &name,
                    email.as_deref(),
                    agency_id,
                    &grants,
                    &Attribution::cli(),
                    Utc::now(),
                )
                .await?;
            crate::outln!("user {name} added (id {id})")?;
        }
        UserCommand::Disable { name } => {
            people
                .disable_user(&name, &Attribution::cli(), Utc::now())
                .await?;
            crate::outln!("user {name} disabled; their tokens no longer work")?;
        }
        UserCommand::Password { name, remove } => {
            let password = if remove {
                None
            } else {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            };
            crate::service::signin::set_password(
                store,
                &name,
                password.as_deref(),
                &Attribution::cli(),
                Utc::now(),
            )
            .await?;
            crate::outln!(
                "user {name}: password {}",
                if remove { "removed" } else { "set" }
            )?;
        }
    }
    Ok(())
}

/// `ranah key …`
pub async fn key(store: &Store, config: &Config, cmd: KeyCommand) -> anyhow::Result<()> {
    use crate::service::updates::{UpdateKeys, key_cipher};
    let keys = UpdateKeys::new(
        store.clone(),
        key_cipher(config, store.is_shared())?,
        config,
    );
    match cmd {
        KeyCommand::Create { agency, name } => {
            let line = keys
                .create(
                    agency.as_deref(),
                    name.as_deref(),
                    &Attribution::cli(),
                    Utc::now(),
                )
                .await?;
            crate::outln!("{line}")?;
        }
        KeyCommand::List => {
            crate::outln!(
                "{:<32}  {:<12}  {:<12}  {:<20}  {:<20}  revoked",
                "name",
                "algorithm",
                "agency",
                "created",
                "last used"
            )?;
            for k in keys.list().await? {
                crate::outln!(
                    "{:<32}  {:<12}  {:<12}  {:<20}  {:<20}  {}",
                    k.name,
                    k.algorithm,
                    k.agency.unwrap_or_else(|| "-".into()),
                    k.created_at,
                    k.last_used_at.unwrap_or_else(|| "-".into()),
                    k.revoked_at.unwrap_or_else(|| "-".into())
                )?;
            }
        }
        KeyCommand::Revoke { name } => {
            keys.revoke(&name, &Attribution::cli(), Utc::now()).await?;
            crate::outln!("revoked {name}")?;
        }
    }
    Ok(())
}

/// `ranah token …`
pub async fn token(store: &Store, config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    let people = people(store, config);
    match cmd {
        TokenCommand::Create { user, expires } => {
            let expires_at = expires
                .map(|d| {
                    d.succ_opt()
                        .unwrap_or(d)
                        .and_hms_opt(0, 0, 0)
                        .map(|t| t.and_utc())
                        .context("invalid date")
                })
                .transpose()?;
            if expires_at.is_some_and(|e| e <= Utc::now()) {
                bail!("the expiry date is in the past");
            }
            let (_, token) = people
                .create_token(&user, expires_at, &Attribution::cli(), Utc::now())
                .await?;
            crate::outln!("{token}")?;
        }
        TokenCommand::List => {
            crate::outln!(
                "{:>5}  {:<16}  {:<14}  {:<20}  {:<20}  revoked",
                "id",
                "user",
                "prefix",
                "created",
                "expires"
            )?;
            for t in store.list_tokens().await? {
                crate::outln!(
                    "{:>5}  {:<16}  {:<14}  {:<20}  {:<20}  {}",
                    t.id,
                    t.user,
                    format!("{}…", t.prefix),
                    t.created_at,
                    t.expires_at.unwrap_or_else(|| "-".into()),
                    t.revoked_at.unwrap_or_else(|| "-".into())
                )?;
            }
        }
        TokenCommand::Revoke { id } => {
            people
                .revoke_token(id, &Attribution::cli(), Utc::now())
                .await?;
            crate::outln!("token {id} revoked")?;
        }
    }
    Ok(())
}

fn owner_name(name: &str) -> anyhow::Result<String> {
    // One trailing dot at most, IDNA 2008 labels: the rule of every name ranah accepts.
    let n = crate::domain::policy::normal_name(name)
        .map_err(|why| anyhow::anyhow!("`{name}`: {why}"))?;
    if !n.contains('.') {
        bail!("`{name}`: give the whole name, e.g. portal.kaltaraprov.go.id");
    }
    Ok(format!("{n}."))
}

/// Parse `name,agency` lines; errors name the line.
pub fn parse_assignments(text: &str, file: &str) -> anyhow::Result<Vec<Assignment>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || (i == 0 && line.eq_ignore_ascii_case("name,agency"))
        {
            continue;
        }
        let (name, agency) = line
            .split_once(',')
            .with_context(|| format!("{file}:{}: expected `name,agency`", i + 1))?;
        let owner = owner_name(name).with_context(|| format!("{file}:{}", i + 1))?;
        let agency = agency.trim();
        check_code(agency).with_context(|| format!("{file}:{}", i + 1))?;
        out.push(Assignment {
            owner,
            agency: agency.to_owned(),
        });
    }
    if out.is_empty() {
        bail!("{file}: no assignments");
    }
    Ok(out)
}

/// `ranah subdomain …`
pub async fn subdomain(store: &Store, cmd: SubdomainCommand) -> anyhow::Result<()> {
    match cmd {
        SubdomainCommand::Assign { name, agency, csv } => {
            let (assignments, source) = match (csv, name, agency) {
                (Some(path), _, _) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let label = path.display().to_string();
                    (parse_assignments(&text, &label)?, format!("csv {label}"))
                }
                (None, Some(name), Some(agency)) => {
                    check_code(&agency)?;
                    (
                        vec![Assignment {
                            owner: owner_name(&name)?,
                            agency,
                        }],
                        "cli".to_owned(),
                    )
                }
                _ => bail!("give NAME --agency CODE, or --csv FILE"),
            };
            let records = store
                .assign_names(
                    &assignments,
                    &source,
                    &|done: crate::store::Assigned<'_>| {
                        crate::domain::audit::AuditEntry::by(
                            &Attribution::cli(),
                            "subdomain.assign",
                            format!("name/{}", done.assignment.owner.trim_end_matches('.')),
                            serde_json::json!({
                                "zone": done.zone, "agency": done.assignment.agency,
                                "previous_agency": done.previous, "source": source,
                            }),
                        )
                    },
                    Utc::now(),
                )
                .await?;
            crate::outln!("{} name(s) assigned ({records} records)", assignments.len())?;
        }
    }
    Ok(())
}

/// `ranah audit verify [--against HASH@SEQ …]`: the chain's state as JSON; an error (exit 1)
/// when the chain is broken or a head seen earlier is not in it.
pub async fn audit(store: &Store, cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { against } = cmd;
    let verification = store.verify_audit().await?;
    crate::outln!("{}", serde_json::to_string_pretty(&verification)?)?;
    let mut missing = Vec::new();
    for anchor in &against {
        let (hash, seq) = anchor
            .split_once('@')
            .and_then(|(h, s)| Some((h, s.parse::<i64>().ok()?)))
            .with_context(|| format!("--against {anchor}: write HASH@SEQ"))?;
        if store.audit_has(seq, hash).await? {
            crate::outln!("{anchor}: in the chain")?;
        } else {
            crate::outln!("{anchor}: NOT in the chain")?;
            missing.push(anchor.clone());
        }
    }
    let mut bad_checkpoints = Vec::new();
    let checkpoints = store.checkpoints().await?;
    for c in &checkpoints {
        let ok =
            crate::audit::checkpoint::signature_valid(c) && store.audit_has(c.seq, &c.hash).await?;
        if !ok {
            crate::outln!("checkpoint {} {} (seq {}): BAD", c.kind, c.label, c.seq)?;
            bad_checkpoints.push(format!("{} {}", c.kind, c.label));
        }
    }
    crate::outln!(
        "signed checkpoints: {} checked, {} bad",
        checkpoints.len(),
        bad_checkpoints.len()
    )?;
    if let Some(seq) = verification.first_bad {
        bail!("the audit trail is broken at sequence {seq}");
    }
    if !bad_checkpoints.is_empty() {
        bail!(
            "signed checkpoints that do not verify: {}",
            bad_checkpoints.join(", ")
        );
    }
    if !missing.is_empty() {
        bail!("heads not in the chain: {}", missing.join(", "));
    }
    Ok(())
}

/// `ranah cert renew NAME`, `ranah cert list`.
pub async fn cert(store: &Store, cmd: crate::cli::CertCommand) -> anyhow::Result<()> {
    match cmd {
        crate::cli::CertCommand::Renew { name } => {
            let name = crate::domain::certificate::normal_name(&name);
            let audit = crate::domain::audit::AuditEntry::cli(
                "certificate.renew",
                format!("certificate/{name}"),
                serde_json::json!({"reason": "ranah cert renew"}),
            );
            let row = store
                .certificate(&name)
                .await?
                .with_context(|| format!("no certificate for {name}"))?;
            crate::domain::certificate::next(
                Some(row.status),
                crate::domain::certificate::Transition::Renew,
                row.chain_pem.is_some(),
            )
            .with_context(|| format!("the certificate for {name} cannot be renewed"))?;
            store
                .renew_certificate(&name, row.guard(), &audit, chrono::Utc::now())
                .await?;
            crate::outln!("renewal of {name} ordered; the daemon picks it up at its next check")?;
        }
        crate::cli::CertCommand::List => {
            crate::outln!(
                "{:<40} {:<9} {:<25} {:<25} LAST ERROR",
                "NAME",
                "STATUS",
                "NOT AFTER",
                "RENEW AT"
            )?;
            for c in store.certificates().await? {
                crate::outln!(
                    "{:<40} {:<9} {:<25} {:<25} {}",
                    c.name,
                    c.status.as_str(),
                    c.not_after.as_deref().unwrap_or("-"),
                    c.renew_at.as_deref().unwrap_or("-"),
                    c.last_error.as_deref().unwrap_or("")
                )?;
            }
        }
    }
    Ok(())
}

/// The instances that reported in the last day: their role, addresses, when each was last
/// heard of, and which zones each serves at another serial than the store's.
async fn instances(store: &Store, zones: &[(String, u32, u64)]) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    crate::outln!(
        "{:<28} {:<9} {:<22} {:<22} {:>9}  SERIALS",
        "INSTANCE",
        "ROLE",
        "API",
        "DNS",
        "SEEN"
    )?;
    for i in store.instances().await? {
        let seen =
            chrono::DateTime::parse_from_rfc3339(&i.seen_at).map(|t| now.signed_duration_since(t));
        let gone = seen.is_ok_and(|d| d > crate::cluster::presence::GONE_AFTER);
        let role = match (gone, i.leader) {
            (true, _) => "gone",
            (false, true) => "leader",
            (false, false) => "follower",
        };
        let served: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&i.serials).unwrap_or_default();
        let behind: Vec<String> = zones
            .iter()
            .filter_map(|(zone, serial, _)| {
                let there = served.get(zone).and_then(serde_json::Value::as_u64);
                (there != Some(u64::from(*serial))).then(|| {
                    let there = there.map_or_else(|| "-".to_owned(), |s| s.to_string());
                    format!("{} at {there}", zone.trim_end_matches('.'))
                })
            })
            .collect();
        let serials = if behind.is_empty() {
            "as stored".to_owned()
        } else {
            behind.join(", ")
        };
        let seen = seen.map_or_else(|_| "?".to_owned(), |d| format!("{}s ago", d.num_seconds()));
        crate::outln!(
            "{:<28} {:<9} {:<22} {:<22} {:>9}  {serials}",
            i.id,
            role,
            i.api,
            i.dns,
            seen
        )?;
    }
    crate::outln!()?;
    Ok(())
}

/// `ranah status`: the instances on the store (role, addresses, zones behind), every zone
/// (serial, records, last change) and every secondary (the serial it serves, sync, lag, last
/// NOTIFY and transfer), as tables.
pub async fn status(store: &Store) -> anyhow::Result<()> {
    let zones = store.zone_summaries().await?;
    instances(store, &zones).await?;
    crate::outln!(
        "{:<32} {:>10} {:>8}  LAST CHANGE",
        "ZONE",
        "SERIAL",
        "RECORDS"
    )?;
    for (zone, serial, records) in &zones {
        let last = store
            .last_change(zone)
            .await?
            .map(|c| format!("{} {}", c.at, c.reason))
            .unwrap_or_else(|| "-".into());
        crate::outln!(
            "{:<32} {:>10} {:>8}  {last}",
            zone.trim_end_matches('.'),
            serial,
            records
        )?;
    }
    crate::outln!()?;
    crate::outln!(
        "{:<32} {:<22} {:>10} {:<7} {:>9}  {:<40} LAST TRANSFER",
        "ZONE",
        "SECONDARY",
        "SERIAL",
        "SYNC",
        "LAG",
        "LAST NOTIFY"
    )?;
    let dash = || "-".to_owned();
    for (zone, serial, _) in &zones {
        for r in crate::dns::secondaries::reports(store, zone, *serial).await? {
            let s = &r.state;
            let lag = match (r.lag_changes, r.lag_seconds) {
                (Some(c), Some(secs)) => format!("{c}/{secs}s"),
                _ => "?".into(),
            };
            let notify = match (
                &s.last_notify_serial,
                &s.last_notify_result,
                &s.last_notify_at,
            ) {
                (Some(n), Some(res), Some(at)) => format!("{n} {res} {at}"),
                _ => dash(),
            };
            let transfer = match (
                &s.last_transfer_kind,
                &s.last_transfer_serial,
                &s.last_transfer_at,
            ) {
                (Some(k), Some(n), Some(at)) => format!("{k} {n} {at}"),
                _ => dash(),
            };
            crate::outln!(
                "{:<32} {:<22} {:>10} {:<7} {:>9}  {:<40} {transfer}",
                zone.trim_end_matches('.'),
                s.secondary,
                s.served_serial.map_or_else(dash, |v| v.to_string()),
                if r.in_sync { "yes" } else { "NO" },
                lag,
                notify,
            )?;
        }
    }
    crate::outln!()?;
    dnssec_keys(store, zones.iter().map(|(zone, _, _)| zone.as_str()), false).await
}

/// The DNSSEC keys of these zones, one line each (removed keys only `with_removed`).
async fn dnssec_keys<'z>(
    store: &Store,
    zones: impl Iterator<Item = &'z str>,
    with_removed: bool,
) -> anyhow::Result<()> {
    crate::outln!(
        "{:<32} {:>6} {:<4} {:>3} {:<9} {:<10} {:<25} SINCE",
        "ZONE",
        "TAG",
        "ROLE",
        "ALG",
        "STATE",
        "DS",
        "ACTIVE"
    )?;
    for zone in zones {
        let origin = Name::from_ascii(zone)?;
        for k in crate::service::dnssec::key_reports(store, &origin).await? {
            if k.state == "removed" && !with_removed {
                continue;
            }
            let ds = match (k.submitted, k.ds_seen) {
                (_, true) => "at parent",
                (true, false) => "awaited",
                (false, false) => "-",
            };
            let since = [
                &k.times.removed,
                &k.times.retired,
                &k.times.active,
                &k.times.published,
                &Some(k.times.created.clone()),
            ]
            .into_iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default();
            crate::outln!(
                "{:<32} {:>6} {:<4} {:>3} {:<9} {:<10} {:<25} {since}",
                zone.trim_end_matches('.'),
                k.tag,
                k.role,
                k.algorithm,
                k.state,
                ds,
                k.times.active.as_deref().unwrap_or("-"),
            )?;
        }
    }
    Ok(())
}

/// `ranah dnssec ds ZONE`: the DS records the office gives its registry.
pub async fn dnssec_ds(store: &Store, zone: &str) -> anyhow::Result<()> {
    let origin = zone_name(zone)?;
    let lines = crate::service::dnssec::ds_records(store, &origin).await?;
    if lines.is_empty() {
        anyhow::bail!(
            "{origin} has no key-signing key yet: it is signed at the daemon's first start \
             (or signing is off for it)"
        );
    }
    for line in lines {
        crate::outln!("{line}")?;
    }
    Ok(())
}

/// `ranah dnssec keys [ZONE]`: every key, removed ones too.
pub async fn dnssec_status(store: &Store, zone: Option<&str>) -> anyhow::Result<()> {
    let zones: Vec<String> = match zone {
        Some(z) => vec![zone_name(z)?.to_ascii()],
        None => store
            .zone_summaries()
            .await?
            .into_iter()
            .map(|(z, _, _)| z)
            .collect(),
    };
    dnssec_keys(store, zones.iter().map(String::as_str), true).await
}

fn zone_name(zone: &str) -> anyhow::Result<Name> {
    let mut origin =
        Name::from_ascii(zone).map_err(|e| anyhow::anyhow!("invalid zone {zone}: {e}"))?;
    origin.set_fqdn(true);
    Ok(origin.to_lowercase())
}

/// `ranah check NAME` and `ranah check --all`.
pub async fn check(
    store: &Store,
    config: &Config,
    name: Option<&str>,
    all: bool,
) -> anyhow::Result<()> {
    use crate::service::oversight::Oversight;
    let oversight =
        std::sync::Arc::new(Oversight::standalone(store.clone(), config, Utc::now()).await?);
    let open = match name {
        Some(name) if !all => {
            let findings = oversight.check_named(name, Utc::now()).await?;
            let open = findings.iter().filter(|f| f.resolved_at.is_none()).count();
            crate::outln!(
                "{}: {} open finding(s)",
                name.trim().trim_end_matches('.'),
                open
            )?;
            for f in &findings {
                crate::outln!(
                    "#{:<6} {:<22} {:<9} first {}  last {}{}\n        {}",
                    f.id,
                    f.kind,
                    if f.resolved_at.is_some() {
                        "resolved"
                    } else {
                        "open"
                    },
                    f.first_seen,
                    f.last_seen,
                    f.resolved_at
                        .as_ref()
                        .map(|r| format!("  resolved {r}"))
                        .unwrap_or_default(),
                    f.evidence
                )?;
            }
            open
        }
        _ => {
            let (_stop_tx, stop) = tokio::sync::watch::channel(false);
            let budget = std::time::Duration::from_secs(config.checker.budget_secs);
            let s = oversight.run(budget, false, stop).await?;
            let rate = if s.seconds > 0.0 {
                s.checked as f64 / s.seconds
            } else {
                0.0
            };
            crate::outln!(
                "checked {} of {} names in {:.2} s ({:.1} names/s); {} left for the next run, \
                 {} failed; at most {} connections at once; {} finding(s) opened",
                s.checked,
                s.names,
                s.seconds,
                rate,
                s.skipped,
                s.failed,
                s.peak_connections,
                s.opened
            )?;
            let counts = store.open_finding_counts().await?;
            for (kind, n) in &counts {
                crate::outln!("open {kind}: {n}")?;
            }
            counts
                .iter()
                .map(|(_, n)| usize::try_from(*n).unwrap_or(0))
                .sum()
        }
    };
    if open > 0 {
        bail!("{open} finding(s) open");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names_take_one_trailing_dot_at_most() {
        assert_eq!(
            owner_name("Portal.Example.go.id.").unwrap(),
            "portal.example.go.id."
        );
        assert_eq!(
            owner_name("bücher.example.go.id").unwrap(),
            "xn--bcher-kva.example.go.id."
        );
        for bad in [
            "portal.example.go.id..",
            "xn--zz.example.go.id",
            "portal",
            "",
        ] {
            assert!(owner_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn role_grants() {
        let wf = Workflow::preset("kaltara").unwrap();
        assert_eq!(parse_role_grant("technical", &wf).unwrap().from, None);
        let g = parse_role_grant("head_of_office@2026-12-01..2026-12-31", &wf).unwrap();
        assert_eq!(g.role.as_str(), "head_of_office");
        assert_eq!(g.until, Some("2026-12-31".parse().unwrap()));
        let open = parse_role_grant("head_of_office@2026-12-01..", &wf).unwrap();
        assert_eq!(open.until, None);
        assert!(parse_role_grant("technical@2026-12-31..2026-12-01", &wf).is_err());
        assert!(parse_role_grant("technical@tomorrow", &wf).is_err());
        assert!(check_email("andi@dinkes.example").is_ok());
        assert!(check_email("andi").is_err());
        assert!(check_code("DINKES").is_ok());
        assert!(check_code("DIN KES").is_err());
        let a = parse_assignments(
            "name,agency\nportal.example.go.id,DINKES\n\n# x\nwww.example.go.id., DISHUB\n",
            "f",
        )
        .unwrap();
        assert_eq!(
            a[1],
            Assignment {
                owner: "www.example.go.id.".into(),
                agency: "DISHUB".into()
            }
        );
        let err = parse_assignments("portal.example.go.id,DINKES\nbroken\n", "f.csv").unwrap_err();
        assert!(format!("{err:#}").contains("f.csv:2"), "{err:#}");
    }
}
