use std::process::ExitCode;

use clap::{Parser, Subcommand};
use server::{
    Application, api_keys,
    config::Config,
    db::Db,
    outbox,
    salesforce::SalesforceClient,
    startup::{self, Services, shutdown_signal},
    sync::{
        preflight::{self, Verdict},
        records::StatusLabels,
    },
    telemetry,
};

/// Remit: Stripe payment links for Salesforce Opportunities.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and API (the default).
    Serve,
    /// Run only the outbox workers (no web server), e.g. on a second instance.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage the API keys Salesforce uses.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Inspect and replay the outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Feed Stripe events Remit never received (e.g. --since 72h) through the webhook path.
    Reconcile {
        #[arg(long, default_value = "72h", value_parser = server::config::parse_duration)]
        since: std::time::Duration,
    },
    /// Stripe events that matched no payment (kept, not dropped).
    Unmatched,
    /// Check the Salesforce org against the mapping.
    #[command(subcommand)]
    Salesforce(SalesforceCommand),
    /// Finance's view of the payments.
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// Who may use the operator console.
    #[command(subcommand)]
    Operator(OperatorCommand),
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Add an operator, or change an operator's role.
    Add {
        email: String,
        /// admin (sees and acts) or viewer (sees).
        #[arg(long, default_value = "viewer")]
        role: server::ops::operators::Role,
    },
    /// List operators (REMIT_OPERATORS first).
    List,
    /// Remove an operator added with `add`.
    Remove { email: String },
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Write the payments as CSV (RFC 4180, amounts in major units) to standard output.
    Export {
        /// Only payments in this status (open, paid, refunded, …).
        #[arg(long)]
        status: Option<String>,
        /// Only this brand's payments (its key in remit.toml).
        #[arg(long)]
        brand: Option<String>,
        /// Only payments in this currency (ISO 4217).
        #[arg(long)]
        currency: Option<String>,
        /// Created on or after this day (UTC), YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
        /// Created on or before this day (UTC), YYYY-MM-DD.
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Subcommand)]
enum SalesforceCommand {
    /// Compare the org with what Remit writes (objects, fields, picklist values, external ids, the
    /// won stage, access, API usage); one line per check, non-zero exit when something is wrong.
    /// In sandbox mode it checks the stand-in org.
    Check,
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it (it is shown this once).
    Create { name: String },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Jobs not yet done; with --dead, only dead letters.
    List {
        #[arg(long)]
        dead: bool,
    },
    /// Put a dead letter (or every one) back in the queue.
    Replay {
        id: Option<i64>,
        #[arg(long, conflicts_with = "id")]
        all_dead: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One line naming the setting, nothing else: the operator fixes it and starts again.
    let config = match Config::from_process_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Remit stopped");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until_stopped(shutdown_signal()).await?;
        }
        Command::Worker => {
            let mut services = Services::start(&config, None).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let tasks = services.spawn_background(&stopped);
            shutdown_signal().await;
            let _ = stop.send(true);
            for task in tasks {
                let _ = task.await;
            }
        }
        Command::Migrate => {
            migrated(&config).await?;
            println!("migrations applied");
        }
        Command::Reconcile { since } => {
            let services = Services::start(&config, None).await?;
            let from = time::OffsetDateTime::now_utc().unix_timestamp() - since.as_secs() as i64;
            let recovered = services.payments.reconcile(from).await?;
            println!("{recovered} missed event(s) recovered; the workers of a running Remit apply them");
        }
        Command::Unmatched => {
            let services = Services::start(&config, None).await?;
            for (id, kind, received_at, _) in services.payments.unmatched_events().await? {
                println!("{id}  {kind}  received_at_ms={received_at}");
            }
        }
        Command::Salesforce(SalesforceCommand::Check) => {
            if !salesforce_check(&config).await? {
                return Err(anyhow::anyhow!("the Salesforce org is not ready for Remit; fix the lines above"));
            }
        }
        Command::Payments(PaymentsCommand::Export { status, brand, currency, from, to }) => {
            let request = server::ops::csv::ExportRequest { search: None, status, brand, currency, from, to };
            let filter = request.filter().map_err(|problem| anyhow::anyhow!("{problem}"))?;
            let services = Services::start(&config, None).await?;
            let written = server::ops::csv::export(&services.payments, &filter, &mut std::io::stdout().lock()).await?;
            eprintln!("{written} payment(s) exported");
        }
        Command::Operator(command) => operator_command(&migrated(&config).await?, &config.operators, command).await?,
        Command::ApiKey(command) => api_key(&migrated(&config).await?, command).await?,
        Command::Outbox(command) => outbox_command(&migrated(&config).await?, command).await?,
    }
    Ok(())
}

/// Prints one line per check; whether every check passed.
async fn salesforce_check(config: &Config) -> anyhow::Result<bool> {
    // The stand-in serves until the check is done.
    let (org, _sandbox) = match &config.salesforce {
        Some(org) => (org.clone(), None),
        None => {
            let sandbox = sandbox::Sandbox::spawn().await?;
            (startup::sandbox_salesforce(&sandbox)?, Some(sandbox))
        }
    };
    let client = SalesforceClient::new(org, config.salesforce_timeout);
    let labels = StatusLabels::from_mapping(&config.mapping)?;
    let findings = preflight::check(&client, &config.mapping, &labels).await?;
    for finding in &findings {
        println!("{finding}");
    }
    Ok(findings.iter().all(|f| f.verdict == Verdict::Ok))
}

async fn migrated(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    Ok(db)
}

async fn api_key(db: &Db, command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create { name } => {
            let (id, key) = api_keys::create(db, &name).await?;
            println!("API key {id} ({name}) created. Store it now; it is not shown again:\n{key}");
        }
        ApiKeyCommand::List => {
            for key in api_keys::list(db).await? {
                let state = if key.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}  {:<8} {}", key.id, state, key.name);
            }
        }
        ApiKeyCommand::Revoke { id } => {
            anyhow::ensure!(api_keys::revoke(db, &id).await?, "no active API key has id {id}");
            println!("API key {id} revoked");
        }
    }
    Ok(())
}

async fn operator_command(db: &Db, configured: &[String], command: OperatorCommand) -> anyhow::Result<()> {
    use server::ops::operators;
    match command {
        OperatorCommand::Add { email, role } => {
            let operator = operators::add(db, &email, role).await?;
            println!("{} is an operator ({})", operator.email, operator.role.as_str());
        }
        OperatorCommand::List => {
            for operator in operators::list(db, configured).await? {
                let source = if operator.configured { "  (REMIT_OPERATORS)" } else { "" };
                println!("{:<8} {}{source}", operator.role.as_str(), operator.email);
            }
        }
        OperatorCommand::Remove { email } => {
            let removed = operators::remove(db, &email).await?;
            anyhow::ensure!(
                removed,
                "{email} is not an operator added with `remit operator add` (REMIT_OPERATORS is changed in the configuration)"
            );
            println!("{email} is no longer an operator");
        }
    }
    Ok(())
}

async fn outbox_command(db: &Db, command: OutboxCommand) -> anyhow::Result<()> {
    match command {
        OutboxCommand::List { dead } => {
            for job in outbox::list(db, dead).await? {
                println!(
                    "{:>6}  {:<8} attempts={:<3} {}  {}",
                    job.id,
                    job.status,
                    job.attempts,
                    job.kind,
                    job.last_error.unwrap_or_default()
                );
            }
        }
        OutboxCommand::Replay { id, all_dead } => {
            anyhow::ensure!(id.is_some() || all_dead, "name a job id or pass --all-dead");
            let replayed = outbox::replay(db, id.map_or(outbox::Replay::All, outbox::Replay::One)).await?;
            println!("{replayed} job(s) queued again");
        }
    }
    Ok(())
}
