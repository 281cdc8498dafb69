//! `ranah client …`: the approver's client (see [`crate::client`]), as krillc is Krill's. It
//! needs no configuration of the server's, only its URL and a token.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::client::{Call, Client, render};

/// Where the client connects, as whom, and how it answers.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The ranah API's URL, e.g. https://ranah.kaltaraprov.go.id.
    #[arg(long, env = "RANAH_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The API token to act with.
    #[arg(long, env = "RANAH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A CA certificate (PEM) to trust besides the system's, for an office's own CA.
    #[arg(long, env = "RANAH_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// `text` for people, `json` for scripts (the API's answer as it came).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print the HTTP call as a curl command instead of making it.
    #[arg(long)]
    pub api: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: ClientCommand,
}

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables and pages for a terminal.
    Text,
    /// The API's JSON.
    Json,
}

/// `ranah client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Subdomain requests: the inbox, one request, and the actions of each role.
    #[command(subcommand)]
    Requests(RequestsCommand),
    /// The subdomain register (daftar subdomain).
    Subdomains,
    /// Certificates and their expiry; with NAME, one certificate.
    Certificates {
        /// A certificate's name, e.g. sipd.kaltaraprov.go.id.
        name: Option<String>,
    },
}

/// `ranah client requests …`
#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Requests you may see, oldest first; --step and --overdue make an inbox.
    List {
        /// in_review, returned, completed, rejected or withdrawn.
        #[arg(long)]
        status: Option<String>,
        /// A step of the workflow (kadis, kabid, teknis).
        #[arg(long)]
        step: Option<String>,
        /// An agency's code.
        #[arg(long)]
        agency: Option<String>,
        /// Only those past their step's due time.
        #[arg(long)]
        overdue: bool,
        /// The page, from 1.
        #[arg(long)]
        page: Option<u32>,
        /// Requests per page (at most 200).
        #[arg(long)]
        per_page: Option<u32>,
    },
    /// One request: records, attachments, history.
    Show {
        /// The request's id.
        id: i64,
    },
    /// Approve the request at your step.
    Approve {
        /// The request's id.
        id: i64,
        /// A note for the history.
        #[arg(long)]
        note: Option<String>,
    },
    /// Return the request to the applicant to complete.
    Return {
        /// The request's id.
        id: i64,
        /// A reason code, e.g. incomplete_letter.
        #[arg(long)]
        reason: String,
        /// What the applicant should change.
        #[arg(long)]
        note: String,
    },
    /// Reject the request.
    Reject {
        /// The request's id.
        id: i64,
        /// A reason code.
        #[arg(long)]
        reason: String,
        /// Why.
        #[arg(long)]
        note: String,
    },
    /// Send a returned request back (your agency's), unchanged or with the changes in FILE.
    Resubmit {
        /// The request's id.
        id: i64,
        /// A JSON object of the fields to change (records, contact, purpose,
        /// recommendation_ref).
        #[arg(long, value_name = "FILE")]
        changes: Option<PathBuf>,
    },
    /// Withdraw the request (your agency's).
    Withdraw {
        /// The request's id.
        id: i64,
    },
}

/// How an answer is shown as text.
type Show = fn(&Value) -> String;

/// The call a command makes, and how its answer is shown.
fn call(command: &ClientCommand) -> Result<(Call, Show), anyhow::Error> {
    let act = |id: i64, action: &str, body: Value| {
        Call::post(format!("/api/v1/requests/{id}/{action}"), body)
    };
    Ok(match command {
        ClientCommand::Requests(r) => match r {
            RequestsCommand::List {
                status,
                step,
                agency,
                overdue,
                page,
                per_page,
            } => (
                Call::get("/api/v1/requests")
                    .with("status", status.as_ref())
                    .with("step", step.as_ref())
                    .with("agency", agency.as_ref())
                    .with("overdue", overdue.then_some(true))
                    .with("page", *page)
                    .with("per_page", *per_page),
                render::request_page,
            ),
            RequestsCommand::Show { id } => {
                (Call::get(format!("/api/v1/requests/{id}")), render::request)
            }
            RequestsCommand::Approve { id, note } => {
                (act(*id, "approve", json!({ "note": note })), |r| {
                    render::acted("approved", r)
                })
            }
            RequestsCommand::Return { id, reason, note } => (
                act(*id, "return", json!({ "reason": reason, "note": note })),
                |r| render::acted("returned", r),
            ),
            RequestsCommand::Reject { id, reason, note } => (
                act(*id, "reject", json!({ "reason": reason, "note": note })),
                |r| render::acted("rejected", r),
            ),
            RequestsCommand::Resubmit { id, changes } => {
                let body = match changes {
                    Some(file) => {
                        let text = std::fs::read_to_string(file)
                            .map_err(|e| anyhow::anyhow!("--changes {}: {e}", file.display()))?;
                        let value: Value = serde_json::from_str(&text).map_err(|e| {
                            anyhow::anyhow!("--changes {}: not JSON: {e}", file.display())
                        })?;
                        anyhow::ensure!(
                            value.is_object(),
                            "--changes {}: a JSON object of the fields to change",
                            file.display()
                        );
                        value
                    }
                    None => json!({}),
                };
                (act(*id, "resubmit", body), |r| {
                    render::acted("resubmitted", r)
                })
            }
            RequestsCommand::Withdraw { id } => (act(*id, "withdraw", json!({})), |r| {
                render::acted("withdrawn", r)
            }),
        },
        ClientCommand::Subdomains => (Call::get("/api/v1/subdomains"), render::register),
        ClientCommand::Certificates { name: None } => {
            (Call::get("/api/v1/certificates"), render::certificates)
        }
        ClientCommand::Certificates { name: Some(name) } => {
            let path: String =
                form_urlencoded::byte_serialize(name.trim_end_matches('.').as_bytes()).collect();
            (
                Call::get(format!("/api/v1/certificates/{path}")),
                render::certificate,
            )
        }
    })
}

/// Run `ranah client …`.
pub async fn run(args: ClientArgs) -> anyhow::Result<()> {
    let (call, show) = call(&args.command)?;
    if args.api {
        crate::outln!("{}", call.as_curl(&args.server))?;
        return Ok(());
    }
    let client = Client::new(&args.server, args.token.as_deref(), args.ca_file.as_deref())?;
    let answer = client.send(&call).await?;
    match args.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&answer)?)?,
        Format::Text => crate::out!("{}", show(&answer))?,
    }
    Ok(())
}
