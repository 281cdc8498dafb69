use std::path::Path;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_match_the_contract() {
    let c = ConfigLayer::default().resolve().unwrap();
    assert_eq!(c.dns.listen, vec!["127.0.0.1:5300".parse().unwrap()]);
    assert_eq!(c.api.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.zones_dir, PathBuf::from("./zones"));
    assert_eq!(c.workflow, "kaltara");
    assert_eq!(c.log.format, LogFormat::Text);
    assert!(
        c.database_url
            .expose()
            .starts_with("sqlite://./data/ranah.db")
    );
}

#[test]
fn layers_override_in_order() {
    let file = ConfigLayer::from_toml(
        "data_dir = \"/file\"\n[dns]\nlisten = [\"127.0.0.1:1\"]\n[api]\nlisten = \"127.0.0.1:2\"\n",
        Path::new("f.toml"),
    )
    .unwrap();
    let (envl, unknown) = ConfigLayer::from_env(env(&[
        ("RANAH_DATA_DIR", "/env"),
        ("RANAH_DNS_LISTEN", "127.0.0.1:3, [::1]:3"),
        ("RANAH_BOGUS", "x"),
        ("PATH", "/bin"),
    ]))
    .unwrap();
    assert_eq!(unknown, vec!["RANAH_BOGUS".to_string()]);
    let flags = ConfigLayer::default().flag("--data-dir", "data_dir", Some("/flag"));
    let c = file.merge(envl).merge(flags).resolve().unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/flag"));
    assert_eq!(c.dns.listen.len(), 2);
    assert_eq!(c.api.listen, "127.0.0.1:2".parse().unwrap());
}

#[test]
fn unknown_keys_are_named() {
    let err = ConfigLayer::from_toml("[dns]\nlisten_udp = []\n", Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("listen_udp"), "{err}");
    let err = ConfigLayer::from_toml("colour = 1\n", Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn bad_values_are_rejected() {
    let err = ConfigLayer::from_env(env(&[("RANAH_DNS_LISTEN", "localhost")])).unwrap_err();
    assert!(err.to_string().contains("RANAH_DNS_LISTEN"));
    let err = ConfigLayer::from_env(env(&[("RANAH_LOG_FORMAT", "xml")])).unwrap_err();
    assert!(err.to_string().contains("RANAH_LOG_FORMAT"));
    let layer = ConfigLayer::default().flag("--database-url", "database_url", Some("mysql://x"));
    assert!(layer.resolve().is_err());
}

#[test]
fn edge_limits_and_origins() {
    let layer = ConfigLayer::from_toml(
        "[names]\nmax_rrset_records = 4\nmax_answer_bytes = 4096\n[attachments]\n\
         max_per_request = 5\n[api]\ncors_allowed_origins = [\"https://portal.example.go.id\", \
         \"http://127.0.0.1:3000\"]\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let c = layer.resolve().unwrap();
    assert_eq!(
        (c.policy.max_rrset_records, c.policy.max_answer_bytes),
        (4, 4096)
    );
    assert_eq!(c.attachments.max_per_request, 5);
    assert_eq!(c.api.cors_allowed_origins.len(), 2);
    let layer = ConfigLayer::from_toml(
        "[names]\nallow_private_addresses = true\n[[names.address_ranges]]\n\
         zone = \"Example.GO.id.\"\nranges = [\"10.20.0.0/16\", \"2001:db8:10::/48\"]\n\
         outside = \"review\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let c = layer.resolve().unwrap();
    let set = &c.policy.address_ranges[0];
    assert_eq!(set.zone, "example.go.id");
    assert_eq!(set.ranges.len(), 2);
    assert_eq!(set.outside, crate::domain::policy::Outside::Review);
    let unknown = ConfigLayer::from_toml(
        "[[names.address_ranges]]\nzone = \"example.go.id\"\nranges = [\"203.0.113.0/24\"]\n\
         outside = \"ignore\"\n",
        Path::new("c.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(unknown.contains("`refuse` or `review`"), "{unknown}");
    for (bad, key) in [
        (
            "[names]\nmax_rrset_records = 0\n",
            "names.max_rrset_records",
        ),
        (
            "[names]\nmax_answer_bytes = 511\n",
            "names.max_answer_bytes",
        ),
        (
            "[names]\nmax_answer_bytes = 65536\n",
            "names.max_answer_bytes",
        ),
        (
            "[attachments]\nmax_per_request = 0\n",
            "attachments.max_per_request",
        ),
        (
            "[api]\ncors_allowed_origins = [\"*\"]\n",
            "api.cors_allowed_origins",
        ),
        (
            "[api]\ncors_allowed_origins = [\"https://a.example/path\"]\n",
            "api.cors_allowed_origins",
        ),
        (
            "[api]\ncors_allowed_origins = [\"portal.example.go.id\"]\n",
            "api.cors_allowed_origins",
        ),
        (
            "[[names.address_ranges]]\nzone = \"bad zone\"\nranges = [\"203.0.113.0/24\"]\n",
            "names.address_ranges",
        ),
        (
            "[[names.address_ranges]]\nzone = \"example.go.id\"\nranges = [\"203.0.113.7/24\"]\n",
            "write its network, 203.0.113.0/24",
        ),
        (
            "[[names.address_ranges]]\nzone = \"example.go.id\"\nranges = [\"10.0.0.0/8\"]\n",
            "allow_private_addresses is false",
        ),
        (
            "[[names.address_ranges]]\nzone = \"example.go.id\"\nranges = []\n",
            "names no ranges",
        ),
        (
            "[[names.address_ranges]]\nzone = \"example.go.id\"\nranges = [\"203.0.113.0/24\"]\n\
             [[names.address_ranges]]\nzone = \"Example.go.id.\"\nranges = [\"198.51.100.0/24\"]\n",
            "twice",
        ),
    ] {
        let layer = ConfigLayer::from_toml(bad, Path::new("c.toml")).unwrap();
        let err = layer.resolve().unwrap_err().to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
}

#[test]
fn calendar_and_names_settings() {
    let layer = ConfigLayer::from_toml(
        "[calendar]\ntime_zone = \"Asia/Jakarta\"\nholidays = [\"2026-12-25\"]\n\
         [calendar.hours]\nmon = \"07:30-15:30\"\n[names]\nreserved = [\"Portal\"]\n\
         allow_private_addresses = true\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let c = layer.resolve().unwrap();
    assert_eq!(c.calendar.time_zone(), chrono_tz::Asia::Jakarta);
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    assert_eq!(
        c.calendar.hours(monday).unwrap().open.to_string(),
        "07:30:00"
    );
    assert!(
        c.calendar.hours(monday.succ_opt().unwrap()).is_none(),
        "only Monday works"
    );
    assert!(
        c.calendar
            .hours(chrono::NaiveDate::from_ymd_opt(2026, 12, 25).unwrap())
            .is_none()
    );
    assert_eq!(c.policy.reserved, vec!["portal".to_string()]);
    assert!(c.policy.allow_private_addresses);
    for bad in [
        "[calendar]\ntime_zone = \"Mars/Base\"\n",
        "[calendar.hours]\nmonday = \"08:00-16:00\"\n",
        "[calendar.hours]\nmon = \"16:00-08:00\"\n",
        "[calendar.hours]\nmon = \"8 to 4\"\n",
    ] {
        let layer = ConfigLayer::from_toml(bad, Path::new("c.toml")).unwrap();
        assert!(layer.resolve().is_err(), "{bad}");
    }
}

#[test]
fn secrets_are_redacted() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let layer = ConfigLayer::default()
        .flag(
            "--database-url",
            "database_url",
            Some("sqlite:///var/lib/ranah-test/ranah.db"),
        )
        .merge(
            ConfigLayer::from_toml(
                &format!("[audit]\nsigning_key = \"{key}\"\n"),
                Path::new("c.toml"),
            )
            .unwrap(),
        );
    let c = layer.resolve().unwrap();
    assert!(!format!("{c:?}").contains(key));
    assert!(!c.to_toml().contains(key));
    // A database URL is shown (only a password in it would be redacted): check-config tells
    // where the database is. Debug output (logs) keeps it out all the same.
    assert!(
        c.to_toml()
            .contains("database_url = \"sqlite:///var/lib/ranah-test/ranah.db\""),
        "{}",
        c.to_toml()
    );
    assert!(!format!("{c:?}").contains("ranah-test"));
}

/// Without `database_url` the database is in `data_dir`, wherever that is moved to.
#[test]
fn the_database_follows_the_data_directory() {
    let layer =
        ConfigLayer::from_toml("data_dir = \"/var/lib/ranah\"\n", Path::new("c.toml")).unwrap();
    let c = layer.resolve().unwrap();
    assert_eq!(
        c.database_url.expose(),
        "sqlite:///var/lib/ranah/ranah.db?mode=rwc"
    );
    assert!(
        c.to_toml()
            .contains("database_url = \"sqlite:///var/lib/ranah/ranah.db?mode=rwc\""),
        "{}",
        c.to_toml()
    );
}

#[test]
fn the_commented_acme_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let block: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# [acme]"))
        .take_while(|l| l.starts_with('#'))
        .filter(|l| !l.contains("ca_file"))
        .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
        .collect();
    let layer = ConfigLayer::from_toml(&block, &path).unwrap();
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let vars = |name: &str| match name {
        "RANAH_ACME_KEY" => Some(key.to_string()),
        "RANAH_ACME_EAB_HMAC" => Some("c2VjcmV0".to_string()),
        _ => None,
    };
    // The variables it names are secrets, not unknown RANAH_* variables.
    let named = layer.secret_variables();
    assert!(named.contains(&"RANAH_ACME_KEY".to_string()), "{named:?}");
    assert!(
        named.contains(&"RANAH_ACME_EAB_HMAC".to_string()),
        "{named:?}"
    );
    let acme = resolve_acme(&layer.settings().unwrap().acme, vars)
        .unwrap()
        .unwrap();
    assert!(acme.directory.contains("letsencrypt.org"));
    assert_eq!(acme.key_encryption_key.expose(), key);
    assert_eq!((acme.retry_base_secs, acme.max_attempts), (30, 10));
    // No directory: no certificates; a directory without a key, or a bad key, is an error.
    assert!(
        resolve_acme(&AcmeSettings::default(), |_| None)
            .unwrap()
            .is_none()
    );
    let no_key = AcmeSettings {
        directory: Some("https://acme.example/dir".into()),
        ..Default::default()
    };
    let err = resolve_acme(&no_key, |_| None).unwrap_err().to_string();
    assert!(err.contains("acme.key_encryption_key"), "{err}");
    let short = AcmeSettings {
        key_encryption_key: Some(Secret::new("c2hvcnQ=")),
        ..no_key.clone()
    };
    assert!(resolve_acme(&short, |_| None).is_err());
    let http = AcmeSettings {
        directory: Some("http://acme.example/dir".into()),
        ..short
    };
    let err = resolve_acme(&http, |_| None).unwrap_err().to_string();
    assert!(err.contains("https"), "{err}");
    // The variables of the contract set the directory, the CA file and the contact.
    let (env_layer, unknown) = ConfigLayer::from_env(env(&[
        ("RANAH_ACME_DIRECTORY", "https://acme.example/dir"),
        ("RANAH_ACME_EMAIL", "ops@example.go.id"),
    ]))
    .unwrap();
    assert!(unknown.is_empty());
    assert_eq!(
        env_layer.settings().unwrap().acme.email.as_deref(),
        Some("ops@example.go.id")
    );
}

#[test]
fn the_commented_smtp_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let block: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# [smtp]"))
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
        .collect();
    let layer = ConfigLayer::from_toml(&block, &path).unwrap();
    let smtp = resolve_smtp(&layer.settings().unwrap().smtp, |_| Some("rahasia".into()))
        .unwrap()
        .unwrap();
    assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::Starttls));
    assert_eq!(smtp.password.unwrap().expose(), "rahasia");
    // No host: no mail.
    assert!(
        resolve_smtp(&SmtpSettings::default(), |_| None)
            .unwrap()
            .is_none()
    );
    let bad = SmtpSettings {
        host: Some("mail".into()),
        password_env: Some("UNSET".into()),
        ..Default::default()
    };
    assert!(
        resolve_smtp(&bad, |_| None)
            .unwrap_err()
            .to_string()
            .contains("UNSET")
    );
}

#[test]
fn the_commented_secondaries_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let block: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# [[tsig_keys]]"))
        .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
        .collect();
    let settings = ConfigLayer::from_toml(&block, &path)
        .unwrap()
        .settings()
        .unwrap();
    let (keys, secondaries) = resolve_transfers(&settings.tsig_keys, &settings.secondaries, |_| {
        Some("c2VjcmV0".into())
    })
    .unwrap();
    assert_eq!((keys.len(), secondaries.len()), (1, 1));
}

#[test]
fn keys_and_secondaries() {
    let text = r#"
[[tsig_keys]]
name = "xfr-key"
secret_env = "XFR_SECRET"

[[secondaries]]
zone = "Example.go.id"
notify = "127.0.0.1:5301"
allow_transfer = ["127.0.0.1", "2001:db8::/32"]
tsig_key = "xfr-key"
"#;
    let settings = ConfigLayer::from_toml(text, Path::new("f.toml"))
        .unwrap()
        .settings()
        .unwrap();
    let env = |name: &str| (name == "XFR_SECRET").then(|| "c2VjcmV0".to_owned());
    let (keys, secondaries) =
        resolve_transfers(&settings.tsig_keys, &settings.secondaries, env).unwrap();
    assert_eq!(keys[0].secret, b"secret");
    assert_eq!(keys[0].algorithm, "hmac-sha256");
    assert_eq!(secondaries[0].zone, "example.go.id.");
    assert_eq!(
        secondaries[0].allow_transfer,
        vec![
            "127.0.0.1/32".parse::<ipnet::IpNet>().unwrap(),
            "2001:db8::/32".parse().unwrap()
        ]
    );

    let err = |keys: &str, secondaries: &str| {
        let settings =
            ConfigLayer::from_toml(&format!("{keys}\n{secondaries}"), Path::new("f.toml"))
                .unwrap()
                .settings()
                .unwrap();
        resolve_transfers(&settings.tsig_keys, &settings.secondaries, env)
            .unwrap_err()
            .to_string()
    };
    let secondary = |key: &str| {
        format!(
            "[[secondaries]]\nzone = \"example.go.id\"\nnotify = \"127.0.0.1:5301\"\n\
             allow_transfer = [\"127.0.0.1\"]\ntsig_key = \"{key}\""
        )
    };
    let key = |body: &str| format!("[[tsig_keys]]\nname = \"xfr-key\"\n{body}");
    assert!(err(&key("secret_env = \"NOPE\""), "").contains("NOPE"));
    assert!(err(&key("secret = \"not base64!\""), "").contains("base64"));
    assert!(err(&key(""), "").contains("exactly one"));
    assert!(
        err(&key("secret = \"c2VjcmV0\"\nalgorithm = \"hmac-md5\""), "")
            .contains("unsupported algorithm")
    );
    assert!(err(&key("secret = \"c2VjcmV0\""), &secondary("other")).contains("not defined"));
    let bad_prefix = "[[secondaries]]\nzone = \"example.go.id\"\nnotify = \"127.0.0.1:5301\"\n\
                      allow_transfer = [\"localhost\"]";
    assert!(err("", bad_prefix).contains("localhost"));
    // The secret never shows in check-config's output.
    let layer = ConfigLayer::from_toml(
        &format!("{}\n{}", key("secret = \"c2VjcmV0\""), secondary("xfr-key")),
        Path::new("f.toml"),
    )
    .unwrap();
    let shown = layer.resolve().unwrap().to_toml();
    assert!(
        shown.contains("<redacted>") && !shown.contains("c2VjcmV0"),
        "{shown}"
    );
}

#[test]
fn example_config_parses_and_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let layer = ConfigLayer::from_toml(&text, &path).unwrap();
    layer.resolve().unwrap();
    // Every variable of the contract still sets its key, and is documented in the example and
    // in the reference.
    let reference = std::fs::read_to_string(reference_path()).unwrap();
    for (var, key) in CONTRACT_VARIABLES {
        assert_eq!(
            key_of_variable(var).map(|k| k.path.as_str()),
            Some(*key),
            "{var}"
        );
        assert!(reference.contains(var), "{var} is not documented");
        assert!(text.contains(var), "{var} is not documented in the example");
    }
    assert!(text.contains(FILE_VARIABLE));
    // And the example's list of variables says what they set.
    for line in text.lines().filter(|l| l.starts_with("#   RANAH_")) {
        let mut words = line.trim_start_matches('#').split_whitespace();
        let (var, key) = (words.next().unwrap(), words.next().unwrap());
        if var != FILE_VARIABLE {
            assert_eq!(
                key_of_variable(var).map(|k| k.path.as_str()),
                Some(key),
                "{line}"
            );
        }
    }
    // Every key appears uncommented in the example, so a renamed key fails here; but
    // database_url, left commented so that the database follows data_dir (the key tree's check
    // below still finds it).
    for key in [
        "data_dir",
        "zones_dir",
        "workflow",
        "listen",
        "tcp_idle_timeout_secs",
        "store_poll_secs",
        "ixfr_journal_depth",
        "notify_retries",
        "secondary_poll_secs",
        "udp_workers",
        "time_zone",
        "holidays",
        "reserved",
        "allow_private_addresses",
        "filter",
        "format",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(key)),
            "{key} missing from the example"
        );
    }
    // Every key of the key tree is shown in the example, commented out or not (a top-level key
    // left at its default is shown as `# key = …`).
    let shown = example_uncommented();
    for key in keys() {
        let name = key.path.rsplit('.').next().unwrap();
        assert!(
            shown.contains(&format!("\n{name} ="))
                || shown.contains(&format!("\n# {name} ="))
                || shown.contains(&format!("or {name} ="))
                || shown.contains(&format!("[{}]", key.path)),
            "{} missing from the example",
            key.path
        );
    }
    // Injecting a bogus key into every table is refused.
    let bogus = format!("bogus_key = 1\n{text}");
    assert!(ConfigLayer::from_toml(&bogus, &path).is_err());
    for table in ["[dns]\n", "[api]\n", "[log]\n", "[calendar]\n", "[names]\n"] {
        assert!(text.contains(table), "{table}");
        let bogus = text.replacen(table, &format!("{table}bogus_key = 1\n"), 1);
        let err = ConfigLayer::from_toml(&bogus, &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus_key"), "{table}: {err}");
    }
}

/// The variables that existed before the key tree, when they were listed by hand, with the key
/// each one set: a public contract.
const CONTRACT_VARIABLES: &[(&str, &str)] = &[
    ("RANAH_DATA_DIR", "data_dir"),
    ("RANAH_DATABASE_URL", "database_url"),
    ("RANAH_ZONES_DIR", "zones_dir"),
    ("RANAH_WORKFLOW", "workflow"),
    ("RANAH_DNS_LISTEN", "dns.listen"),
    (
        "RANAH_DNS_TCP_IDLE_TIMEOUT_SECS",
        "dns.tcp_idle_timeout_secs",
    ),
    ("RANAH_DNS_STORE_POLL_SECS", "dns.store_poll_secs"),
    ("RANAH_DNS_UDP_WORKERS", "dns.udp_workers"),
    ("RANAH_API_LISTEN", "api.listen"),
    ("RANAH_ACME_DIRECTORY", "acme.directory"),
    ("RANAH_ACME_CA_FILE", "acme.ca_file"),
    ("RANAH_ACME_EMAIL", "acme.email"),
    ("RANAH_LOG", "log.filter"),
    ("RANAH_LOG_FORMAT", "log.format"),
];

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml")
}

fn reference_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md")
}

/// The example with its commented-out tables (`# [smtp]` …) taken in: every key it shows.
fn example_uncommented() -> String {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let mut out = String::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.starts_with("# [") {
            in_block = true;
        } else if !line.starts_with('#') {
            in_block = false;
        }
        let line = match line.strip_prefix('#') {
            Some(rest) if in_block => rest.trim_start(),
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The value at a dotted path of a TOML tree.
fn lookup<'a>(tree: &'a toml::Value, path: &str) -> Option<&'a toml::Value> {
    path.split('.')
        .try_fold(tree, |value, name| value.get(name))
}

/// A value's text as a variable holds it.
fn as_variable(shape: &Shape, value: &toml::Value) -> String {
    match (shape, value) {
        (_, toml::Value::String(s)) => s.clone(),
        (Shape::List(item), toml::Value::Array(items)) if item.is_scalar() => {
            let texts: Vec<String> = items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect();
            if texts.iter().any(|t| t.contains(',')) {
                value.to_string()
            } else {
                texts.join(",")
            }
        }
        (_, value) => value.to_string(),
    }
}

#[test]
fn the_key_tree_has_every_section_and_one_variable_per_key() {
    let paths: Vec<&str> = keys().iter().map(|k| k.path.as_str()).collect();
    for path in [
        "data_dir",
        "database_url",
        "zones_dir",
        "workflow",
        "dns.listen",
        "dns.secondary_poll_secs",
        "api.listen",
        "log.filter",
        "log.format",
        "calendar.hours",
        "names.reserved",
        "smtp.password_env",
        "audit.signing_key",
        "webhook.retry_max_secs",
        "letter.signatory_id",
        "tsig_keys",
        "secondaries",
        "acme.check_interval_secs",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    let variables: std::collections::BTreeSet<&str> =
        keys().iter().map(|k| k.variable.as_str()).collect();
    assert_eq!(variables.len(), keys().len(), "two keys share a variable");
    assert!(!variables.contains(FILE_VARIABLE));
    assert!(
        !variables.contains("RANAH_LOG_FILTER"),
        "log.filter is RANAH_LOG"
    );
    let shape = |path: &str| key(path).unwrap().shape.clone();
    assert_eq!(shape("dns.udp_workers"), Shape::Integer);
    assert_eq!(shape("names.allow_private_addresses"), Shape::Boolean);
    assert_eq!(shape("database_url"), Shape::Secret);
    assert_eq!(shape("log.format"), Shape::Choice(&["text", "json"]));
    assert_eq!(shape("dns.listen"), Shape::List(Box::new(Shape::String)));
    assert!(matches!(shape("calendar.hours"), Shape::Map(_)));
    assert!(matches!(shape("tsig_keys"), Shape::List(t) if matches!(*t, Shape::Table(_))));
    assert!(shape("tsig_keys").holds_secret());
}

#[test]
fn the_reference_lists_every_key_and_variable() {
    const BEGIN: &str = "<!-- keys: generated by `cargo test --lib config`; do not edit -->\n";
    const END: &str = "<!-- keys: end -->";
    let path = reference_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = text
        .split_once(BEGIN)
        .expect("the reference's start marker");
    let (table, tail) = rest.split_once(END).expect("the reference's end marker");
    let expected = reference_table();
    if table != expected {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, format!("{head}{BEGIN}{expected}{END}{tail}")).unwrap();
        } else {
            panic!(
                "docs/configuration.md is out of date with the key tree; rerun with \
                 UPDATE_DOCS=1 to rewrite its table:\n{expected}"
            );
        }
    }
    for key in keys() {
        assert!(expected.contains(&format!("| `{}` | `{}` |", key.path, key.variable)));
    }
}

#[test]
fn an_unknown_key_in_any_section_is_named() {
    let path = example_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut sections: Vec<String> = keys()
        .iter()
        .filter_map(|k| k.path.rsplit_once('.').map(|(s, _)| s.to_owned()))
        .collect();
    sections.dedup();
    assert!(sections.len() >= 10, "{sections:?}");
    let mut cases = vec![format!("bogus_key = 1\n{text}")];
    for section in &sections {
        let header = format!("\n[{section}]\n");
        cases.push(if text.contains(&header) {
            text.replacen(&header, &format!("{header}bogus_key = 1\n"), 1)
        } else {
            format!("{text}\n[{section}]\nbogus_key = 1\n")
        });
    }
    for array in keys()
        .iter()
        .filter(|k| matches!(&k.shape, Shape::List(t) if matches!(**t, Shape::Table(_))))
    {
        cases.push(format!("{text}\n[[{}]]\nbogus_key = 1\n", array.path));
    }
    for case in &cases {
        let err = ConfigLayer::from_toml(case, &path).unwrap_err().to_string();
        assert!(err.contains("unknown field `bogus_key`"), "{err}");
        assert!(err.contains("ranah.example.toml"), "{err}");
    }
    // In a variable's name, an unknown key is an unknown variable, reported as such.
    let bogus: Vec<(String, String)> = sections
        .iter()
        .map(|s| {
            (
                format!("RANAH_{}_BOGUS_KEY", s.to_ascii_uppercase()),
                "1".to_owned(),
            )
        })
        .collect();
    let (_, unknown) = ConfigLayer::from_env(bogus.clone()).unwrap();
    assert_eq!(
        unknown,
        bogus.into_iter().map(|(name, _)| name).collect::<Vec<_>>()
    );
}

#[test]
fn every_key_can_be_set_by_its_variable() {
    // A value for every key: the example's, else the default, else one of its shape.
    let example: toml::Value = toml::from_str(&example_uncommented()).unwrap();
    let defaults = toml::Value::try_from(Settings::default()).unwrap();
    for key in keys() {
        let value = lookup(&example, &key.path)
            .or_else(|| lookup(&defaults, &key.path))
            .cloned()
            .unwrap_or_else(|| match &key.shape {
                Shape::Integer => toml::Value::Integer(7),
                Shape::Boolean => toml::Value::Boolean(true),
                Shape::String | Shape::Secret => toml::Value::String(format!("{} value", key.path)),
                other => panic!("no sample value for {} ({other})", key.path),
            });
        let text = as_variable(&key.shape, &value);
        let (from_var, unknown) =
            ConfigLayer::from_env(env(&[(key.variable.as_str(), text.as_str())]))
                .unwrap_or_else(|e| panic!("{} = {text}: {e}", key.variable));
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(
            from_var.entries.get(&key.path).map(|e| &e.origin),
            Some(&layer::Origin::Variable(key.variable.clone())),
            "{}",
            key.variable
        );
        // The same as writing the key in the file.
        let mut tree = toml::Table::new();
        let (sections, name) = key
            .path
            .rsplit_once('.')
            .map_or(("", key.path.as_str()), |(s, n)| (s, n));
        let mut table = &mut tree;
        for section in sections.split('.').filter(|s| !s.is_empty()) {
            table = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .unwrap();
        }
        table.insert(name.to_owned(), value.clone());
        let file =
            ConfigLayer::from_toml(&toml::to_string(&tree).unwrap(), Path::new("f.toml")).unwrap();
        assert_eq!(
            from_var.settings().unwrap(),
            file.settings().unwrap(),
            "{} = {text}",
            key.variable
        );
    }
}

#[test]
fn the_defaults_round_trip() {
    let defaults = Settings::default();
    // The structs' defaults are serde's defaults: an empty file is the defaults.
    assert_eq!(ConfigLayer::default().settings().unwrap(), defaults);
    let written = toml::to_string(&defaults).unwrap();
    let read = ConfigLayer::from_toml(&written, Path::new("defaults.toml")).unwrap();
    assert_eq!(read.settings().unwrap(), defaults);
    // What check-config prints for the defaults reads back as the same configuration (but
    // for the database URL, which it redacts).
    let shown = ConfigLayer::default().resolve().unwrap().to_toml();
    let without_url: String = shown
        .lines()
        .filter(|l| !l.starts_with("database_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    let again = ConfigLayer::from_toml(&without_url, Path::new("shown.toml"))
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(again.to_toml(), shown);
}

#[test]
fn variables_take_lists_tables_and_arrays_of_tables() {
    let (layer, unknown) = ConfigLayer::from_env(env(&[
        ("RANAH_DNS_LISTEN", "[::1]:53"),
        ("RANAH_API_LISTEN", "[::1]:8080"),
        ("RANAH_LETTER_LETTERHEAD", r#"["PEMERINTAH", "Jl. Kantor 1, Tarakan"]"#),
        ("RANAH_CALENDAR_HOURS", r#"{ mon = "07:30-15:30" }"#),
        ("RANAH_NAMES_ALLOW_PRIVATE_ADDRESSES", "true"),
        ("RANAH_TSIG_KEYS", r#"[{ name = "xfr", secret_env = "XFR" }]"#),
        (
            "RANAH_SECONDARIES",
            r#"[{ zone = "example.go.id", notify = "127.0.0.1:5301", allow_transfer = ["127.0.0.1"], tsig_key = "xfr" }]"#,
        ),
    ]))
    .unwrap();
    assert!(unknown.is_empty());
    assert_eq!(layer.secret_variables(), vec!["XFR".to_string()]);
    let settings = layer.settings().unwrap();
    assert_eq!(settings.dns.listen, vec!["[::1]:53".parse().unwrap()]);
    assert_eq!(settings.letter.letterhead[1], "Jl. Kantor 1, Tarakan");
    assert_eq!(settings.calendar.hours.len(), 1);
    assert!(settings.names.allow_private_addresses);
    let (keys, secondaries) = resolve_transfers(&settings.tsig_keys, &settings.secondaries, |_| {
        Some("c2VjcmV0".into())
    })
    .unwrap();
    assert_eq!(
        (keys.len(), secondaries[0].zone.as_str()),
        (1, "example.go.id.")
    );
    // A table from a later layer replaces the earlier one whole: Monday only, not the file's
    // week plus Monday.
    let file = ConfigLayer::from_toml(
        "[calendar.hours]\ntue = \"08:00-16:00\"\n",
        Path::new("f.toml"),
    )
    .unwrap();
    let merged = file.merge(layer).settings().unwrap();
    assert_eq!(merged.calendar.hours.keys().collect::<Vec<_>>(), ["mon"]);
}

#[test]
fn bad_variables_are_named_and_secrets_not_shown() {
    for (var, value, says) in [
        ("RANAH_DNS_UDP_WORKERS", "many", "not a whole number"),
        (
            "RANAH_NAMES_ALLOW_PRIVATE_ADDRESSES",
            "yes",
            "`true` or `false`",
        ),
        ("RANAH_API_LISTEN", "localhost", "api.listen"),
        ("RANAH_CALENDAR_HOLIDAYS", "25-12-2026", "calendar.holidays"),
        ("RANAH_CALENDAR_HOURS", "mon=08:00-16:00", "TOML"),
        ("RANAH_SMTP_TLS", "ssl", "unknown variant `ssl`"),
        ("RANAH_SECONDARIES", "[{ zone = 1 }]", "secondaries"),
    ] {
        let err = ConfigLayer::from_env(env(&[(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(var) && err.contains(says), "{var}: {err}");
    }
    let err = ConfigLayer::from_env(env(&[("RANAH_TSIG_KEYS", "[{ secret = \"s3cret\"")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("RANAH_TSIG_KEYS") && !err.contains("s3cret"),
        "{err}"
    );
    let err = ConfigLayer::from_env(env(&[("RANAH_TSIG_KEYS", "[{ secret = \"s3cret\" }]")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing field `name`") && !err.contains("s3cret"),
        "{err}"
    );
    // A value that fails validation names its variable as well as its key.
    let (layer, _) = ConfigLayer::from_env(env(&[("RANAH_DNS_STORE_POLL_SECS", "0")])).unwrap();
    let err = layer.resolve().unwrap_err().to_string();
    assert!(
        err.contains("dns.store_poll_secs") && err.contains("RANAH_DNS_STORE_POLL_SECS"),
        "{err}"
    );
    // A layer's Debug output shows where values came from, never the values.
    let (layer, _) =
        ConfigLayer::from_env(env(&[("RANAH_DATABASE_URL", "sqlite:///s3cret.db")])).unwrap();
    let shown = format!("{layer:?}");
    assert!(
        shown.contains("RANAH_DATABASE_URL") && !shown.contains("s3cret"),
        "{shown}"
    );
}

#[test]
fn variables_named_by_env_keys_hold_secrets_only() {
    // `password_env` names a variable that the rule would also read as `smtp.password`: it is
    // the password's source, and neither sets the key nor is unknown.
    let file = ConfigLayer::from_toml(
        "[smtp]\nhost = \"mail\"\npassword_env = \"RANAH_SMTP_PASSWORD\"\n",
        Path::new("f.toml"),
    )
    .unwrap();
    let (vars, unknown) = ConfigLayer::from_env(env(&[
        ("RANAH_SMTP_PASSWORD", "rahasia"),
        ("RANAH_WEBHOOK_KEY", "x"),
    ]))
    .unwrap();
    let layer = file.merge(vars);
    let secrets = layer.secret_variables();
    assert_eq!(secrets, vec!["RANAH_SMTP_PASSWORD".to_string()]);
    assert_eq!(unknown, vec!["RANAH_WEBHOOK_KEY".to_string()]);
    let settings = layer.settings().unwrap();
    assert_eq!(settings.smtp.password, None);
    let smtp = resolve_smtp(&settings.smtp, |name| {
        (name == "RANAH_SMTP_PASSWORD").then(|| "rahasia".into())
    })
    .unwrap()
    .unwrap();
    assert_eq!(smtp.password.unwrap().expose(), "rahasia");
    // A secret and its `_env` are one setting: a later layer's password replaces the file's
    // `password_env` (and the other way round), instead of clashing with it.
    let file = ConfigLayer::from_toml(
        "[smtp]\nhost = \"mail\"\npassword_env = \"MAIL_PW\"\n",
        Path::new("f.toml"),
    )
    .unwrap();
    let (vars, _) = ConfigLayer::from_env(env(&[("RANAH_SMTP_PASSWORD", "rahasia")])).unwrap();
    let settings = file.merge(vars).settings().unwrap();
    assert_eq!(settings.smtp.password_env, None);
    assert_eq!(settings.smtp.password.unwrap().expose(), "rahasia");
    let (vars, _) = ConfigLayer::from_env(env(&[("RANAH_SMTP_PASSWORD_ENV", "MAIL_PW")])).unwrap();
    let file = ConfigLayer::from_toml("[smtp]\npassword = \"x\"\n", Path::new("f.toml")).unwrap();
    let settings = file.merge(vars).settings().unwrap();
    assert_eq!(
        (
            settings.smtp.password,
            settings.smtp.password_env.as_deref()
        ),
        (None, Some("MAIL_PW"))
    );
}

#[test]
fn every_flag_sets_its_key() {
    use clap::Parser as _;
    let cli = crate::cli::Cli::parse_from([
        "ranah",
        "--data-dir",
        "/d",
        "--database-url",
        "sqlite:///d/x.db",
        "--zones-dir",
        "/z",
        "--dns-listen",
        "127.0.0.1:1",
        "--dns-listen",
        "[::1]:1",
        "--api-listen",
        "127.0.0.1:2",
        "--log",
        "debug",
        "--log-format",
        "json",
        "check-config",
    ]);
    let c = cli.global.layer().resolve().unwrap();
    assert_eq!(
        (c.data_dir, c.zones_dir),
        (PathBuf::from("/d"), PathBuf::from("/z"))
    );
    assert_eq!(c.database_url.expose(), "sqlite:///d/x.db");
    assert_eq!(c.dns.listen.len(), 2);
    assert_eq!(c.api.listen, "127.0.0.1:2".parse().unwrap());
    assert_eq!(
        (c.log.filter.as_str(), c.log.format),
        ("debug", LogFormat::Json)
    );
    // No flags: no keys.
    let cli = crate::cli::Cli::parse_from(["ranah", "check-config"]);
    assert!(cli.global.layer().entries.is_empty());
    // A bad flag value is named.
    let cli = crate::cli::Cli::parse_from(["ranah", "--log", "ranah=[", "check-config"]);
    let err = cli.global.layer().resolve().unwrap_err().to_string();
    assert!(err.contains("log.filter") && err.contains("--log"), "{err}");
}
