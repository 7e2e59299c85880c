//! Configuration: a TOML file, overridden by environment variables, overridden
//! by command-line flags (clap reads both; a flag wins over its variable).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::model::secret::Secret;
use crate::outbound::OutboundConfig;
use crate::secrets::files::{KEY_ENV, KeySource};
use crate::transport::ConnectionLimits;

/// Options shared by every subcommand that opens the store.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, env = "SWITCHYARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite file, the dev TLS certificate and other state.
    #[arg(long, env = "SWITCHYARD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: `sqlite://FILE` (default: `<data dir>/switchyard.db`) or `postgres://…`.
    #[arg(
        long,
        env = "SWITCHYARD_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// File holding the key-encryption key that seals private keys and
    /// upstream secrets in the database [default: `<data dir>/key-encryption-key`,
    /// made on first start]. Or the key itself, base64, in `SWITCHYARD_KEY_ENCRYPTION_KEY`.
    #[arg(long, env = crate::secrets::files::KEY_FILE_ENV, value_name = "FILE")]
    pub key_encryption_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on.
    #[arg(long, env = "SWITCHYARD_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Public issuer URL (default: https://localhost:<port>/).
    #[arg(long, env = "SWITCHYARD_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,
    /// The tenant's name, in SAML entity IDs (`urn:auth0:<tenant>:<connection>`)
    /// [default: the issuer host's first label, `switchyard` on localhost].
    #[arg(long, env = "SWITCHYARD_TENANT_NAME", value_name = "NAME")]
    pub tenant_name: Option<String>,
    /// TLS certificate chain (PEM). Without it, a dev certificate is generated.
    #[arg(
        long,
        env = "SWITCHYARD_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(
        long,
        env = "SWITCHYARD_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP: only behind a TLS-terminating proxy.
    #[arg(long, env = "SWITCHYARD_INSECURE_HTTP", conflicts_with = "tls_cert")]
    pub insecure_http: bool,
    /// Take the client address from `X-Forwarded-For` (as appended by the proxy
    /// in front): only when every request comes through a trusted proxy.
    #[arg(long, env = "SWITCHYARD_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Do not seed the demo tenant on first start.
    #[arg(long, env = "SWITCHYARD_NO_DEMO")]
    pub no_demo: bool,
    /// Do not run the demo IdP ("Metahexa's corporate IdP", a second
    /// Switchyard in this process that the demo's `metahexa` logs in
    /// through) [default: it runs with the demo tenant when the issuer is
    /// on localhost].
    #[arg(long, env = "SWITCHYARD_NO_DEMO_IDP")]
    pub no_demo_idp: bool,
    /// Where the demo IdP listens, plain HTTP on loopback only
    /// [default: 127.0.0.1, the port after the server's].
    #[arg(long, env = "SWITCHYARD_DEMO_IDP_LISTEN", value_name = "ADDR:PORT")]
    pub demo_idp_listen: Option<SocketAddr>,
    /// Machine-to-machine client granted every Management API scope, created once.
    #[arg(long, env = "SWITCHYARD_BOOTSTRAP_CLIENT_ID", value_name = "ID")]
    pub bootstrap_client_id: Option<String>,
    #[arg(
        long,
        env = "SWITCHYARD_BOOTSTRAP_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        requires = "bootstrap_client_id"
    )]
    pub bootstrap_client_secret: Option<String>,
    /// Seconds a client has to send a request's headers [default: 10].
    #[arg(long, env = "SWITCHYARD_HEADER_READ_TIMEOUT", value_name = "SECS")]
    pub header_read_timeout: Option<u64>,
    /// Seconds a connection may stay silent before it is closed [default: 60].
    #[arg(long, env = "SWITCHYARD_IDLE_TIMEOUT", value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Client connections open at once; more are closed [default: 1000].
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Networks the server's own requests (back-channel logout, upstream
    /// IdPs) may reach although they are not public, comma-separated
    /// (`10.0.0.0/8,fd00::/8`): an intranet's IdPs [default: none].
    #[arg(
        long,
        env = "SWITCHYARD_OUTBOUND_ALLOWED_NETWORKS",
        value_name = "CIDR,…",
        value_delimiter = ','
    )]
    pub outbound_allowed_networks: Option<Vec<ipnet::IpNet>>,
    /// Serve Prometheus metrics (`/metrics`, beside `/healthz` and
    /// `/readyz`) on this address, plain HTTP: a port for the scraper
    /// alone, not the public one [default: not served].
    #[arg(long, env = "SWITCHYARD_METRICS_LISTEN", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// The DNS server that discovery domains' TXT records are looked up at
    /// [default: the system's resolvers, from /etc/resolv.conf].
    #[arg(long, env = "SWITCHYARD_DNS_RESOLVER", value_name = "ADDR:PORT")]
    pub dns_resolver: Option<SocketAddr>,
    /// Days the TXT record of a discovery domain verified by DNS may be
    /// missing before the domain is demoted to pending [default: 7].
    #[arg(
        long,
        env = "SWITCHYARD_DOMAIN_VERIFICATION_GRACE_DAYS",
        value_name = "DAYS"
    )]
    pub domain_verification_grace_days: Option<u64>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// The file format; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<SocketAddr>,
    issuer: Option<String>,
    tenant_name: Option<String>,
    demo: Option<bool>,
    demo_idp: Option<FileDemoIdp>,
    trust_forwarded_for: Option<bool>,
    tls: Option<FileTls>,
    limits: Option<FileLimits>,
    secrets: Option<FileSecrets>,
    outbound: Option<FileOutbound>,
    metrics: Option<FileMetrics>,
    log: Option<FileLog>,
    dns: Option<FileDns>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDns {
    resolver: Option<SocketAddr>,
    grace_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDemoIdp {
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    format: Option<LogFormat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSecrets {
    key_encryption_key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOutbound {
    allowed_networks: Option<Vec<ipnet::IpNet>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    header_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    insecure_http: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// A self-signed certificate for localhost, generated once in the data dir.
    Dev,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Plain HTTP, behind a TLS-terminating proxy.
    InsecureHttp,
}

#[derive(Debug, Clone)]
pub struct BootstrapClient {
    pub client_id: String,
    pub client_secret: Secret,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub listen: SocketAddr,
    /// `None`: derived from the bound port once listening.
    pub issuer: Option<String>,
    /// `None`: derived from the issuer (`Issuer::default_tenant_name`).
    pub tenant_name: Option<String>,
    pub tls: TlsMode,
    pub demo: bool,
    pub bootstrap_client: Option<BootstrapClient>,
    /// Client addresses come from `X-Forwarded-For` (a trusted proxy in front).
    pub trust_forwarded_for: bool,
    pub connection_limits: ConnectionLimits,
    /// Where the key-encryption key comes from.
    pub key_encryption_key: KeySource,
    /// Where the server's own requests may go, besides public hosts.
    pub outbound: OutboundConfig,
    /// Where `/metrics` is served (plain HTTP), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// How discovery domains are verified.
    pub dns: DnsConfig,
}

/// DNS verification of discovery domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Where TXT records are looked up; `None`: the system's resolvers.
    pub resolver: Option<SocketAddr>,
    /// How long the record of a domain verified by DNS may be missing
    /// before the domain is demoted to pending.
    pub grace: Duration,
    /// Whether this node runs the periodic pass (tests run it themselves,
    /// so that none runs behind their back).
    pub periodic_checks: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            resolver: None,
            grace: crate::flows::domain_verification::DEFAULT_GRACE,
            periodic_checks: true,
        }
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

fn resolve_data_dir(common: &CommonArgs, file: &FileConfig) -> PathBuf {
    common
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("data"))
}

fn resolve_database_url(common: &CommonArgs, file: &FileConfig, data_dir: &Path) -> String {
    common
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| crate::store::sqlite_url_for(&data_dir.join("switchyard.db")))
}

/// The store location only (for `migrate` and `keys`).
pub fn resolve_store(common: &CommonArgs) -> anyhow::Result<(PathBuf, String)> {
    let file = read_file(common.config.as_deref())?;
    let data_dir = resolve_data_dir(common, &file);
    let url = resolve_database_url(common, &file, &data_dir);
    Ok((data_dir, url))
}

/// The log format: the flag (or `SWITCHYARD_LOG_FORMAT`), else the
/// configuration file's `[log] format`, else text.
pub fn resolve_log_format(
    flag: Option<LogFormat>,
    config_file: Option<&Path>,
) -> anyhow::Result<LogFormat> {
    if let Some(format) = flag {
        return Ok(format);
    }
    let file = read_file(config_file)?;
    Ok(file.log.and_then(|log| log.format).unwrap_or_default())
}

/// Where the key-encryption key comes from (for every command that opens
/// the store).
pub fn resolve_key_source(common: &CommonArgs) -> anyhow::Result<KeySource> {
    let file = read_file(common.config.as_deref())?;
    key_source(common, &file, std::env::var(KEY_ENV).ok())
}

/// The file of the flag (or its variable), else the key in [`KEY_ENV`],
/// else the configuration file's, else the data directory's. A file and
/// the key itself both given by the environment is a mistake, not a choice.
fn key_source(
    common: &CommonArgs,
    file: &FileConfig,
    env_key: Option<String>,
) -> anyhow::Result<KeySource> {
    let env_key = env_key.filter(|key| !key.trim().is_empty());
    Ok(match (&common.key_encryption_key_file, env_key) {
        (Some(_), Some(_)) => {
            bail!("both a key-encryption key file and {KEY_ENV} are given: keep one")
        }
        (Some(path), None) => KeySource::File(path.clone()),
        (None, Some(key)) => KeySource::Env(Secret::new(key)),
        (None, None) => match file
            .secrets
            .as_ref()
            .and_then(|secrets| secrets.key_encryption_key_file.clone())
        {
            Some(path) => KeySource::File(path),
            None => KeySource::DataDir,
        },
    })
}

impl Config {
    pub fn from_serve_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = read_file(args.common.config.as_deref())?;
        let data_dir = resolve_data_dir(&args.common, &file);
        let database_url = resolve_database_url(&args.common, &file, &data_dir);
        let listen = match args.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse()?,
        };
        let key_encryption_key = key_source(&args.common, &file, std::env::var(KEY_ENV).ok())?;
        let issuer = args.issuer.clone().or(file.issuer);
        if let Some(issuer) = &issuer {
            check_issuer(issuer)?;
        }
        let tenant_name = args.tenant_name.clone().or(file.tenant_name);
        if let Some(name) = &tenant_name {
            check_tenant_name(name)?;
        }
        let file_tls = file.tls.unwrap_or_default();
        let cert = args.tls_cert.clone().or(file_tls.cert);
        let key = args.tls_key.clone().or(file_tls.key);
        let tls = match (
            cert,
            key,
            args.insecure_http || file_tls.insecure_http.unwrap_or(false),
        ) {
            (Some(_), Some(_), true) => {
                bail!("TLS certificate and insecure HTTP are mutually exclusive")
            }
            (Some(cert), Some(key), false) => TlsMode::Files { cert, key },
            (Some(_), None, _) | (None, Some(_), _) => {
                bail!("a TLS certificate needs its key, and a key its certificate")
            }
            (None, None, true) => TlsMode::InsecureHttp,
            (None, None, false) => TlsMode::Dev,
        };
        let bootstrap_client = match (&args.bootstrap_client_id, &args.bootstrap_client_secret) {
            (Some(id), Some(secret)) => {
                if secret.len() < 16 {
                    bail!("SWITCHYARD_BOOTSTRAP_CLIENT_SECRET must be at least 16 characters");
                }
                Some(BootstrapClient {
                    client_id: id.clone(),
                    client_secret: secret.clone().into(),
                })
            }
            (Some(_), None) => bail!(
                "SWITCHYARD_BOOTSTRAP_CLIENT_ID is set but SWITCHYARD_BOOTSTRAP_CLIENT_SECRET is not"
            ),
            _ => None,
        };
        let connection_limits = resolve_limits(args, file.limits.unwrap_or_default())?;
        let outbound = OutboundConfig {
            allowed_networks: args
                .outbound_allowed_networks
                .clone()
                .or(file.outbound.and_then(|outbound| outbound.allowed_networks))
                .unwrap_or_default(),
            admitted_origins: Vec::new(),
        };
        let metrics_listen = args
            .metrics_listen
            .or(file.metrics.and_then(|metrics| metrics.listen));
        let file_dns = file.dns.unwrap_or_default();
        let grace_days = args
            .domain_verification_grace_days
            .or(file_dns.grace_days)
            .unwrap_or(7);
        if grace_days == 0 {
            bail!("the domain verification grace period must be at least 1 day");
        }
        let dns = DnsConfig {
            resolver: args.dns_resolver.or(file_dns.resolver),
            grace: Duration::from_secs(grace_days.saturating_mul(24 * 3600)),
            periodic_checks: true,
        };
        Ok(Config {
            dns,
            metrics_listen,
            key_encryption_key,
            connection_limits,
            outbound,
            data_dir,
            database_url,
            listen,
            issuer,
            tenant_name,
            tls,
            demo: !args.no_demo && file.demo.unwrap_or(true),
            bootstrap_client,
            trust_forwarded_for: args.trust_forwarded_for
                || file.trust_forwarded_for.unwrap_or(false),
        })
    }
}

/// The demo IdP: a second Switchyard in the serving process, standing in
/// for the demo organization `metahexa`'s corporate IdP (see `demo_idp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoIdpConfig {
    /// Loopback only: nothing but this machine's browser and server need it.
    pub listen: SocketAddr,
}

impl DemoIdpConfig {
    /// Whether and where the demo IdP runs for `config`, resolved from the
    /// same flags, variables and file. It runs only with the demo tenant
    /// (whose `metahexa` logs in through it), and by default only when the
    /// issuer is on localhost: a server others reach has a public issuer,
    /// so a production configuration never starts it unless it says
    /// `[demo_idp] enabled = true`.
    pub fn from_serve_args(args: &ServeArgs, config: &Config) -> anyhow::Result<Option<Self>> {
        let file = read_file(args.common.config.as_deref())?
            .demo_idp
            .unwrap_or_default();
        let local_issuer = config.issuer.as_deref().is_none_or(|issuer| {
            url::Url::parse(issuer).is_ok_and(|url| crate::model::is_loopback_host(&url))
        });
        if !config.demo || args.no_demo_idp || !file.enabled.unwrap_or(local_issuer) {
            return Ok(None);
        }
        let listen = match args.demo_idp_listen.or(file.listen) {
            Some(listen) => listen,
            // The port after the server's (8444 beside 8443); any free one
            // beside a server on a port of the system's choosing.
            None => SocketAddr::new(
                std::net::Ipv4Addr::LOCALHOST.into(),
                match config.listen.port() {
                    0 => 0,
                    port => port.checked_add(1).unwrap_or(0),
                },
            ),
        };
        if !listen.ip().is_loopback() {
            bail!("the demo IdP listens on loopback only: {listen} is not a loopback address");
        }
        Ok(Some(DemoIdpConfig { listen }))
    }
}

fn resolve_limits(args: &ServeArgs, file: FileLimits) -> anyhow::Result<ConnectionLimits> {
    let defaults = ConnectionLimits::default();
    let seconds =
        |flag: Option<u64>, file: Option<u64>, default: Duration, name: &str| match flag.or(file) {
            None => Ok(default),
            Some(0) => bail!("{name} must be at least one second"),
            Some(secs) => Ok(Duration::from_secs(secs)),
        };
    let limits = ConnectionLimits {
        header_read_timeout: seconds(
            args.header_read_timeout,
            file.header_read_timeout_secs,
            defaults.header_read_timeout,
            "header_read_timeout",
        )?,
        idle_timeout: seconds(
            args.idle_timeout,
            file.idle_timeout_secs,
            defaults.idle_timeout,
            "idle_timeout",
        )?,
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(defaults.max_connections),
    };
    if limits.max_connections == 0 {
        bail!("max_connections must be at least 1");
    }
    Ok(limits)
}

/// A tenant name goes into URNs: lowercase letters, digits and dashes.
fn check_tenant_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        bail!("invalid tenant name {name:?}: lowercase letters, digits and dashes only");
    }
    Ok(())
}

/// The issuer is compared byte for byte by relying parties: an absolute
/// https URL (http only for loopback) without query or fragment.
pub fn check_issuer(issuer: &str) -> anyhow::Result<()> {
    let url = crate::model::check_url("issuer", issuer, false)
        .map_err(|e| anyhow::anyhow!("invalid issuer: {e}"))?;
    if url.query().is_some() {
        bail!("invalid issuer: must not contain a query");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()))?;
        Config::from_serve_args(&cli.serve)
    }

    #[test]
    fn a_tenant_name_fits_in_a_urn() -> anyhow::Result<()> {
        assert_eq!(
            parse(&["--tenant-name", "dev-acme-1"])?
                .tenant_name
                .as_deref(),
            Some("dev-acme-1")
        );
        assert_eq!(parse(&[])?.tenant_name, None);
        for refused in ["Acme", "a:b", "", "a b"] {
            assert!(parse(&["--tenant-name", refused]).is_err(), "{refused:?}");
        }
        Ok(())
    }

    #[test]
    fn defaults_serve_dev_tls_on_8443_with_sqlite_in_data_dir() -> anyhow::Result<()> {
        let config = parse(&["--data-dir", "/tmp/sy"])?;
        assert_eq!(config.listen.port(), 8443);
        assert_eq!(config.tls, TlsMode::Dev);
        assert!(config.demo);
        assert!(!config.trust_forwarded_for);
        assert_eq!(config.connection_limits, ConnectionLimits::default());
        assert!(config.outbound.allowed_networks.is_empty());
        assert_eq!(config.metrics_listen, None);
        assert_eq!(
            config.database_url,
            "sqlite:///tmp/sy/switchyard.db?mode=rwc"
        );
        Ok(())
    }

    #[test]
    fn file_values_are_overridden_by_flags() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("switchyard.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\ntrust_forwarded_for = true\nissuer = \"https://id.example.com/\"\ndemo = false\n[tls]\ninsecure_http = true\n[limits]\nheader_read_timeout_secs = 5\nmax_connections = 64\n[outbound]\nallowed_networks = [\"10.0.0.0/8\", \"fd00::/8\"]\n[metrics]\nlisten = \"127.0.0.1:9464\"\n[log]\nformat = \"json\"\n",
        )?;
        let path = path.to_string_lossy().to_string();
        let config = parse(&["--config", &path])?;
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.metrics_listen, Some("127.0.0.1:9464".parse()?));
        assert_eq!(
            resolve_log_format(None, Some(Path::new(&path)))?,
            LogFormat::Json
        );
        assert_eq!(
            resolve_log_format(Some(LogFormat::Text), Some(Path::new(&path)))?,
            LogFormat::Text
        );
        assert_eq!(resolve_log_format(None, None)?, LogFormat::Text);
        assert_eq!(
            config.outbound.allowed_networks,
            ["10.0.0.0/8".parse()?, "fd00::/8".parse()?]
        );
        assert_eq!(config.issuer.as_deref(), Some("https://id.example.com/"));
        assert!(!config.demo);
        assert_eq!(config.tls, TlsMode::InsecureHttp);
        assert!(config.trust_forwarded_for);
        assert_eq!(
            config.connection_limits.header_read_timeout,
            Duration::from_secs(5)
        );
        assert_eq!(config.connection_limits.max_connections, 64);
        assert_eq!(
            config.connection_limits.idle_timeout,
            Duration::from_secs(60)
        );
        let config = parse(&[
            "--config",
            &path,
            "--listen",
            "127.0.0.1:9001",
            "--header-read-timeout",
            "7",
            "--outbound-allowed-networks",
            "192.168.10.0/24,172.16.0.0/12",
            "--metrics-listen",
            "127.0.0.1:9465",
        ])?;
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.metrics_listen, Some("127.0.0.1:9465".parse()?));
        assert_eq!(
            config.outbound.allowed_networks,
            ["192.168.10.0/24".parse()?, "172.16.0.0/12".parse()?]
        );
        assert_eq!(
            config.connection_limits.header_read_timeout,
            Duration::from_secs(7)
        );
        Ok(())
    }

    #[test]
    fn the_key_encryption_key_comes_from_flag_env_file_or_data_dir() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("switchyard.toml");
        std::fs::write(
            &path,
            "[secrets]\nkey_encryption_key_file = \"/etc/switchyard/kek\"\n",
        )?;
        let file = read_file(Some(&path))?;
        let common = |flag: Option<&str>| CommonArgs {
            key_encryption_key_file: flag.map(PathBuf::from),
            ..CommonArgs::default()
        };
        assert_eq!(
            key_source(&common(None), &FileConfig::default(), None)?,
            KeySource::DataDir
        );
        assert_eq!(
            key_source(&common(None), &file, None)?,
            KeySource::File("/etc/switchyard/kek".into())
        );
        assert_eq!(
            key_source(&common(None), &file, Some("a2V5".into()))?,
            KeySource::Env(Secret::new("a2V5"))
        );
        assert_eq!(
            key_source(&common(Some("/run/kek")), &file, None)?,
            KeySource::File("/run/kek".into())
        );
        assert!(key_source(&common(Some("/run/kek")), &file, Some("a2V5".into())).is_err());
        Ok(())
    }

    /// Where the demo IdP runs, if it does, for `args`.
    fn demo_idp(args: &[&str]) -> anyhow::Result<Option<SocketAddr>> {
        let cli = Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()))?;
        let config = Config::from_serve_args(&cli.serve)?;
        Ok(DemoIdpConfig::from_serve_args(&cli.serve, &config)?.map(|idp| idp.listen))
    }

    #[test]
    fn the_demo_idp_runs_with_the_demo_tenant_of_a_localhost_issuer_only() -> anyhow::Result<()> {
        assert_eq!(demo_idp(&[])?, Some("127.0.0.1:8444".parse()?));
        assert_eq!(
            demo_idp(&["--listen", "127.0.0.1:0"])?,
            Some("127.0.0.1:0".parse()?)
        );
        assert_eq!(
            demo_idp(&[
                "--issuer",
                "https://localhost:9443/",
                "--listen",
                "[::1]:9443"
            ])?,
            Some("127.0.0.1:9444".parse()?)
        );
        assert_eq!(
            demo_idp(&["--demo-idp-listen", "[::1]:7000"])?,
            Some("[::1]:7000".parse()?)
        );
        // Off: asked so, no demo tenant, or a public issuer (production).
        assert_eq!(demo_idp(&["--no-demo-idp"])?, None);
        assert_eq!(demo_idp(&["--no-demo"])?, None);
        assert_eq!(demo_idp(&["--issuer", "https://id.example.com/"])?, None);
        // A file may turn it on for a public issuer, or off.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("switchyard.toml");
        std::fs::write(
            &path,
            "issuer = \"https://id.example.com/\"\n[demo_idp]\nenabled = true\nlisten = \"127.0.0.1:9000\"\n",
        )?;
        let file = path.to_string_lossy().to_string();
        assert_eq!(
            demo_idp(&["--config", &file])?,
            Some("127.0.0.1:9000".parse()?)
        );
        assert_eq!(demo_idp(&["--config", &file, "--no-demo-idp"])?, None);
        std::fs::write(&path, "[demo_idp]\nenabled = false\n")?;
        assert_eq!(demo_idp(&["--config", &file])?, None);
        // Loopback only: nothing outside this machine has a use for it.
        assert!(demo_idp(&["--demo-idp-listen", "0.0.0.0:8444"]).is_err());
        Ok(())
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(parse(&["--issuer", "http://id.example.com"]).is_err());
        assert!(parse(&["--issuer", "https://id.example.com/?x=1"]).is_err());
        assert!(
            parse(&[
                "--bootstrap-client-id",
                "ops",
                "--bootstrap-client-secret",
                "short"
            ])
            .is_err()
        );
        assert!(parse(&["--bootstrap-client-id", "ops"]).is_err());
        assert!(parse(&["--idle-timeout", "0"]).is_err());
        assert!(parse(&["--max-connections", "0"]).is_err());
        assert!(parse(&["--outbound-allowed-networks", "10.0.0.1"]).is_err());
    }
}
