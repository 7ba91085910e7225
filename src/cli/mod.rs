//! The `kinship` command line: subcommands dispatching to library code.

mod import;

use crate::http::{self, AppState};
use crate::ledger::Ledger;
use crate::registry::{Registry, Snapshots};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "kinship",
    version,
    about = "Family graph over civil-registry act records, answering kinship checks with proof"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text for people or as JSON objects for a collector.
    #[arg(long, global = true, env = "KINSHIP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct DbArg {
    /// Ledger database: a SQLite file (created if missing) or a postgres:// URL.
    #[arg(long, env = "KINSHIP_DB", default_value = "kinship.db")]
    db: String,
}

#[derive(Debug, clap::Args)]
struct SnapshotArgs {
    /// Folder of graph snapshots [default: beside a SQLite ledger,
    /// ./kinship-snapshots for PostgreSQL].
    #[arg(long, env = "KINSHIP_SNAPSHOT_DIR")]
    snapshot_dir: Option<PathBuf>,
    /// Neither load nor write snapshots: build the graph from the ledger.
    #[arg(long)]
    no_snapshots: bool,
}

impl SnapshotArgs {
    fn place(&self, db: &str) -> Option<Snapshots> {
        if self.no_snapshots {
            return None;
        }
        Some(match &self.snapshot_dir {
            Some(d) => Snapshots::new(d),
            None => Snapshots::beside(db),
        })
    }
}

/// How `serve` (and `demo`) listen, cap batches and stop.
#[derive(Debug, clap::Args)]
struct HttpArgs {
    /// Address to listen on.
    #[arg(long, env = "KINSHIP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Seconds to let in-flight requests finish after SIGTERM or Ctrl-C;
    /// connections still open then are closed.
    #[arg(long, env = "KINSHIP_SHUTDOWN_GRACE", default_value_t = 10)]
    shutdown_grace: u64,
    /// Largest NDJSON batch body, in MiB (413 `batch_too_large` beyond).
    #[arg(long, env = "KINSHIP_BATCH_MAX_MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    batch_max_mib: u64,
    /// Most lines in one NDJSON batch (413 `batch_too_large` beyond).
    #[arg(long, env = "KINSHIP_BATCH_MAX_LINES", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    batch_max_lines: u64,
    /// NDJSON batches held at once (bodies in memory: at most this many
    /// times --batch-max-mib); more wait their turn.
    #[arg(long, env = "KINSHIP_BATCH_CONCURRENCY", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    batch_concurrency: u64,
    /// Seconds a batch body may take to arrive (408 `body_timeout` beyond).
    #[arg(long, env = "KINSHIP_BATCH_READ_TIMEOUT", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    batch_read_timeout: u64,
    /// With a PostgreSQL ledger other replicas write to: milliseconds
    /// between looks at the ledger when no commit is notified.
    #[arg(long, env = "KINSHIP_FOLLOW_POLL_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..))]
    follow_poll_ms: u64,
    /// Milliseconds a request with X-Min-Ledger-Seq waits for that seq
    /// (503 `ledger_behind` beyond).
    #[arg(long, env = "KINSHIP_MIN_SEQ_WAIT_MS", default_value_t = 2000)]
    min_seq_wait_ms: u64,
    /// Folder where each answer's audit record is fsynced before the
    /// answer goes out, and from where it moves into the database (also
    /// while the database is out of reach) [default: beside a SQLite
    /// ledger (`<file>.audit-log`); for PostgreSQL, `audit-log` in the
    /// snapshot folder; with neither, each group of records is a database
    /// transaction and answers are withheld while it is out of reach].
    /// One process per folder: replicas need one each.
    #[arg(long, env = "KINSHIP_AUDIT_LOG")]
    audit_log: Option<PathBuf>,
    /// Requests per second each client may send (429 `rate_limited` with
    /// Retry-After beyond; 0: no cap).
    #[arg(long, env = "KINSHIP_CLIENT_RATE", default_value_t = 50_000)]
    client_rate: u32,
    /// Requests a client may send at once above its rate [default: the rate].
    #[arg(long, env = "KINSHIP_CLIENT_BURST", default_value_t = 0)]
    client_burst: u32,
    /// Seconds a request may take to the head of its answer (503
    /// `request_timeout` beyond).
    #[arg(long, env = "KINSHIP_REQUEST_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
    /// Also accept JWTs from this issuer (their `iss`); its keys are read
    /// from --jwt-keys. Each token's `sub` is the client (`jwt:<sub>`),
    /// its `scope` the scopes.
    #[arg(long, env = "KINSHIP_JWT_ISSUER", requires = "jwt_keys")]
    jwt_issuer: Option<String>,
    /// The issuer's public keys: a JWKS file, or one PEM public key (RSA,
    /// EC or Ed25519). Read at start; nothing is fetched.
    #[arg(long, env = "KINSHIP_JWT_KEYS", requires = "jwt_issuer")]
    jwt_keys: Option<PathBuf>,
    /// The `aud` a token must name.
    #[arg(long, env = "KINSHIP_JWT_AUDIENCE", default_value = "kinship")]
    jwt_audience: String,
}

impl HttpArgs {
    fn limits(&self) -> http::BatchLimits {
        http::BatchLimits {
            max_bytes: (self.batch_max_mib << 20) as usize,
            max_lines: self.batch_max_lines,
            concurrent: self.batch_concurrency as usize,
            read_timeout: std::time::Duration::from_secs(self.batch_read_timeout),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import an NDJSON file of act records into the ledger, in constant memory.
    ///
    /// Prints accepted, duplicates and refused (by code). Exits non-zero only
    /// on an I/O or database failure: refused records are kept, with their
    /// reasons, and listed by `kinship refused`.
    Import {
        /// The .ndjson file (one act record per line).
        file: PathBuf,
        #[command(flatten)]
        db: DbArg,
        /// Records per database transaction.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        batch: u32,
        #[command(flatten)]
        snapshots: SnapshotArgs,
    },
    /// List refused records with their reasons, oldest first.
    Refused {
        #[command(flatten)]
        db: DbArg,
        /// Only records refused with this code.
        #[arg(long)]
        code: Option<String>,
        /// Show records after this id (for paging).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a deterministic synthetic population as NDJSON act records.
    Generate {
        /// Exactly this many distinct persons appear in the output.
        #[arg(long)]
        persons: u64,
        /// Same seed, same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (`-` for standard output).
        #[arg(long)]
        out: PathBuf,
    },
    /// Build the graph and report its size, its memory by part and how
    /// long it took (from the newest good snapshot and the ledger after it).
    Stats {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        snapshots: SnapshotArgs,
    },
    /// Write a snapshot of the graph, so the next start needs only the
    /// ledger after it.
    Snapshot {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        snapshots: SnapshotArgs,
        /// Write the snapshot into this folder instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export a person's family as a file, recorded in the audit as a
    /// lookup by the operator `cli:$USER`.
    Export {
        #[command(subcommand)]
        what: Export,
    },
    /// Serve the HTTP API over the ledger.
    ///
    /// Starts from the newest good snapshot plus the ledger after it, writes
    /// a snapshot every --snapshot-every seconds when records were written
    /// meanwhile, and one at shutdown.
    Serve {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        http: HttpArgs,
        #[command(flatten)]
        snapshots: SnapshotArgs,
        /// Seconds between periodic snapshots (0: only at shutdown).
        #[arg(long, env = "KINSHIP_SNAPSHOT_EVERY", default_value_t = 1800)]
        snapshot_every: u64,
    },
    /// Manage the clients allowed to call the API (API keys and scopes).
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Create a fresh SQLite ledger from the fixture families and serve it.
    Demo {
        /// The demo ledger file (replaced if it exists).
        #[arg(long, default_value = "kinship-demo.db")]
        db: PathBuf,
        /// Folder of .ndjson fixture files to import.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/graph-fixtures"))]
        fixtures: PathBuf,
        #[command(flatten)]
        http: HttpArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsAction {
    /// Add a client; prints its API key, which is shown only this once
    /// (the ledger keeps only its hash).
    Add {
        /// A name for the client (letters, digits, '.', '_', '-').
        name: String,
        /// Comma-separated: checks, acts:write, investigate, audit.
        #[arg(long, required = true)]
        scopes: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// List the clients (never their keys).
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Revoke a client: its key is refused from then on (a running `serve`
    /// notices within a few seconds).
    Revoke {
        name: String,
        #[command(flatten)]
        db: DbArg,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ran = rt.block_on(run(cli));
    // Connections a shutdown's grace period gave up on are still tasks
    // here; they are dropped, not waited for.
    rt.shutdown_background();
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Import {
            file,
            db,
            batch,
            snapshots,
        } => {
            let ledger = Ledger::open(&db.db).await.context("opening the ledger")?;
            let place = snapshots.place(&db.db);
            let (registry, _) = Registry::open_with(ledger, place.as_ref())
                .await
                .context("building the graph from the ledger")?;
            let registry = Arc::new(registry);
            let report = import::import_file(&registry, &file, batch as usize).await?;
            import::print_summary(&file, &report);
            // The next start need not replay what was just imported.
            if let Some(s) = place
                && report.accepted > 0
            {
                let path = registry.snapshot(&s).await?;
                eprintln!("snapshot {} written", path.display());
            }
            registry.ledger().close().await;
            Ok(())
        }
        Command::Refused {
            db,
            code,
            after,
            limit,
            json,
        } => {
            let ledger = Ledger::open(&db.db).await.context("opening the ledger")?;
            if let Some(c) = code.as_deref() {
                anyhow::ensure!(
                    crate::acts::Code::from_code(c).is_some(),
                    "--code {c}: not a refusal code (see docs/ERRORS.md)"
                );
            }
            for r in ledger.refused(after, limit, code.as_deref()).await? {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "#{} {} {} [{}] {}: {}",
                        r.id,
                        r.received_at,
                        r.source,
                        r.act_id.as_deref().unwrap_or("-"),
                        r.code,
                        r.detail
                    );
                }
            }
            Ok(())
        }
        Command::Generate { persons, seed, out } => {
            let opts = crate::generate::GenerateOptions { persons, seed };
            let started = std::time::Instant::now();
            let summary = if out.as_os_str() == "-" {
                crate::generate::generate(&opts, std::io::stdout().lock())
            } else {
                let f = std::fs::File::create(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                crate::generate::generate(&opts, std::io::BufWriter::new(f))
            }
            .context("writing the population")?;
            eprintln!(
                "{} persons, {} records in {:.1} s",
                summary.persons,
                summary.records,
                started.elapsed().as_secs_f64()
            );
            for (kind, n) in &summary.by_kind {
                eprintln!("  {kind:<12} {n}");
            }
            Ok(())
        }
        Command::Stats { db, snapshots } => {
            let started = std::time::Instant::now();
            let ledger = Ledger::open(&db.db).await.context("opening the ledger")?;
            let (registry, start) =
                Registry::open_with(ledger, snapshots.place(&db.db).as_ref()).await?;
            let secs = started.elapsed().as_secs_f64();
            let g = registry.graph();
            println!("ledger seq       {}", registry.applied_seq());
            match &start.snapshot {
                Some(p) => println!(
                    "snapshot         {} (seq {}, loaded in {:.2} s)",
                    p.display(),
                    start.snapshot_seq,
                    start.load_secs
                ),
                None => println!("snapshot         none"),
            }
            println!(
                "replayed         {} records in {:.2} s",
                start.replayed, start.replay_secs
            );
            println!("persons          {}", g.person_count());
            println!("links            {}", g.link_count());
            println!("link acts        {}", g.act_count());
            for (part, bytes) in g.memory() {
                println!(
                    "  {part:<18}   {:>6} MiB  {:>5.1} B/person",
                    bytes >> 20,
                    bytes as f64 / g.person_count().max(1) as f64
                );
            }
            println!("graph arrays     {} MiB", g.heap_bytes() >> 20);
            if let Some((rss, peak)) = memory_kib() {
                println!(
                    "process RSS      {} MiB (peak {} MiB)",
                    rss >> 10,
                    peak >> 10
                );
            }
            println!("built in         {secs:.2} s");
            Ok(())
        }
        Command::Export {
            what: Export::Gedcom(args),
        } => export_gedcom(&args).await,
        Command::Snapshot { db, snapshots, out } => {
            let ledger = Ledger::open(&db.db).await.context("opening the ledger")?;
            let place = snapshots.place(&db.db);
            let (registry, _) = Registry::open_with(ledger, place.as_ref()).await?;
            let target = match out {
                Some(d) => Snapshots::new(d),
                None => place.unwrap_or_else(|| Snapshots::beside(&db.db)),
            };
            let started = std::time::Instant::now();
            let registry = Arc::new(registry);
            let path = registry.snapshot(&target).await?;
            println!(
                "{} (seq {}) written in {:.2} s",
                path.display(),
                registry.applied_seq(),
                started.elapsed().as_secs_f64()
            );
            registry.ledger().close().await;
            Ok(())
        }
        Command::Serve {
            db,
            http,
            snapshots,
            snapshot_every,
        } => {
            let place = snapshots.place(&db.db);
            serve(&db.db, &http, place, snapshot_every).await
        }
        Command::Clients { action } => clients(action).await,
        Command::Demo { db, fixtures, http } => {
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", db.display()));
                if p.exists() {
                    std::fs::remove_file(&p)
                        .with_context(|| format!("removing old {}", p.display()))?;
                }
            }
            let url = db.to_str().context("demo ledger path is not UTF-8")?;
            let registry = Registry::open(Ledger::open(url).await?).await?;
            let mut files: Vec<PathBuf> = std::fs::read_dir(&fixtures)
                .with_context(|| format!("reading {}", fixtures.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
                .collect();
            files.sort();
            for f in &files {
                let report = import::import_file(&registry, f, 1000).await?;
                eprintln!(
                    "{}: accepted {}, duplicates {}, refused {}",
                    f.file_name().unwrap_or_default().to_string_lossy(),
                    report.accepted,
                    report.duplicates,
                    report.refused_total()
                );
            }
            let (_, key) = registry
                .clients()
                .add("demo", crate::access::Scopes::all())
                .await?;
            registry.ledger().close().await;
            eprintln!(
                "demo ledger {} ready, with a client \"demo\" holding every scope; its API key: {key}\ntry:\n  curl -s -H 'Authorization: Bearer {key}' -H 'X-Purpose: demo' \\\n    -d '{{\"owner\":\"750412301013\",\"applicant\":\"020115501032\",\"claim\":\"child\"}}' \\\n    http://{}/v1/checks/kinship\nstaff page: http://{}/ui/ (sign in with that key; try IIN 750412301013)",
                db.display(),
                http.listen,
                http.listen
            );
            serve(url, &http, None, 0).await
        }
    }
}

async fn clients(action: ClientsAction) -> anyhow::Result<()> {
    let db = match &action {
        ClientsAction::Add { db, .. }
        | ClientsAction::List { db }
        | ClientsAction::Revoke { db, .. } => db.db.clone(),
    };
    let ledger = Ledger::open(&db).await.context("opening the ledger")?;
    let clients = crate::access::Clients::load(ledger.clone()).await?;
    let done = match action {
        ClientsAction::Add { name, scopes, .. } => {
            let scopes = crate::access::Scopes::parse_list(&scopes).map_err(anyhow::Error::msg)?;
            let (c, key) = clients.add(&name, scopes).await?;
            eprintln!(
                "client {} added (id {}, scopes: {}); its API key, shown only now:",
                c.name, c.id, c.scopes
            );
            println!("{key}");
            Ok(())
        }
        ClientsAction::List { .. } => {
            for c in clients.list().await? {
                let when = |t: i64| {
                    chrono::DateTime::from_timestamp_micros(t)
                        .map_or_else(String::new, |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                };
                let state = c
                    .revoked_at
                    .map_or_else(|| "active".to_owned(), |t| format!("revoked {}", when(t)));
                println!(
                    "{}\t{}\t{}\tadded {}\t{state}",
                    c.id,
                    c.name,
                    c.scopes,
                    when(c.created_at)
                );
            }
            Ok(())
        }
        ClientsAction::Revoke { name, .. } => {
            clients.revoke(&name).await?;
            eprintln!("client {name} revoked");
            Ok(())
        }
    };
    ledger.close().await;
    done
}

/// Current and peak resident memory of this process, in KiB (Linux).
pub fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[derive(Debug, clap::Subcommand)]
enum Export {
    /// The person and everyone within --degree as GEDCOM 7.0.
    Gedcom(GedcomArgs),
}

#[derive(Debug, clap::Args)]
struct GedcomArgs {
    /// The person's IIN.
    iin: String,
    /// Births counted along a path, 1-6.
    #[arg(long, default_value_t = crate::resolve::relations::DEFAULT_DEGREE)]
    degree: u8,
    /// The date links are taken on [default: today in Kazakhstan].
    #[arg(long)]
    as_of: Option<String>,
    /// Why (as the X-Purpose header of the API: a code, then `; case=`,
    /// `; consent=`), recorded in the audit.
    #[arg(long)]
    purpose: String,
    /// Output file (`-` for standard output).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    snapshots: SnapshotArgs,
}

/// `kinship export gedcom`: through the read path like an API call, so
/// the lookup is audited.
async fn export_gedcom(args: &GedcomArgs) -> anyhow::Result<()> {
    let GedcomArgs {
        iin,
        degree,
        as_of,
        purpose,
        out,
        db,
        snapshots,
    } = args;
    let degree = *degree;
    let iin = crate::iin::Iin::parse(iin).map_err(|e| anyhow::anyhow!("the IIN: {e}"))?;
    if !(1..=crate::resolve::relations::MAX_DEGREE).contains(&degree) {
        anyhow::bail!(
            "--degree must be from 1 to {}",
            crate::resolve::relations::MAX_DEGREE
        );
    }
    let on = match as_of.as_deref() {
        Some(d) => crate::acts::parse_date(d)
            .ok_or_else(|| anyhow::anyhow!("--as-of must be a real date written YYYY-MM-DD"))?,
        None => crate::calendar::today(),
    };
    let purpose =
        crate::access::Purpose::parse(purpose).map_err(|e| anyhow::anyhow!("--purpose: {e}"))?;
    let ledger = Ledger::open(&db.db).await.context("opening the ledger")?;
    let (registry, _) = Registry::open_with(ledger, snapshots.place(&db.db).as_ref()).await?;
    // One lookup: its record straight into the database (a `serve` on the
    // same ledger holds the audit log's folder).
    registry.set_audit_log(None);
    let registry = Arc::new(registry);
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let client = registry
        .clients()
        .operator(&user)
        .await
        .map_err(|e| anyhow::anyhow!("the operator's client: {e}"))?;
    let caller = crate::access::Caller {
        client,
        purpose: Some(Arc::new(purpose)),
    };
    let reader = crate::query::Reader::new(registry.clone(), caller, "CLI export gedcom");
    let doc = match reader.gedcom(iin, on, degree).await {
        Ok(a) => a.value.0,
        Err(crate::query::ReadError::PersonUnknown) => {
            anyhow::bail!("the registry has no record of {}", iin.masked())
        }
        Err(e) => return Err(e.into()),
    };
    if out.as_os_str() == "-" {
        use std::io::Write;
        std::io::stdout().write_all(doc.as_bytes())?;
    } else {
        std::fs::write(out, doc).with_context(|| format!("writing {}", out.display()))?;
    }
    registry.ledger().close().await;
    Ok(())
}

/// Listens at once (so /healthz answers), builds the graph in the
/// background (from a snapshot when there is a good one), and reports ready
/// when it is built. With snapshots, writes one every `every` seconds when
/// records came in meanwhile, and one at shutdown.
async fn serve(
    db: &str,
    args: &HttpArgs,
    snapshots: Option<Snapshots>,
    every: u64,
) -> anyhow::Result<()> {
    let listen = &args.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let state = AppState::with_limits(args.limits())
        .with_min_seq_wait(std::time::Duration::from_millis(args.min_seq_wait_ms))
        .with_client_rate(args.client_rate, args.client_burst)
        .with_request_timeout(std::time::Duration::from_secs(args.request_timeout));
    let poll = std::time::Duration::from_millis(args.follow_poll_ms);
    let grace = std::time::Duration::from_secs(args.shutdown_grace);
    let issuer = match (&args.jwt_issuer, &args.jwt_keys) {
        (Some(iss), Some(keys)) => Some(crate::access::JwtIssuer::from_file(
            iss,
            &args.jwt_audience,
            keys,
        )?),
        _ => None,
    };
    let ledger = Ledger::open(db).await.context("opening the ledger")?;
    let building = {
        let (state, snapshots) = (state.clone(), snapshots.clone());
        let audit_log = args.audit_log.clone();
        tokio::spawn(async move {
            let (registry, _) = Registry::open_with(ledger, snapshots.as_ref()).await?;
            if let Some(i) = issuer {
                registry.clients().set_issuer(i);
            }
            if let Some(p) = audit_log {
                registry.set_audit_log(Some(p));
            } else if registry.ledger().backend() == crate::ledger::Backend::Postgres {
                registry.set_audit_log(snapshots.as_ref().map(|s| s.dir.join("audit-log")));
            }
            registry.start_audit().context("starting the audit")?;
            let registry = Arc::new(registry);
            registry.clients().spawn_refresh(CLIENTS_REFRESH);
            state.set_ready(registry.clone());
            tracing::info!("ready");
            // Other replicas' records (PostgreSQL); a no-op for SQLite.
            tokio::spawn(registry.clone().follow(poll));
            if let Some(s) = snapshots.filter(|_| every > 0) {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    snapshot_if_new(&registry, &s).await;
                }
            }
            Ok::<_, anyhow::Error>(())
        })
    };
    let server = http::serve(listener, state.clone(), grace);
    tokio::pin!(server);
    let mut building = building;
    let served = tokio::select! {
        r = &mut server => r.context("serving"),
        r = &mut building => {
            r.context("graph build task")?.context("building the graph from the ledger")?;
            server.await.context("serving")
        }
    };
    building.abort();
    if let Some(registry) = state.registry() {
        // What the log holds is moved in at the next start otherwise.
        if let Err(e) = registry.audit_settled().await {
            tracing::warn!(error = %e, "audit records stay in the log until the next start");
        }
    }
    if let (Some(s), Some(registry)) = (snapshots, state.registry()) {
        snapshot_if_new(registry, &s).await;
    }
    served
}

/// How often `serve` reads the clients again (added or revoked by
/// `kinship clients` in another process).
const CLIENTS_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Writes a snapshot when records were applied since the last one.
async fn snapshot_if_new(registry: &Arc<Registry>, s: &Snapshots) {
    if registry.applied_seq() == registry.snapshot_seq() {
        return;
    }
    match registry.snapshot(s).await {
        Ok(path) => tracing::info!(snapshot = %path.display(), "snapshot written"),
        Err(e) => tracing::error!(error = %e, "snapshot failed"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
