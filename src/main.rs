//! The `switchyard` command: `serve`, `migrate`, `keys rotate`, `openapi`.

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use switchyard::config::{CommonArgs, Config, ServeArgs, resolve_store};
use switchyard::model::client::SigningAlg;
use switchyard::{Application, StartupBanner};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "An open identity federation broker (OpenID Connect provider)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(CommonArgs),
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the Management API's OpenAPI document.
    Openapi,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(common) => {
            let (_, url) = resolve_store(&common)?;
            switchyard::store::Store::connect(&url).await?;
            println!(
                "schema is up to date ({})",
                switchyard::store::redact_url(&url)
            );
            Ok(())
        }
        Command::Keys { command } => keys(command).await,
        Command::Openapi => {
            println!("{}", switchyard::http::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let common = match &command {
        KeysCommand::Rotate { common, .. } | KeysCommand::List(common) => common,
    };
    let (_, url) = resolve_store(common)?;
    let store = switchyard::store::Store::connect(&url).await?;
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
            println!("rotated {}: current key is now {kid}", alg.as_str());
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
        println!(
            "{:<8} {:<9} {}  created {}{until}",
            key.alg, key.state, key.kid, key.created_at
        );
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_serve_args(&args)?;
    let app = Application::build(config).await?;
    print_banner(app.issuer(), app.local_addr(), &app.banner);
    app.run_until_stopped().await
}

fn print_banner(issuer: &str, addr: std::net::SocketAddr, banner: &StartupBanner) {
    let base = issuer.trim_end_matches('/');
    println!();
    println!("Switchyard is listening on {addr}");
    println!("  issuer       {issuer}");
    println!("  discovery    {base}/.well-known/openid-configuration");
    println!("  browser      {base}/");
    println!("  management   {base}/api/v2/  (OpenAPI: {base}/api/v2/openapi.json)");
    if let Some(cert) = &banner.dev_certificate {
        println!(
            "  dev TLS cert {}  (trust it: NODE_EXTRA_CA_CERTS={0}, curl --cacert {0})",
            cert.display()
        );
    }
    if let Some(id) = &banner.bootstrap_client_created {
        println!("  bootstrap machine client {id} created with every Management API scope");
    }
    if let Some(demo) = &banner.demo {
        println!();
        println!("Demo tenant created (shown once; secrets are stored hashed):");
        println!("  organizations       hoekstra, metahexa");
        println!(
            "  web app client      client_id={}  client_secret={}",
            demo.web_client_id, demo.web_client_secret
        );
        println!("                      callback http://localhost:3000/callback");
        println!(
            "  machine client      client_id={}  client_secret={}",
            demo.m2m_client_id, demo.m2m_client_secret
        );
        println!("                      audience {base}/api/v2/ (every Management API scope)");
        println!(
            "  demo user           {} / {}  (member of hoekstra)",
            demo.user_email, demo.user_password
        );
        println!();
        println!(
            "  log in:  {base}/authorize?client_id={}&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&response_type=code&scope=openid%20email%20profile&organization=hoekstra&state=try-it",
            demo.web_client_id
        );
        println!(
            "           (open it in a browser, log in as the demo user; the browser ends at the callback with ?code=…)"
        );
        println!(
            "  token:  curl --cacert <dev cert> -d grant_type=client_credentials -d client_id={} \\",
            demo.m2m_client_id
        );
        println!(
            "            -d client_secret=<secret> -d audience={base}/api/v2/ {base}/oauth/token"
        );
    }
    println!();
}
