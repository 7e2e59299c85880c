//! DNS verification of discovery domains and their ownership lifecycle: a
//! domain's `verification_txt` looked up as a TXT record at its
//! `verification_host`, on demand (`POST …/discovery-domains/{id}/verify`)
//! and by a periodic pass on every node; a record gone for longer than the
//! grace period demotes a domain verified by DNS to pending; a transfer
//! claim whose own token is found takes the domain over.
//!
//! The lookup sits behind [`TxtLookup`] (hickory-resolver in the server,
//! a stub in the unit tests); the rules ([`after_check`]) are pure.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::clock::rfc3339_from_millis;
use crate::model::domain::{DiscoveryDomain, DomainStatus, DomainTransfer, verification_host};
use crate::state::AppState;
use crate::store::StoreResult;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How often a domain verified by DNS is looked up while its record is there.
pub const RECHECK_VERIFIED_MS: i64 = 6 * HOUR_MS;
/// …and while its record is missing (within the grace period) or DNS fails.
pub const RECHECK_MISSING_MS: i64 = HOUR_MS;
/// How long a node that took a domain's check holds it before another may
/// (should it die mid-check).
const CHECK_LEASE_MS: i64 = 5 * MINUTE_MS;
/// Domains one pass looks up at most; the rest wait for the next pass.
const PASS_BATCH: i64 = 500;

/// The default grace period: how long the record of a domain verified by
/// DNS may be missing before the domain is demoted to pending.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a TXT lookup answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The records at the name, each as its character-strings.
    Records(Vec<Vec<String>>),
    /// The name does not exist or has no TXT record.
    NoRecord,
    /// No answer: timeout, SERVFAIL, REFUSED, no resolver…
    Failed(String),
}

/// A TXT lookup: the one seam between the rules and the network.
pub trait TxtLookup: Send + Sync + 'static {
    fn txt<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = Lookup> + Send + 'a>>;
}

/// What a lookup means for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// One TXT string (or one record's strings joined) is the token.
    Present,
    NoRecord,
    /// TXT records are there, none of them the token.
    WrongToken,
    DnsFailure(String),
}

/// Whether `lookup` holds `token` exactly: as one TXT string, or as one
/// record whose strings, joined, are it (a long value split in 255-byte strings).
pub fn finding(lookup: &Lookup, token: &str) -> Finding {
    match lookup {
        Lookup::Records(records) => {
            let holds = records
                .iter()
                .any(|strings| strings.iter().any(|s| s == token) || strings.concat() == token);
            if holds {
                Finding::Present
            } else if records.is_empty() {
                Finding::NoRecord
            } else {
                Finding::WrongToken
            }
        }
        Lookup::NoRecord => Finding::NoRecord,
        Lookup::Failed(error) => Finding::DnsFailure(error.clone()),
    }
}

/// Why a finding is not a verification, in plain words; `None` when it is.
pub fn reason(finding: &Finding, host: &str) -> Option<String> {
    match finding {
        Finding::Present => None,
        Finding::NoRecord => Some(format!("No TXT record found at {host}")),
        Finding::WrongToken => Some(format!(
            "The TXT record at {host} does not hold this domain's verification_txt"
        )),
        Finding::DnsFailure(error) => Some(format!("The DNS lookup of {host} failed: {error}")),
    }
}

/// When a pending domain is looked up next: every 5 minutes during its
/// first hour of failed checks, hourly during its first day, then daily.
pub fn next_pending_check(now: i64, missing_since: i64) -> i64 {
    let waiting = now.saturating_sub(missing_since);
    let spacing = if waiting < HOUR_MS {
        5 * MINUTE_MS
    } else if waiting < DAY_MS {
        HOUR_MS
    } else {
        DAY_MS
    };
    now.saturating_add(spacing)
}

/// The domain after a check at `now` found `finding`: verified by DNS when
/// the record is there; a domain verified by DNS whose record has been
/// missing for `grace_ms` or longer back to pending (a DNS failure proves
/// nothing either way and never demotes); a domain the tenant admin
/// vouched for keeps its status (the check is only reported).
pub fn after_check(
    domain: &DiscoveryDomain,
    finding: &Finding,
    now: i64,
    grace_ms: i64,
) -> DiscoveryDomain {
    let host = domain.verification_host();
    let mut next = domain.clone();
    next.check.last_checked_at = Some(now);
    let why = reason(finding, &host);
    if domain.status == DomainStatus::Verified && !domain.verified_by_dns {
        next.check.reason = why;
        return next;
    }
    let Some(why) = why else {
        next.status = DomainStatus::Verified;
        next.verified_by_dns = true;
        next.check.missing_since = None;
        next.check.reason = None;
        next.check.next_check_at = Some(now.saturating_add(RECHECK_VERIFIED_MS));
        return next;
    };
    match (domain.status, finding) {
        (DomainStatus::Verified, Finding::DnsFailure(_)) => {
            next.check.reason = Some(format!("{why}; the domain stays verified"));
            next.check.next_check_at = Some(now.saturating_add(RECHECK_MISSING_MS));
        }
        (DomainStatus::Verified, _) => {
            let since = domain.check.missing_since.unwrap_or(now);
            let demote_at = since.saturating_add(grace_ms);
            next.check.missing_since = Some(since);
            if now >= demote_at {
                next.status = DomainStatus::Pending;
                next.verified_by_dns = false;
                next.check.reason = Some(format!(
                    "Demoted to pending: the verification record has been missing since {} \
                     (longer than the grace period). {why}",
                    rfc3339_from_millis(since)
                ));
                next.check.next_check_at = Some(next_pending_check(now, since));
            } else {
                next.check.reason = Some(format!(
                    "{why}; the domain stays verified until {} unless the record is back",
                    rfc3339_from_millis(demote_at)
                ));
                next.check.next_check_at =
                    Some(now.saturating_add(RECHECK_MISSING_MS).min(demote_at));
            }
        }
        (DomainStatus::Pending, _) => {
            let since = domain.check.missing_since.unwrap_or(now);
            next.check.missing_since = Some(since);
            next.check.reason = Some(why);
            next.check.next_check_at = Some(next_pending_check(now, since));
        }
    }
    next
}

/// The lookups and the grace period the server verifies domains with.
#[derive(Clone)]
pub struct DomainVerifier {
    lookup: Arc<dyn TxtLookup>,
    grace_ms: i64,
}

impl std::fmt::Debug for DomainVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainVerifier")
            .field("grace_ms", &self.grace_ms)
            .finish_non_exhaustive()
    }
}

impl DomainVerifier {
    /// Lookups through hickory-resolver: at `resolver` (`None`: the
    /// system's resolvers, from /etc/resolv.conf).
    pub fn new(resolver: Option<SocketAddr>, grace: Duration) -> Self {
        Self::with_lookup(Arc::new(HickoryTxt::new(resolver)), grace)
    }

    pub fn with_lookup(lookup: Arc<dyn TxtLookup>, grace: Duration) -> Self {
        DomainVerifier {
            lookup,
            grace_ms: i64::try_from(grace.as_millis()).unwrap_or(i64::MAX),
        }
    }

    pub async fn find(&self, host: &str, token: &str) -> Finding {
        finding(&self.lookup.txt(host).await, token)
    }
}

/// [`TxtLookup`] through hickory-resolver, without a cache: each check
/// asks the DNS anew.
struct HickoryTxt {
    resolver: Result<TokioResolver, String>,
}

impl HickoryTxt {
    fn new(address: Option<SocketAddr>) -> Self {
        let mut options = ResolverOpts::default();
        options.cache_size = 0;
        options.timeout = Duration::from_secs(5);
        options.attempts = 2;
        let builder = match address {
            Some(address) => {
                let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
                udp.port = address.port();
                tcp.port = address.port();
                let server = NameServerConfig::new(address.ip(), true, vec![udp, tcp]);
                Ok(TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], vec![server]),
                    TokioRuntimeProvider::default(),
                ))
            }
            None => TokioResolver::builder_tokio()
                .map_err(|e| format!("reading the system's DNS configuration: {e}")),
        };
        let resolver = builder.and_then(|builder| {
            builder
                .with_options(options)
                .build()
                .map_err(|e| format!("building the DNS resolver: {e}"))
        });
        if let Err(e) = &resolver {
            tracing::warn!(error = %e, "no DNS resolver: discovery domains cannot be verified");
        }
        HickoryTxt { resolver }
    }
}

impl TxtLookup for HickoryTxt {
    fn txt<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = Lookup> + Send + 'a>> {
        Box::pin(async move {
            let resolver = match &self.resolver {
                Ok(resolver) => resolver,
                Err(e) => return Lookup::Failed(e.clone()),
            };
            // Absolute: no search domain is ever appended.
            match resolver.txt_lookup(format!("{host}.")).await {
                Ok(answer) => Lookup::Records(
                    answer
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::TXT(txt) => Some(
                                txt.txt_data
                                    .iter()
                                    .map(|s| String::from_utf8_lossy(s).into_owned())
                                    .collect(),
                            ),
                            _ => None,
                        })
                        .collect(),
                ),
                Err(e) if e.is_no_records_found() => Lookup::NoRecord,
                Err(e) => Lookup::Failed(e.to_string()),
            }
        })
    }
}

/// Checks `domain` now and records what was found (unless a tenant admin
/// changed its status meanwhile); routing forgets it when its status
/// changed. The domain as it now stands.
pub async fn verify_domain(
    state: &AppState,
    domain: &DiscoveryDomain,
) -> StoreResult<DiscoveryDomain> {
    let verifier = &state.domain_verifier;
    let found = verifier
        .find(&domain.verification_host(), &domain.verification_txt)
        .await;
    let now = state.clock.now_unix_millis();
    let checked = after_check(domain, &found, now, verifier.grace_ms);
    if !state
        .store
        .record_discovery_domain_check(domain, &checked)
        .await?
    {
        // Changed meanwhile: what the store holds now is the answer.
        return state
            .store
            .get_discovery_domain(&domain.organization_id, &domain.id)
            .await;
    }
    if checked.status != domain.status {
        match checked.status {
            DomainStatus::Pending => tracing::warn!(
                organization_id = %domain.organization_id, domain = %domain.domain,
                reason = checked.check.reason.as_deref().unwrap_or_default(),
                "discovery domain demoted to pending: its verification record is gone; \
                 it no longer routes"),
            DomainStatus::Verified => tracing::info!(
                organization_id = %domain.organization_id, domain = %domain.domain,
                "discovery domain verified by its DNS record"),
        }
        state.domain_changed(&domain.domain).await;
    }
    Ok(checked)
}

/// What a transfer claim's check came to.
#[derive(Debug)]
pub enum TransferCheck {
    /// The token was found: the domain is the claiming organization's.
    Transferred(DiscoveryDomain),
    /// Not found: the claim as it stands, with the reason.
    Pending(DomainTransfer),
}

/// Checks a transfer claim now: its token found at the domain's
/// verification host, the domain moves to the claiming organization in
/// one transaction (see `Store::complete_domain_transfer`), audibly.
pub async fn verify_transfer(
    state: &AppState,
    transfer: &DomainTransfer,
) -> StoreResult<TransferCheck> {
    let host = verification_host(&transfer.domain);
    let found = state
        .domain_verifier
        .find(&host, &transfer.verification_txt)
        .await;
    let now = state.clock.now_unix_millis();
    if let Some(why) = reason(&found, &host) {
        state
            .store
            .record_domain_transfer_check(&transfer.organization_id, &transfer.id, now, Some(&why))
            .await?;
        let mut pending = transfer.clone();
        pending.last_checked_at = Some(now);
        pending.reason = Some(why);
        return Ok(TransferCheck::Pending(pending));
    }
    let done = state
        .store
        .complete_domain_transfer(
            &transfer.organization_id,
            &transfer.id,
            now.saturating_add(RECHECK_VERIFIED_MS),
        )
        .await?;
    tracing::warn!(
        domain = %done.domain.domain,
        from_organization_id = done.previous_owner.as_deref().unwrap_or("(none)"),
        to_organization_id = %done.domain.organization_id,
        "discovery domain transferred: the new organization proved control of its DNS"
    );
    state.domain_changed(&done.domain.domain).await;
    Ok(TransferCheck::Transferred(done.domain))
}

/// What one periodic pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassSummary {
    pub checked: usize,
    /// Domains that became verified.
    pub verified: Vec<String>,
    /// Domains demoted to pending.
    pub demoted: Vec<String>,
}

/// The periodic pass (every node runs it): looks up the domains whose
/// check is due (pending ones, spaced out; those verified by DNS, every
/// few hours), each taken by one node only.
pub async fn check_due_domains(state: &AppState) -> PassSummary {
    let now = state.clock.now_unix_millis();
    let mut summary = PassSummary::default();
    let due = match state.store.due_discovery_domains(now, PASS_BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "listing the discovery domains to check failed");
            return summary;
        }
    };
    for mut domain in due {
        match state
            .store
            .take_discovery_domain_check(&domain, now.saturating_add(CHECK_LEASE_MS))
            .await
        {
            Ok(true) => domain.check.next_check_at = Some(now.saturating_add(CHECK_LEASE_MS)),
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(domain = %domain.domain, error = %e, "taking a domain check failed");
                continue;
            }
        }
        match verify_domain(state, &domain).await {
            Ok(checked) => {
                summary.checked += 1;
                if checked.status != domain.status {
                    let list = match checked.status {
                        DomainStatus::Verified => &mut summary.verified,
                        DomainStatus::Pending => &mut summary.demoted,
                    };
                    list.push(checked.domain);
                }
            }
            Err(e) => {
                tracing::warn!(domain = %domain.domain, error = %e, "checking a discovery domain failed");
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "switchyard-domain-verification=abc";
    const GRACE: i64 = 7 * DAY_MS;

    fn records(strings: &[&[&str]]) -> Lookup {
        Lookup::Records(
            strings
                .iter()
                .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
                .collect(),
        )
    }

    fn domain(status: DomainStatus, by_dns: bool) -> DiscoveryDomain {
        let mut d = DiscoveryDomain::new("org_1", "example.com".into());
        d.verification_txt = TOKEN.into();
        d.status = status;
        d.verified_by_dns = by_dns;
        d
    }

    /// A stub resolver: the same answer for every name.
    struct Stub(Lookup);

    impl TxtLookup for Stub {
        fn txt<'a>(&'a self, _: &'a str) -> Pin<Box<dyn Future<Output = Lookup> + Send + 'a>> {
            Box::pin(std::future::ready(self.0.clone()))
        }
    }

    #[tokio::test]
    async fn the_token_must_be_one_txt_string_exactly() {
        let find = |lookup: Lookup| async move {
            DomainVerifier::with_lookup(Arc::new(Stub(lookup)), DEFAULT_GRACE)
                .find("_switchyard-verification.example.com", TOKEN)
                .await
        };
        assert_eq!(find(records(&[&[TOKEN]])).await, Finding::Present);
        assert_eq!(
            find(records(&[&["v=spf1 -all"], &[TOKEN]])).await,
            Finding::Present
        );
        // A long value split into strings, joined.
        assert_eq!(
            find(records(&[&["switchyard-domain-", "verification=abc"]])).await,
            Finding::Present
        );
        for wrong in [
            format!("{TOKEN}x"),
            format!(" {TOKEN}"),
            TOKEN.to_uppercase(),
            "switchyard-domain-verification=".into(),
            format!("\"{TOKEN}\""),
        ] {
            assert_eq!(
                find(records(&[&[&wrong]])).await,
                Finding::WrongToken,
                "{wrong}"
            );
        }
        assert_eq!(find(records(&[])).await, Finding::NoRecord);
        assert_eq!(find(Lookup::NoRecord).await, Finding::NoRecord);
        assert_eq!(
            find(Lookup::Failed("timed out".into())).await,
            Finding::DnsFailure("timed out".into())
        );
    }

    #[test]
    fn reasons_are_plain_words() {
        let host = "_switchyard-verification.example.com";
        assert_eq!(reason(&Finding::Present, host), None);
        assert_eq!(
            reason(&Finding::NoRecord, host).unwrap(),
            "No TXT record found at _switchyard-verification.example.com"
        );
        assert!(
            reason(&Finding::WrongToken, host)
                .unwrap()
                .contains("does not hold this domain's verification_txt")
        );
        assert!(
            reason(&Finding::DnsFailure("SERVFAIL".into()), host)
                .unwrap()
                .ends_with("failed: SERVFAIL")
        );
    }

    #[test]
    fn a_pending_domain_whose_record_is_found_is_verified_by_dns() {
        let pending = domain(DomainStatus::Pending, false);
        let now = 1_000_000;
        let checked = after_check(&pending, &Finding::Present, now, GRACE);
        assert_eq!(checked.status, DomainStatus::Verified);
        assert!(checked.verified_by_dns);
        assert_eq!(checked.check.last_checked_at, Some(now));
        assert_eq!(checked.check.next_check_at, Some(now + RECHECK_VERIFIED_MS));
        assert_eq!(checked.check.reason, None);
    }

    #[test]
    fn pending_checks_are_spaced_out_the_longer_they_fail() {
        let mut d = domain(DomainStatus::Pending, false);
        let start = 10 * DAY_MS;
        let first = after_check(&d, &Finding::NoRecord, start, GRACE);
        assert_eq!(first.status, DomainStatus::Pending);
        assert_eq!(first.check.missing_since, Some(start));
        assert_eq!(first.check.next_check_at, Some(start + 5 * MINUTE_MS));
        d = first;
        let later = after_check(&d, &Finding::WrongToken, start + 2 * HOUR_MS, GRACE);
        assert_eq!(later.check.missing_since, Some(start));
        assert_eq!(
            later.check.next_check_at,
            Some(start + 2 * HOUR_MS + HOUR_MS)
        );
        let much_later = after_check(&d, &Finding::NoRecord, start + 3 * DAY_MS, GRACE);
        assert_eq!(
            much_later.check.next_check_at,
            Some(start + 3 * DAY_MS + DAY_MS)
        );
    }

    #[test]
    fn a_missing_record_demotes_only_after_the_grace_period() {
        let verified = domain(DomainStatus::Verified, true);
        let gone = 100 * DAY_MS;
        let first = after_check(&verified, &Finding::NoRecord, gone, GRACE);
        assert_eq!(first.status, DomainStatus::Verified);
        assert_eq!(first.check.missing_since, Some(gone));
        assert!(
            first
                .check
                .reason
                .as_deref()
                .unwrap()
                .contains("stays verified until")
        );
        assert_eq!(first.check.next_check_at, Some(gone + RECHECK_MISSING_MS));

        let within = after_check(&first, &Finding::WrongToken, gone + GRACE - 1, GRACE);
        assert_eq!(within.status, DomainStatus::Verified);
        assert_eq!(within.check.next_check_at, Some(gone + GRACE));

        let after = after_check(&within, &Finding::NoRecord, gone + GRACE, GRACE);
        assert_eq!(after.status, DomainStatus::Pending);
        assert!(!after.verified_by_dns);
        let why = after.check.reason.unwrap();
        assert!(why.starts_with("Demoted to pending"), "{why}");
        assert!(why.contains("No TXT record found"), "{why}");

        // The record back within the grace period: the clock starts over.
        let back = after_check(&first, &Finding::Present, gone + DAY_MS, GRACE);
        assert_eq!(back.status, DomainStatus::Verified);
        assert_eq!(back.check.missing_since, None);
        assert_eq!(back.check.reason, None);
    }

    #[test]
    fn dns_failures_never_demote() {
        let mut verified = domain(DomainStatus::Verified, true);
        verified.check.missing_since = Some(0);
        let failed = after_check(
            &verified,
            &Finding::DnsFailure("timed out".into()),
            GRACE * 3,
            GRACE,
        );
        assert_eq!(failed.status, DomainStatus::Verified);
        assert!(failed.verified_by_dns);
        assert!(failed.check.reason.unwrap().contains("stays verified"));
    }

    #[test]
    fn an_admins_verified_domain_is_never_demoted_by_dns() {
        let vouched = domain(DomainStatus::Verified, false);
        let checked = after_check(&vouched, &Finding::NoRecord, 50 * GRACE, GRACE);
        assert_eq!(checked.status, DomainStatus::Verified);
        assert!(!checked.verified_by_dns);
        assert_eq!(checked.check.next_check_at, None);
        assert!(checked.check.reason.unwrap().starts_with("No TXT record"));
    }
}
