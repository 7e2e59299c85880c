//! The `switchyard` command: `serve`, `migrate`, `keys rotate`, `secrets
//! rotate-kek`, `demo`, `openapi`.

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use switchyard::config::{
    CommonArgs, Config, DemoIdpConfig, LogFormat, ServeArgs, resolve_key_source,
    resolve_log_format, resolve_store,
};
use switchyard::demo_idp::{DemoIdp, DemoIdpLogin, StartedDemoIdp};
use switchyard::model::client::SigningAlg;
use switchyard::{Application, StartupBanner};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "An open identity federation broker (OpenID Connect provider)"
)]
struct Cli {
    /// How log lines are written (to stderr): `text`, or `json` (one
    /// object a line) for a log collector [default: `[log] format` in the
    /// configuration file, else text].
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

impl Command {
    /// The configuration file the command reads, if any.
    fn config_file(&self) -> Option<&std::path::Path> {
        let common = match self {
            Command::Serve(args) => &args.common,
            Command::Migrate(common)
            | Command::Demo(common)
            | Command::Keys {
                command: KeysCommand::Rotate { common, .. } | KeysCommand::List(common),
            }
            | Command::Secrets {
                command: SecretsCommand::RotateKek { common, .. },
            } => common,
            Command::Openapi => return None,
        };
        common.config.as_deref()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Create or upgrade the database schema, seal what an earlier version
    /// stored in the clear, then exit.
    Migrate(CommonArgs),
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the key-encryption key that seals secrets at rest.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Give the demo tenant's clients new secrets and its user a new
    /// password, and print them (the server prints them at its first start
    /// only). The old ones stop working.
    Demo(CommonArgs),
    /// Print the Management API's OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Re-seal every stored secret (signing keys, upstream client secrets)
    /// under a new key-encryption key, in one transaction. Stop the servers
    /// first: they keep the old key until restarted.
    ///
    /// Without --new-key-file a new key is made as `<key file>.new` and
    /// replaces the configured key file once everything is re-sealed: start
    /// the server again as before. With --new-key-file FILE the key in FILE
    /// (made there if missing) is used: point `key_encryption_key_file`
    /// (or SWITCHYARD_KEY_ENCRYPTION_KEY_FILE, --key-encryption-key-file) at
    /// it, or put its content in SWITCHYARD_KEY_ENCRYPTION_KEY, on every node.
    /// The old key no longer opens anything; backups taken before still need it.
    RotateKek {
        #[command(flatten)]
        common: CommonArgs,
        /// The new key-encryption key: 32 bytes or their base64; made if missing.
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Rotate: next becomes current, current previous. A previous key stays
    /// in the JWKS until every token it signed can have expired. Running
    /// servers pick the change up at once (PostgreSQL) or within a minute.
    Rotate {
        #[command(flatten)]
        common: CommonArgs,
        /// Only this algorithm (RS256, ES256, EdDSA); default all.
        #[arg(long)]
        alg: Option<String>,
    },
    /// List the live keys.
    List(CommonArgs),
}

/// `println!` that does not panic when stdout is closed early
/// (`switchyard openapi | head`): a closed pipe ends the output quietly, as
/// other command-line tools do; any other write error is returned.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        match writeln!(std::io::stdout().lock(), $($arg)*) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
            _ => Ok(()),
        }
    }};
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(resolve_log_format(
        cli.log_format,
        cli.command.config_file(),
    )?);
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(common) => {
            let (_, url) = resolve_store(&common)?;
            open_store(&common).await?.close().await;
            say!(
                "schema is up to date ({})",
                switchyard::store::redact_url(&url)
            )?;
            Ok(())
        }
        Command::Keys { command } => keys(command).await,
        Command::Demo(common) => demo(&common).await,
        Command::Secrets {
            command:
                SecretsCommand::RotateKek {
                    common,
                    new_key_file,
                },
        } => rotate_kek(&common, new_key_file.as_deref()).await,
        Command::Openapi => {
            say!("{}", switchyard::http::openapi().to_pretty_json()?)?;
            Ok(())
        }
    }
}

/// Log lines go to stderr (stdout carries what a command prints), in
/// colour only when stderr is a terminal: escape codes would litter a file
/// or a journal.
fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(format == LogFormat::Text && std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => logs.init(),
        // The event's fields at the top level, the request's span (method, path, id) under `span`.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let common = match &command {
        KeysCommand::Rotate { common, .. } | KeysCommand::List(common) => common,
    };
    let store = open_store(common).await?;
    let ring = switchyard::keys::KeyRing::load_or_init(&store).await?;
    if let KeysCommand::Rotate { alg, .. } = &command {
        let algs: Vec<SigningAlg> = match alg {
            Some(name) => vec![SigningAlg::parse(name).ok_or_else(|| {
                anyhow::anyhow!("unknown algorithm {name}; use RS256, ES256 or EdDSA")
            })?],
            None => SigningAlg::ALL.to_vec(),
        };
        for alg in algs {
            let kid = ring
                .rotate(&store, alg, switchyard::flows::LONGEST_FIXED_TOKEN_LIFETIME)
                .await?;
            say!("rotated {}: current key is now {kid}", alg.as_str())?;
            // Running nodes re-read their keys now rather than within a minute.
            if let Err(e) = store
                .notify_change(&switchyard::cache::Change::SigningKeys.to_message())
                .await
            {
                eprintln!(
                    "could not tell running nodes of the rotation ({e}); they re-read keys every minute"
                );
            }
        }
    }
    for key in ring.summaries() {
        let until = key
            .verifies_until
            .map(|until| format!("  verifies until {until}"))
            .unwrap_or_default();
        say!(
            "{:<8} {:<9} {}  created {}{until}",
            key.alg,
            key.state,
            key.kid,
            key.created_at
        )?;
    }
    Ok(())
}

/// The store as the configuration names it, its secrets opened with the
/// configured key-encryption key.
async fn open_store(common: &CommonArgs) -> anyhow::Result<switchyard::store::Store> {
    let (data_dir, url) = resolve_store(common)?;
    switchyard::open_store(
        &data_dir,
        &url,
        &resolve_key_source(common)?,
        switchyard::clock::Clock::system(),
    )
    .await
}

async fn rotate_kek(
    common: &CommonArgs,
    new_key_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let (data_dir, url) = resolve_store(common)?;
    let rotation = switchyard::rotate_key_encryption_key(
        &data_dir,
        &url,
        &resolve_key_source(common)?,
        new_key_file,
    )
    .await?;
    say!(
        "re-sealed {} signing keys, {} connection secrets and {} SAML SP keys: key-encryption key {} replaces {}",
        rotation.resealed.signing_keys,
        rotation.resealed.connection_secrets,
        rotation.resealed.saml_sp_keys,
        rotation.new_key_id,
        rotation.old_key_id
    )?;
    if let Some(idp) = &rotation.demo_idp_resealed {
        say!(
            "re-sealed the demo IdP's {} signing keys and {} connection secrets too",
            idp.signing_keys,
            idp.connection_secrets
        )?;
    }
    if let Some(previous) = &rotation.previous_key_file {
        say!(
            "the replaced key is kept in {}: backups taken before the rotation need it",
            previous.display()
        )?;
    }
    if rotation.replaced_configured_file {
        say!(
            "{} now holds the new key: start the server as before",
            rotation.new_key_file.display()
        )?;
    } else {
        say!(
            "the new key is in {}: configure it on every node (key_encryption_key_file, \
             SWITCHYARD_KEY_ENCRYPTION_KEY_FILE or --key-encryption-key-file) before starting them",
            rotation.new_key_file.display()
        )?;
    }
    Ok(())
}

/// `switchyard demo`: the demo tenant's new credentials, printed as the
/// first start prints them.
async fn demo(common: &CommonArgs) -> anyhow::Result<()> {
    let store = open_store(common).await?;
    let demo = switchyard::seed::reset_demo_credentials(&store).await?;
    let (data_dir, _) = resolve_store(common)?;
    let idp = switchyard::demo_idp::reset(&data_dir, &resolve_key_source(common)?, &store).await;
    store.close().await;
    let idp = idp?;
    say!()?;
    let heading = match idp {
        Some(_) => {
            "Demo tenant and demo IdP: new secrets and passwords (shown once; the old ones no longer work):"
        }
        None => "Demo tenant: new secrets and password (shown once; the old ones no longer work):",
    };
    print_demo(heading, &demo, idp.as_ref())?;
    say!(
        "  (a server already running takes the new client secrets within 30 s, at once on PostgreSQL)"
    )?;
    say!()?;
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::from_serve_args(&args)?;
    // Bound first: the server's outbound client admits exactly its origin.
    let demo_idp = DemoIdpConfig::from_serve_args(&args, &config)?
        .map(|idp| DemoIdp::bind(&idp, config.issuer.as_deref()))
        .transpose()?;
    if let Some(idp) = &demo_idp {
        config.outbound.admitted_origins.push(idp.origin());
    }
    let app = Application::build(config.clone()).await?;
    // The demo IdP is a convenience: one that cannot start (its store sealed
    // under another key, say) leaves the server running without it.
    let idp = match demo_idp {
        Some(idp) => idp.start(&config, &app).await.unwrap_or_else(|e| {
            tracing::warn!(
                error = format!("{e:#}"),
                "the demo IdP does not run: run `switchyard demo` (it removes a store that does \
                 not open) or delete {}, and the next start makes a new one",
                switchyard::demo_idp::store_file(&config.data_dir).display()
            );
            None
        }),
        None => None,
    };
    if idp.is_none() {
        // Its origin was admitted for it alone.
        app.withdraw_admitted_origins();
    }
    print_banner(app.issuer(), app.local_addr(), &app.banner, idp.as_ref())?;
    if config.demo && app.banner.demo.is_none() {
        if let Some(login) = idp.as_ref().and_then(|idp| idp.login.as_ref()) {
            print_demo_idp_login(app.issuer(), login)?;
            say!()?;
        }
        print_demo_reset_hint(&args.common, &config.data_dir)?;
    }
    match idp {
        Some(idp) => {
            tokio::try_join!(app.run_until_stopped(), idp.app.run_until_stopped())?;
            Ok(())
        }
        None => app.run_until_stopped().await,
    }
}

fn print_banner(
    issuer: &str,
    addr: std::net::SocketAddr,
    banner: &StartupBanner,
    idp: Option<&StartedDemoIdp>,
) -> std::io::Result<()> {
    let base = issuer.trim_end_matches('/');
    say!()?;
    say!("Switchyard is listening on {addr}")?;
    say!("  issuer       {issuer}")?;
    say!("  discovery    {base}/.well-known/openid-configuration")?;
    say!("  browser      {base}/")?;
    say!("  management   {base}/api/v2/  (OpenAPI: {base}/api/v2/openapi.json)")?;
    if let Some(cert) = &banner.dev_certificate {
        say!(
            "  dev TLS cert {}  (trust it: NODE_EXTRA_CA_CERTS={0}, curl --cacert {0})",
            cert.display()
        )?;
    }
    if let Some(idp) = idp {
        say!(
            "  demo IdP     {}  (metahexa's corporate IdP for the demo, run by this process; off: --no-demo-idp)",
            idp.issuer
        )?;
        say!(
            "               the server's own requests may reach this origin (other loopback ports only as its issuer is on localhost)"
        )?;
    }
    if let Some(id) = &banner.bootstrap_client_created {
        say!("  bootstrap machine client {id} created with every Management API scope")?;
    }
    if let Some(demo) = &banner.demo {
        say!()?;
        print_demo(
            "Demo tenant created (shown once; secrets are stored hashed):",
            demo,
            idp.and_then(|idp| idp.login.as_ref()),
        )?;
    }
    say!()
}

/// The demo tenant's credentials under `heading`: at the first start, and
/// by `switchyard demo`; with the demo IdP's user when it has one.
fn print_demo(
    heading: &str,
    demo: &switchyard::seed::DemoTenant,
    idp: Option<&DemoIdpLogin>,
) -> std::io::Result<()> {
    let base = demo.issuer.trim_end_matches('/');
    say!("{heading}")?;
    say!("  organizations       hoekstra, metahexa")?;
    say!(
        "  web app client      client_id={}  client_secret={}",
        demo.web_client_id,
        demo.web_client_secret
    )?;
    say!(
        "                      callback http://localhost:3000/callback, authenticates with client_secret_basic"
    )?;
    say!(
        "  machine client      client_id={}  client_secret={}",
        demo.m2m_client_id,
        demo.m2m_client_secret
    )?;
    say!("                      audience {base}/api/v2/ (every Management API scope)")?;
    say!(
        "  demo user           {} / {}  (member of hoekstra)",
        demo.user_email,
        demo.user_password
    )?;
    if let Some(idp) = idp {
        print_idp_user(idp)?;
    }
    say!()?;
    say!(
        "  log in:  {}",
        authorize_url(base, &demo.web_client_id, "hoekstra", "try-it")
    )?;
    say!(
        "           (open it in a browser, log in as the demo user; the browser ends at the callback with ?code=…)"
    )?;
    if idp.is_some() {
        print_federated_login(base, &demo.web_client_id)?;
    }
    // Pasted into a shell, the README's curl commands take it from there.
    say!(
        "  shell:   ID={} SECRET={}  # the machine client, for the README's curl commands",
        demo.m2m_client_id,
        demo.m2m_client_secret
    )
}

/// The demo web app's login at `organization`, as the banner prints it.
fn authorize_url(base: &str, client_id: &str, organization: &str, state: &str) -> String {
    format!(
        "{base}/authorize?client_id={client_id}&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&response_type=code&scope=openid%20email%20profile&organization={organization}&state={state}"
    )
}

fn print_idp_user(idp: &DemoIdpLogin) -> std::io::Result<()> {
    say!(
        "  demo IdP user       {} / {}  (at the demo IdP {}; metahexa logs in there)",
        idp.user_email,
        idp.user_password,
        idp.issuer
    )
}

fn print_federated_login(base: &str, web_client_id: &str) -> std::io::Result<()> {
    say!(
        "  via IdP: {}",
        authorize_url(base, web_client_id, "metahexa", "try-sso")
    )?;
    say!(
        "           (open it, press \"Continue with {}\", log in at the demo IdP as the demo IdP user; back to the callback with ?code=…)",
        switchyard::demo_idp::CONNECTION_DISPLAY_NAME
    )
}

/// The demo IdP's user when the IdP is new but the demo tenant is not (a
/// data directory of a Switchyard without it).
fn print_demo_idp_login(issuer: &str, idp: &DemoIdpLogin) -> std::io::Result<()> {
    say!("Demo IdP created (shown once; the password is stored hashed):")?;
    print_idp_user(idp)?;
    say!(
        "  (log in to metahexa with the demo web app, press \"Continue with {}\": {}authorize?…&organization=metahexa)",
        switchyard::demo_idp::CONNECTION_DISPLAY_NAME,
        issuer
    )
}

/// On a restart the demo's secrets are not shown again (only their hashes
/// are stored): say so, and the command that makes new ones for this
/// server's store, ready to paste.
fn print_demo_reset_hint(common: &CommonArgs, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut words = vec![exe.to_string_lossy().into_owned(), "demo".to_owned()];
    if let Some(config) = &common.config {
        words.push("--config".to_owned());
        words.push(std::path::absolute(config)?.to_string_lossy().into_owned());
    }
    words.push("--data-dir".to_owned());
    words.push(
        std::path::absolute(data_dir)?
            .to_string_lossy()
            .into_owned(),
    );
    let command = shlex::try_join(words.iter().map(String::as_str))?;
    say!("Demo tenant: its secrets and password were shown at its first start only. New ones:")?;
    say!("  {command}")?;
    if common.database_url.is_some() || common.key_encryption_key_file.is_some() {
        say!("  (with the --database-url and --key-encryption-key-file given to this server)")?;
    }
    say!()?;
    Ok(())
}
