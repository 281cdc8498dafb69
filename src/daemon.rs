//! `ranah serve`: open the store, import new zone files, load the zones, start DNS and the API,
//! keep the served zones in step with the store, and shut down cleanly on SIGTERM or SIGINT.
//!
//! [`start`] wires everything and returns a [`Running`] daemon with the addresses it bound
//! (port 0 lets the kernel choose, as the tests do) and a shutdown; [`run`] is `start`, then
//! wait for a signal, then shut down.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::dns::{self, Zones};
use crate::publish::Publisher;
use crate::publish::import;
use crate::service::requests::Requests;
use crate::service::subdomains::Subdomains;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::zone::ZoneDiff;

/// Descriptors kept for everything but connections (the store, files, outgoing sockets) when
/// the connection limits are checked against the limit of open files.
const OPEN_FILES_RESERVE: usize = 128;

/// How often the zones that changed are kept as snapshots (see `publish::snapshot`).
const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(300);

/// Run the daemon until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Taken before anything starts: a SIGTERM or SIGHUP that arrives once the daemon answers
    // (a test's or a service manager's, right after readiness) must find its handler, never
    // the default action, which ends the process.
    let signals = Signals::take()?;
    let running = start(config).await?;
    tracing::info!("ranah is ready");
    signals.shutdown().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// A running daemon.
pub struct Running {
    /// The DNS addresses served (UDP and TCP on each).
    pub dns: Vec<std::net::SocketAddr>,
    /// The HTTP API's address (HTTPS with `[api.tls]`).
    pub api: std::net::SocketAddr,
    /// The plain HTTP address that redirects to HTTPS (`api.tls.redirect_listen`).
    pub api_redirect: Option<std::net::SocketAddr>,
    /// The address serving `/metrics` alone (`metrics.listen`).
    pub metrics_listen: Option<std::net::SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    health: Arc<crate::service::health::Health>,
    dns_server: dns::listen::DnsServer,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    http: tokio::task::JoinHandle<()>,
    store: Store,
    publisher: Arc<Publisher>,
    lock: crate::service::backup::DataDirLock,
    expiry: Arc<crate::service::expiry::Expiry>,
    confirmations: Arc<crate::service::confirmation::Confirmations>,
    complaints: Arc<crate::service::complaints::Complaints>,
}

impl Running {
    /// The change entry point (for benchmarks and tests that run the daemon in process).
    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// The ends of names' terms (for tests that move the clock on).
    pub fn expiry(&self) -> &Arc<crate::service::expiry::Expiry> {
        &self.expiry
    }

    /// The yearly confirmation (for tests that move the clock on).
    pub fn confirmations(&self) -> &Arc<crate::service::confirmation::Confirmations> {
        &self.confirmations
    }

    /// Complaints (for tests that move the clock on).
    pub fn complaints(&self) -> &Arc<crate::service::complaints::Complaints> {
        &self.complaints
    }

    /// Stop DNS, the API and every background task, waiting for each, and close the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        self.health.dns_listening.store(false, Ordering::Release);
        self.dns_server.shutdown().await;
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.http.await {
            tracing::warn!(error = %e, "HTTP server task failed");
        }
        // Nothing changes the zones any more: keep them as they are for the next start.
        if let Err(error) = self.publisher.snapshot_zones(chrono::Utc::now()).await {
            tracing::warn!(%error, "cannot keep the zones' snapshots");
        }
        self.store.close().await;
        drop(self.lock);
    }
}

/// Store a zone read from its file at start, logging the outcome; its `_audit` anchor when
/// stored.
async fn store_imported(store: &Store, zone: &import::NewZone) -> Option<ZoneDiff> {
    let started = std::time::Instant::now();
    let system = crate::domain::audit::Attribution::system();
    match import::store_new_zone(store, zone, &system, chrono::Utc::now()).await {
        Ok(anchor) => {
            tracing::info!(
                zone = %zone.content.origin, records = zone.content.records.len() + 1,
                serial = zone.content.soa_data().map(|s| s.serial).unwrap_or(0),
                file = %zone.source.file, elapsed_ms = started.elapsed().as_millis() as u64,
                "zone imported"
            );
            Some(anchor)
        }
        Err(error) => {
            tracing::error!(zone = %zone.content.origin, file = %zone.source.file, %error, "zone not imported");
            None
        }
    }
}

/// Start the daemon: store, zones, DNS, the API and the background tasks.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let workflow = config.load_workflow()?;
    tracing::info!(workflow = %workflow.name, steps = workflow.steps.len(), "workflow loaded");
    // Checked before anything starts: a step the workflow lacks is a configuration error.
    let request_step = workflow
        .entry_step(config.cloudflare_api.request_step.as_deref())
        .map_err(|e| crate::config::ConfigError::Invalid {
            key: "cloudflare_api.request_step".into(),
            message: e.to_string(),
        })?;
    // Held while the daemon runs: `ranah restore` refuses to replace the store under it.
    let lock = crate::service::backup::DataDirLock::shared(&config.data_dir)?;
    let store = crate::service::backup::open_store(&config, chrono::Utc::now())
        .await
        .context("opening the store")?;
    // Zone files not in the store yet. A zone to be signed is stored now and signed with the
    // others; one that is not is answered from its file as soon as DNS listens, and stored
    // right after (the slow part of a large first import), before the API opens.
    let (answer_first, to_sign): (Vec<_>, Vec<_>) =
        import::read_zones_dir(&store, &config.zones_dir)
            .await
            .into_iter()
            .partition(|z| !config.dnssec.policy_for(&z.content.origin).enabled);
    for zone in to_sign {
        store_imported(&store, &zone).await;
    }

    let metrics = Arc::new(crate::telemetry::metrics::Metrics::new());
    let zones = Arc::new(Zones::with_budget(
        crate::dns::cache::CacheBudget::new(config.dns.answer_cache_bytes).counting(
            metrics.dns_answer_cache_hits.clone(),
            metrics.dns_answer_cache_misses.clone(),
        ),
    ));
    let publisher = Arc::new(Publisher::new(store.clone(), zones.clone()));
    let loaded = publisher
        .sync_from_store(chrono::Utc::now())
        .await
        .context("loading zones from the store")?;
    tracing::info!(zones = loaded.len(), "zones loaded");
    if zones.is_empty() && answer_first.is_empty() {
        tracing::warn!(
            dir = %config.zones_dir.display(),
            "no zones to serve: put master files in the zones directory or run `ranah zone import`"
        );
    }
    for zone in &answer_first {
        publisher.serve_unstored(&zone.content);
    }
    // Every zone signed as its policy says before DNS answers anything.
    let dnssec = Arc::new(crate::service::dnssec::DnssecService::new(
        store.clone(),
        publisher.clone(),
        config.dnssec.clone(),
        crate::service::dnssec::key_cipher(&config, store.is_shared())
            .context("the DNSSEC key-encryption key")?,
    ));
    // On a shared store the instance that leads makes the keys and signs. One that can take
    // the lead now (the first up, or the only one) does, and signs before DNS answers, as on
    // SQLite; the election goes on from that lock.
    let boot_lead = if store.is_shared() {
        store.try_lead().await.unwrap_or_else(|error| {
            tracing::debug!(%error, "cannot try for the leader's lock at start");
            None
        })
    } else {
        None
    };
    if store.is_shared() && boot_lead.is_none() {
        // Another instance leads: this one signs its own changes with the keys as stored
        // and leaves the rest to the leader, until it leads (its maintenance then looks
        // after every zone at once).
        publisher.set_leading(false);
        dnssec
            .follow_all()
            .await
            .context("reading the zones' DNSSEC keys")?;
    } else {
        dnssec
            .start(chrono::Utc::now())
            .await
            .context("signing the zones")?;
    }

    metrics
        .log
        .set_interval(Duration::from_secs(config.log.repeat_interval_secs));
    // Every connection is a descriptor: raise the soft limit to the hard one and check that
    // the connection limits fit, with room for the store, the UDP sockets and files.
    let udp_sockets = config.dns.udp_workers * config.dns.listen.len();
    // The redirect and metrics listeners each take the API's limits too.
    let http_listeners = 1
        + usize::from(config.api.tls.redirect_listen.is_some())
        + usize::from(config.metrics.listen.is_some());
    crate::net::raise_open_files_limit(
        (config.dns.tcp_max_connections + config.api.max_connections * http_listeners) as u64,
        (OPEN_FILES_RESERVE + udp_sockets) as u64,
    );
    let (policy, secondary_list) = crate::dns::secondaries::from_config(
        &config.tsig_keys,
        &config.secondaries,
        config.dns.ixfr_journal_depth,
    )?;
    let secondaries = crate::dns::secondaries::Secondaries::new(
        zones.clone(),
        store.clone(),
        metrics.clone(),
        secondary_list,
        config.dns.notify_retries,
        Duration::from_secs(config.dns.secondary_poll_secs),
    )
    .await
    .context("loading the state of the secondaries")?;
    let handler = dns::handler::Handler::with_transfers(
        zones.clone(),
        Arc::new(dns::handler::Transfers {
            policy,
            store: Some(store.clone()),
            observer: Some(secondaries.observer()),
        }),
    );
    let handler = match dynamic_updates(&config, &store, &publisher, &metrics) {
        Some(updates) => handler.with_updates(updates),
        None => handler,
    };
    let handler = if config.dns.rrl.enabled {
        let rrl = &config.dns.rrl;
        let limiter = dns::rrl::Limiter::new(rrl, &config.secondaries, Some(&metrics));
        tracing::info!(
            rate = rrl.rate,
            slip = rrl.slip,
            ipv4_prefix = rrl.ipv4_prefix,
            ipv6_prefix = rrl.ipv6_prefix,
            exempt = limiter.exempt_count(),
            buckets = limiter.table_len(),
            "response rate limiting on for DNS over UDP"
        );
        handler.with_rrl(Arc::new(limiter))
    } else {
        tracing::info!("response rate limiting off");
        handler
    };
    let dns_server = dns::listen::start(handler, &config.dns, metrics.clone()).await?;
    if !answer_first.is_empty() {
        tracing::info!(
            zones = answer_first.len(),
            "DNS answers the new zones from their files; storing them before the API opens"
        );
    }
    for zone in answer_first {
        let anchor = store_imported(&store, &zone).await;
        publisher
            .stored(&zone.content.origin, anchor.as_ref())
            .await;
    }
    // Loading, signing and storing are done (DNS answers meanwhile): what they freed goes
    // back to the system, and the zones as served now are kept for a quick restart.
    crate::telemetry::memory::release_free_pages();
    if let Err(error) = publisher.snapshot_zones(chrono::Utc::now()).await {
        tracing::warn!(%error, "cannot keep the zones' snapshots");
    }

    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|e| {
            let reason = crate::net::bind_failure(config.api.listen, &e);
            anyhow::anyhow!("cannot listen for HTTP on {}: {reason}", config.api.listen)
        })?;
    let api_addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let calendar = Arc::new(config.calendar.clone());
    let certificates = match &config.acme {
        Some(acme) => {
            tracing::info!(directory = %acme.directory, "certificates through ACME on");
            Some(Arc::new(crate::acme::Certificates::new(
                store.clone(),
                publisher.clone(),
                acme.clone(),
                metrics.clone(),
                crate::acme::Delivery {
                    email: config.smtp.is_some(),
                    webhook: config.webhook.as_ref().map(|w| w.url.clone()),
                },
            )?))
        }
        None => {
            tracing::info!("no [acme] directory configured: no certificates are issued");
            None
        }
    };
    // The office's signer of the documents ranah makes, read once (docs/documents.md).
    let document_signer = pdf_signer(&config.signing)?;
    // The templates of the documents the workflow's steps make, each of them there.
    let templates =
        crate::outbox::document::Templates::load(config.letter.documents_dir.as_deref())
            .map_err(|e| anyhow::anyhow!("[letter] documents_dir: {e}"))?;
    for step in &workflow.steps {
        if let Some(name) = step.makes() {
            let template = templates
                .get(name)
                .map_err(|e| anyhow::anyhow!("workflow step `{}`: {e}", step.id))?;
            // A signature of a step the workflow does not have would never be given.
            if let Some(missing) = template
                .signing_steps()
                .find(|s| workflow.step(s).is_none())
            {
                anyhow::bail!(
                    "workflow step `{}` makes `{name}`, whose signature names step `{missing}`,                      which the workflow `{}` does not have",
                    step.id,
                    workflow.name
                );
            }
        }
    }
    let mut requests = Requests::new(
        store.clone(),
        crate::store::Files::of(&store, &config.data_dir),
        publisher.clone(),
        Arc::new(workflow),
        calendar.clone(),
        config.policy.clone(),
    )
    .with_notifications(config.smtp.is_some())
    .with_webhook(config.webhook.as_ref().map(|w| w.url.clone()))
    .with_letters(config.letter.clone())
    .with_signer(document_signer.clone())
    .with_templates(Arc::new(templates))
    .with_attachment_limit(config.attachments.max_per_request);
    if let Some(c) = &certificates {
        requests = requests.with_certificates(c.waker());
    }
    let requests = Arc::new(requests);
    let open = requests
        .refresh_due_times()
        .await
        .context("computing the due times of the open requests")?;
    tracing::info!(
        requests = open,
        "due times of the requests in review computed"
    );
    let courier = crate::outbox::Courier {
        mailer: config
            .smtp
            .as_ref()
            .map(|smtp| {
                crate::outbox::Mailer::new(smtp, crate::store::Files::of(&store, &config.data_dir))
            })
            .transpose()?,
        webhook: config
            .webhook
            .as_ref()
            .map(crate::outbox::Webhook::new)
            .transpose()?,
    };
    if let Some(smtp) = &config.smtp {
        tracing::info!(host = %smtp.host, port = smtp.port, "email notifications on");
    } else {
        tracing::info!("no [smtp] server configured: no email notifications are queued");
    }
    // The background jobs run on the instance that leads (the only one, on SQLite).
    let (role, election) = crate::cluster::leader::elect(
        store.clone(),
        metrics.clone(),
        boot_lead,
        shutdown_rx.clone(),
    );
    let leader_job = |job: &'static str, start: JobStart| {
        tokio::spawn(crate::cluster::leader::while_leading(
            role.clone(),
            shutdown_rx.clone(),
            job,
            start,
        ))
    };
    let courier = Arc::new(courier);
    let (courier_store, courier_metrics) = (store.clone(), metrics.clone());
    let courier_task = leader_job(
        "outbox",
        Box::new(move |stop| {
            Box::pin(
                courier
                    .clone()
                    .run(courier_store.clone(), courier_metrics.clone(), stop),
            )
        }),
    );
    // Requests left returned too long are withdrawn; checked every quarter hour.
    let sweeper_requests = requests.clone();
    let sweeper = leader_job(
        "sweeper",
        Box::new(move |stop| {
            let requests = sweeper_requests.clone();
            Box::pin(every(Duration::from_secs(15 * 60), true, stop, move || {
                let requests = requests.clone();
                async move {
                    match requests.withdraw_stale_returns(chrono::Utc::now()).await {
                        Ok(ids) if !ids.is_empty() => {
                            tracing::info!(requests = ?ids, "withdrew requests left returned too long")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot withdraw stale returned requests")
                        }
                    }
                }
            }))
        }),
    );
    let subdomains = Arc::new(Subdomains::new(store.clone(), publisher.clone()));
    // Names given for a time: notices, suspension at the end, removal after the grace period.
    let expiry = Arc::new(
        crate::service::expiry::Expiry::new(
            store.clone(),
            publisher.clone(),
            subdomains.clone(),
            config.calendar.time_zone(),
            config.expiry.grace_days,
        )
        .with_notifications(config.smtp.is_some()),
    );
    // The yearly confirmation of each name: reminders, marks, suspensions.
    let confirmations = Arc::new(
        crate::service::confirmation::Confirmations::new(
            store.clone(),
            publisher.clone(),
            subdomains.clone(),
            config.confirmation.clone(),
            config.calendar.time_zone(),
        )
        .with_notifications(config.smtp.is_some()),
    );
    let confirmation_task = config.confirmation.enabled.then(|| {
        let every_secs = Duration::from_secs(config.confirmation.every_secs);
        let job = confirmations.clone();
        leader_job(
            "confirmation",
            Box::new(move |stop| {
                let job = job.clone();
                Box::pin(every(every_secs, true, stop, move || {
                    let job = job.clone();
                    async move {
                        match job.tick(chrono::Utc::now()).await {
                            Ok(p) if p != Default::default() => tracing::info!(
                                tracked = p.tracked,
                                reminders = p.reminders,
                                marked = p.marked,
                                suspended = p.suspended,
                                "yearly confirmation"
                            ),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "cannot carry out the yearly confirmation"),
                        }
                    }
                }))
            }),
        )
    });
    // Complaints, and the marks of those past their due time.
    let complaints = Arc::new(
        crate::service::complaints::Complaints::new(
            store.clone(),
            calendar.clone(),
            config.complaints.clone(),
        )?
        .with_notifications(config.smtp.is_some()),
    );
    let complaints_task = {
        let every_secs = Duration::from_secs(config.complaints.every_secs);
        let job = complaints.clone();
        leader_job(
            "complaints",
            Box::new(move |stop| {
                let job = job.clone();
                Box::pin(every(every_secs, true, stop, move || {
                    let job = job.clone();
                    async move {
                        if let Err(e) = job.tick(chrono::Utc::now()).await {
                            tracing::warn!(error = %e, "cannot mark the complaints past their due time");
                        }
                    }
                }))
            }),
        )
    };
    let expiry_every = Duration::from_secs(config.expiry.every_secs);
    let expiry_job = expiry.clone();
    let expiry_task = leader_job(
        "expiry",
        Box::new(move |stop| {
            let expiry = expiry_job.clone();
            Box::pin(every(expiry_every, true, stop, move || {
                let expiry = expiry.clone();
                async move {
                    match expiry.tick(chrono::Utc::now()).await {
                        Ok(p) if p != Default::default() => tracing::info!(
                            notices = p.notices,
                            suspended = p.suspended,
                            removed = p.removed,
                            "names at the end of their term"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot carry out the ends of terms"),
                    }
                }
            }))
        }),
    );
    let signer = match &config.audit_signing_key {
        Some(key) => Some(Arc::new(crate::audit::checkpoint::Signer::from_base64(
            key.expose(),
        )?)),
        None => None,
    };
    let workflow = requests.workflow_arc();
    let signin = Arc::new(crate::service::signin::SignIn::new(
        store.clone(),
        calendar.clone(),
        workflow.clone(),
        config.console.clone(),
        config.console.origin(api_addr, config.api.tls.enabled()),
    )?);
    match signin.origin() {
        Some(origin) => tracing::info!(url = %origin.url, "serving the console"),
        None => tracing::warn!(
            "the console is served over plain HTTP beyond this machine, so nobody may sign in: \
             set console.public_url to its https:// address (TLS at ranah or at a proxy)"
        ),
    }
    let health = Arc::new(crate::service::health::Health::new(
        store.clone(),
        publisher.clone(),
        requests.clone(),
        secondaries.clone(),
        metrics.clone(),
    ));
    health.zones_loaded.store(true, Ordering::Release);
    health.dns_listening.store(true, Ordering::Release);
    let certificate_service = Arc::new(crate::service::certificates::Certificates::new(
        store.clone(),
        publisher.clone(),
        certificates.clone(),
    ));
    // Ranges for a zone ranah does not serve would hold nothing back: a typo, told now.
    for set in &config.policy.address_ranges {
        let served = hickory_proto::rr::Name::from_ascii(format!("{}.", set.zone))
            .ok()
            .and_then(|n| {
                publisher
                    .zones()
                    .get(&hickory_proto::rr::LowerName::new(&n))
            })
            .is_some();
        if !served {
            return Err(crate::config::ConfigError::Invalid {
                key: "names.address_ranges".into(),
                message: format!("ranah serves no zone {}", set.zone),
            }
            .into());
        }
    }
    let oversight = Arc::new(
        crate::service::oversight::Oversight::new(
            store.clone(),
            publisher.clone(),
            config.checker.clone(),
            config.policy.clone(),
        )?
        .with_notifications(config.smtp.is_some())
        .with_metrics(metrics.clone()),
    );
    // Runs over every name, spread over the day, on the instance that leads.
    let oversight_task = config.checker.enabled.then(|| {
        let oversight = oversight.clone();
        leader_job(
            "oversight",
            Box::new(move |stop| Box::pin(oversight.clone().schedule(stop))),
        )
    });
    let tls = api_tls(&config, &certificate_service, &metrics).await?;
    let acceptor = tls.as_ref().map(|t| t.acceptor()).transpose()?;
    tracing::info!(addr = %api_addr, https = tls.is_some(), "serving the HTTP API");
    let state = AppState {
        people: Arc::new(crate::service::people::People::new(
            store.clone(),
            calendar.clone(),
        )),
        subdomains,
        zones: Arc::new(
            crate::service::zones::Zones::new(store.clone(), publisher.clone())
                .with_documents(
                    config.letter.letterhead.clone(),
                    config.calendar.time_zone(),
                )
                .with_signer(document_signer.clone()),
        ),
        certificates: certificate_service.clone(),
        audit: Arc::new(crate::service::audit::Audit::new(store.clone())),
        reports: Arc::new(crate::service::reports::Reports::new(
            store.clone(),
            workflow,
            calendar.clone(),
            signer.clone(),
        )),
        health: health.clone(),
        signin,
        cloudflare: Arc::new(
            cloudflare_api(&config, &store, &publisher, &requests, request_step).await?,
        ),
        requests,
        oversight,
        expiry: expiry.clone(),
        confirmations: confirmations.clone(),
        complaints: complaints.clone(),
    };
    let app = api::router(state.clone(), &config.metrics);
    let app = api::edge::with_cors(app, &config.api.cors_allowed_origins);
    let certificate_waker = certificates.as_ref().map(|c| c.waker());
    let certificates_task = certificates.map(|c| {
        leader_job(
            "certificates",
            Box::new(move |stop| Box::pin(c.clone().run(stop))),
        )
    });
    let signer_task = signer.map(|s| {
        let (store, calendar) = (store.clone(), Arc::new(config.calendar.clone()));
        leader_job(
            "audit checkpoints",
            Box::new(move |stop| Box::pin(s.clone().run(store.clone(), calendar.clone(), stop))),
        )
    });
    let secondaries_task = leader_job(
        "secondaries",
        Box::new(move |stop| Box::pin(secondaries.clone().run(stop))),
    );
    let http = tokio::spawn(api::serve::serve(
        listener,
        acceptor,
        app,
        config.api.clone(),
        metrics.clone(),
        shutdown_rx.clone(),
    ));
    let mut side_tasks = Vec::new();
    let mut bind_side = async |addr: std::net::SocketAddr, what: &str, router: axum::Router| {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for {what} on {addr}"))?;
        let bound = listener.local_addr()?;
        tracing::info!(addr = %bound, "serving {what}");
        side_tasks.push(tokio::spawn(api::serve::serve(
            listener,
            None,
            router,
            config.api.clone(),
            metrics.clone(),
            shutdown_rx.clone(),
        )));
        anyhow::Ok(bound)
    };
    let api_redirect = match config.api.tls.redirect_listen {
        Some(addr) => Some(
            bind_side(
                addr,
                "plain HTTP redirects to HTTPS",
                api::serve::redirect_to_https(config.api.tls.acme_name.clone(), api_addr.port()),
            )
            .await?,
        ),
        None => None,
    };
    let metrics_listen = match config.metrics.listen {
        Some(addr) => Some(
            bind_side(
                addr,
                "/metrics",
                api::metrics_router(state.clone(), &config.metrics),
            )
            .await?,
        ),
        None => None,
    };
    if config.metrics.token.is_none() && config.metrics.listen.is_none() {
        tracing::info!(
            "/metrics is open on the API's address ([metrics] token or listen restrict it)"
        );
    }
    let tls_task = tls.map(|tls| {
        let issued = match config.api.tls.source() {
            Some(crate::config::TlsSource::Acme(_)) => certificate_service.issued_signal(),
            _ => None,
        };
        tokio::spawn(tls.run(
            Duration::from_secs(config.api.tls.reload_check_secs),
            issued,
            shutdown_rx.clone(),
        ))
    });
    let log_throttle = tokio::spawn(metrics.log.clone().run(shutdown_rx.clone()));

    // Serve what other instances and the CLI commit while we run.
    let sync = tokio::spawn(
        crate::cluster::follow::Follower {
            publisher: publisher.clone(),
            dnssec: dnssec.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            poll: Duration::from_secs(config.dns.store_poll_secs),
            certificates: certificate_waker,
            role: role.clone(),
        }
        .run(shutdown_rx.clone()),
    );

    // A snapshot of each zone that changed, now and then, so that a restart replays a short
    // journal (and one at shutdown).
    let snapshot_publisher = publisher.clone();
    let snapshots = leader_job(
        "snapshots",
        Box::new(move |stop| {
            let publisher = snapshot_publisher.clone();
            Box::pin(every(SNAPSHOT_INTERVAL, false, stop, move || {
                let publisher = publisher.clone();
                async move {
                    if let Err(error) = publisher.snapshot_zones(chrono::Utc::now()).await {
                        tracing::warn!(%error, "cannot keep the zones' snapshots");
                    }
                }
            }))
        }),
    );

    // Keys rolled, the parent asked, due signatures made again.
    let maintenance = Duration::from_secs(config.dnssec.maintenance_interval_secs);
    let shared = store.is_shared();
    let dnssec_task = leader_job(
        "dnssec maintenance",
        Box::new(move |stop| {
            let dnssec = dnssec.clone();
            // A new leader of a shared store looks after every zone at once.
            Box::pin(every(maintenance, shared, stop, move || {
                let dnssec = dnssec.clone();
                async move { dnssec.tick(chrono::Utc::now()).await }
            }))
        }),
    );

    let (instance, host) = crate::cluster::presence::Presence::id(api_addr);
    let presence = tokio::spawn(
        crate::cluster::presence::Presence {
            store: store.clone(),
            zones: zones.clone(),
            role: role.clone(),
            row: crate::store::InstanceRow {
                id: instance,
                host,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                dns: dns_server
                    .local_addrs()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                api: api_addr.to_string(),
                leader: false,
                serials: String::new(),
                started_at: crate::store::ts(chrono::Utc::now()),
                seen_at: String::new(),
            },
        }
        .run(shutdown_rx.clone()),
    );
    let mut tasks = vec![
        presence,
        election,
        snapshots,
        sync,
        sweeper,
        secondaries_task,
        courier_task,
        log_throttle,
        dnssec_task,
    ];
    tasks.extend(side_tasks);
    tasks.extend(tls_task);
    tasks.extend(certificates_task);
    tasks.extend(signer_task);
    tasks.extend(oversight_task);
    tasks.push(expiry_task);
    tasks.extend(confirmation_task);
    tasks.push(complaints_task);
    Ok(Running {
        dns: dns_server.local_addrs(),
        api: api_addr,
        api_redirect,
        metrics_listen,
        shutdown_tx,
        health,
        dns_server,
        tasks,
        http,
        store,
        publisher,
        lock,
        expiry,
        confirmations,
        complaints,
    })
}

/// The signer of `[signing]`: its files read and checked to belong together; none without them.
fn pdf_signer(
    settings: &crate::config::SigningSettings,
) -> anyhow::Result<Option<Arc<crate::outbox::sign::PdfSigner>>> {
    let (Some(cert), Some(key)) = (&settings.certificate_file, &settings.key_file) else {
        tracing::info!("no [signing] certificate: documents are made unsigned and say so");
        return Ok(None);
    };
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("[signing]: cannot read {}: {e}", path.display()))
    };
    let signer = crate::outbox::sign::PdfSigner::load(&read(cert)?, &read(key)?)
        .map_err(|e| anyhow::anyhow!("[signing]: {e}"))?;
    tracing::info!(signer = signer.name(), "documents are signed (PAdES)");
    Ok(Some(Arc::new(signer)))
}

/// A job's start: given its stop signal, its run.
type JobStart = Box<
    dyn Fn(watch::Receiver<bool>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send,
>;

/// Run `f` every `period` until `stop` (the first time at once with `now`, else after one
/// period); a run that overruns delays the next.
async fn every<F, Fut>(period: Duration, now: bool, mut stop: watch::Receiver<bool>, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !now {
        tick.tick().await;
    }
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        f().await;
    }
}

/// HTTPS for the API as `[api.tls]` says: `None` for plain HTTP. For `acme_name`, the API's
/// own certificate is ordered first (if it has none on its way); files must load now.
async fn api_tls(
    config: &Config,
    certificates: &Arc<crate::service::certificates::Certificates>,
    metrics: &Arc<crate::telemetry::metrics::Metrics>,
) -> anyhow::Result<Option<Arc<api::tls::Tls>>> {
    use crate::config::TlsSource;
    let source = match config.api.tls.source() {
        None => return Ok(None),
        Some(TlsSource::Files { cert, key }) => api::tls::Source::Files {
            cert: cert.to_owned(),
            key: key.to_owned(),
        },
        Some(TlsSource::Acme(name)) => {
            let row = match certificates
                .ensure_api_certificate(name, chrono::Utc::now())
                .await
            {
                Ok(row) => row,
                Err(crate::service::ServiceError::Validation(errors)) => {
                    let why: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                    anyhow::bail!("api.tls.acme_name = {name}: {}", why.join("; "));
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("ordering the API's certificate for {name}")));
                }
            };
            tracing::info!(
                name,
                status = row.status.as_str(),
                "the API's own certificate through ACME"
            );
            api::tls::Source::Acme {
                name: name.to_owned(),
                certificates: certificates.clone(),
            }
        }
    };
    let tls = api::tls::Tls::load(source, metrics.clone())
        .await
        .context("loading the API's certificate ([api.tls])")?;
    Ok(Some(Arc::new(tls)))
}

/// The signals `ranah serve` handles: SIGTERM and SIGINT stop it; SIGHUP is logged (the API's
/// certificate listens for it too) and never stops DNS, as its default action would.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Install the handlers (from now on the default actions no longer apply).
    fn take() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
            hangup: signal(SignalKind::hangup()).context("handling SIGHUP")?,
        })
    }

    /// Wait for SIGTERM or SIGINT.
    async fn shutdown(self) {
        let Self {
            mut terminate,
            mut interrupt,
            mut hangup,
        } = self;
        let hangups = async {
            while hangup.recv().await.is_some() {
                tracing::info!(
                    "SIGHUP: the API's certificate files are read again when [api.tls] uses \
                     them; other configuration takes a restart"
                );
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
            _ = hangups => {}
        }
    }
}

/// The Cloudflare-compatible API's service: its writes applied at once, or turned into
/// requests entering the workflow at `request_step`, as `[cloudflare_api]` says.
async fn cloudflare_api(
    config: &Config,
    store: &Store,
    publisher: &Arc<Publisher>,
    requests: &Arc<Requests>,
    request_step: usize,
) -> anyhow::Result<crate::service::cloudflare::Cloudflare> {
    use crate::config::CloudflareWrites;
    use crate::service::cloudflare::{Cloudflare, RequestWrites};
    let service = Cloudflare::new(
        store.clone(),
        publisher.clone(),
        Arc::new(config.policy.clone()),
    );
    Ok(match config.cloudflare_api.writes {
        CloudflareWrites::Apply => service,
        CloudflareWrites::Request => {
            // An agency the store lacks is a configuration error, told now rather than at
            // each write.
            let agency = match &config.cloudflare_api.request_agency {
                Some(code) => Some(
                    store
                        .agency(code)
                        .await
                        .context("reading cloudflare_api.request_agency's agency")?
                        .ok_or_else(|| crate::config::ConfigError::Invalid {
                            key: "cloudflare_api.request_agency".into(),
                            message: format!(
                                "no agency {code} (add it with `ranah agency add {code} NAME`)"
                            ),
                        })?
                        .id,
                ),
                None => None,
            };
            let step = requests
                .workflow()
                .steps
                .get(request_step)
                .map(|s| s.id.as_str())
                .unwrap_or_default();
            tracing::info!(
                step, agency = ?config.cloudflare_api.request_agency,
                "writes through the Cloudflare-compatible API open requests"
            );
            service.with_requests(RequestWrites {
                requests: requests.clone(),
                step: request_step,
                agency,
            })
        }
    })
}

/// RFC 2136 UPDATE through the update keys, unless `[dynamic_update]` turns it off or the
/// keys cannot be sealed here (a shared store without a configured key-encryption key:
/// then UPDATE is NOTIMP, and the log says why).
fn dynamic_updates(
    config: &Config,
    store: &Store,
    publisher: &Arc<Publisher>,
    metrics: &Arc<Metrics>,
) -> Option<Arc<dns::update::Updates>> {
    use crate::service::updates::{DynamicUpdates, UpdateKeys, key_cipher};
    let settings = &config.dynamic_update;
    if !settings.enabled {
        tracing::info!("dynamic update off");
        return None;
    }
    let cipher = match key_cipher(config, store.is_shared()) {
        Ok(cipher) => cipher,
        Err(error) => {
            tracing::warn!(%error, "dynamic update off: its keys cannot be opened here");
            return None;
        }
    };
    let keys = UpdateKeys::new(store.clone(), cipher, config);
    let port = Arc::new(DynamicUpdates::new(
        keys,
        publisher.clone(),
        config,
        metrics.log.clone(),
    ));
    Some(Arc::new(dns::update::Updates::new(
        port,
        settings.max_in_flight,
        settings.max_records,
        tokio::runtime::Handle::current(),
        Some(metrics.clone()),
    )))
}
