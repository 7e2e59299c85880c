//! Organization discovery domains (home-realm discovery): the email domains
//! an organization claims, in Auth0's discovery-domain shape, and the one
//! normalization every domain goes through before it is stored or looked up.

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Where the TXT record proving ownership of `domain` lives.
pub const VERIFICATION_LABEL: &str = "_switchyard-verification";

/// Random characters of a `verification_txt` token.
const VERIFICATION_TOKEN_LEN: usize = 32;

/// The list shipped in `src/model/public_email_domains.txt`.
const PUBLIC_EMAIL_DOMAINS: &str = include_str!("public_email_domains.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainStatus {
    Pending,
    Verified,
}

impl DomainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::Pending => "pending",
            DomainStatus::Verified => "verified",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DomainStatus::Pending),
            "verified" => Some(DomainStatus::Verified),
            _ => None,
        }
    }
}

/// A domain claimed by an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryDomain {
    pub id: String,
    pub organization_id: String,
    /// Normalized ([`normalize`]): lowercase IDNA ASCII, no trailing dot.
    pub domain: String,
    pub status: DomainStatus,
    pub use_for_organization_discovery: bool,
    pub verification_txt: String,
    /// A connection enabled on the organization; `None`: its default.
    pub connection_id: Option<String>,
    /// The claim covers every name below `domain` too.
    pub include_subdomains: bool,
    /// Verified because its TXT record was found, so re-checks may demote
    /// it; false for a domain the tenant admin vouched for (never demoted
    /// by DNS) and for a pending one.
    pub verified_by_dns: bool,
    pub check: DomainCheck,
}

/// Where DNS verification of a domain stands (all times Unix milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainCheck {
    /// The last lookup of its TXT record.
    pub last_checked_at: Option<i64>,
    /// When the periodic pass looks next; `None`: at its next run.
    pub next_check_at: Option<i64>,
    /// The first lookup of the current run that did not find the record;
    /// `None` while it is found. The grace period counts from here.
    pub missing_since: Option<i64>,
    /// Why the last check did not find the record, or why the domain was
    /// demoted, in plain words.
    pub reason: Option<String>,
}

impl DiscoveryDomain {
    /// A new claim of the normalized `domain`, with a fresh verification token.
    pub fn new(organization_id: &str, domain: String) -> Self {
        DiscoveryDomain {
            id: super::ids::new_id(super::ids::DISCOVERY_DOMAIN),
            organization_id: organization_id.to_owned(),
            domain,
            status: DomainStatus::Pending,
            use_for_organization_discovery: true,
            verification_txt: format!(
                "switchyard-domain-verification={}",
                super::ids::random_alphanumeric(VERIFICATION_TOKEN_LEN)
            ),
            connection_id: None,
            include_subdomains: false,
            verified_by_dns: false,
            check: DomainCheck::default(),
        }
    }

    pub fn verification_host(&self) -> String {
        verification_host(&self.domain)
    }
}

/// The TXT record's name for the normalized `domain`.
pub fn verification_host(domain: &str) -> String {
    format!("{VERIFICATION_LABEL}.{domain}")
}

/// An organization's claim of a domain another organization holds, with a
/// token of its own: once that token is found at the domain's verification
/// host, the claim takes the domain over, verified (same id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainTransfer {
    pub id: String,
    pub organization_id: String,
    /// Normalized, as [`DiscoveryDomain::domain`].
    pub domain: String,
    pub verification_txt: String,
    /// What the domain gets once transferred.
    pub use_for_organization_discovery: bool,
    pub include_subdomains: bool,
    pub last_checked_at: Option<i64>,
    pub reason: Option<String>,
}

impl DomainTransfer {
    /// A transfer claim of `domain` by `organization_id`, with its own token.
    pub fn new(organization_id: &str, domain: String) -> Self {
        let fresh = DiscoveryDomain::new(organization_id, domain);
        DomainTransfer {
            id: fresh.id,
            organization_id: fresh.organization_id,
            domain: fresh.domain,
            verification_txt: fresh.verification_txt,
            use_for_organization_discovery: true,
            include_subdomains: false,
            last_checked_at: None,
            reason: None,
        }
    }

    /// The domain as it is once transferred: its new owner's, verified by DNS.
    pub fn into_domain(self, now: i64, next_check_at: i64) -> DiscoveryDomain {
        DiscoveryDomain {
            id: self.id,
            organization_id: self.organization_id,
            domain: self.domain,
            status: DomainStatus::Verified,
            use_for_organization_discovery: self.use_for_organization_discovery,
            verification_txt: self.verification_txt,
            connection_id: None,
            include_subdomains: self.include_subdomains,
            verified_by_dns: true,
            check: DomainCheck {
                last_checked_at: Some(now),
                next_check_at: Some(next_check_at),
                missing_since: None,
                reason: None,
            },
        }
    }
}

/// Whether the normalized `domain` is a public suffix (`co.uk`, `com.au`,
/// `github.io`…: names under which unrelated parties register theirs), by
/// the Public Suffix List the `psl` crate ships. No organization may claim
/// one: it would capture every registrant's users.
pub fn is_public_suffix(domain: &str) -> bool {
    psl::suffix_str(domain) == Some(domain)
}

/// The one form of a domain Switchyard stores and compares: IDNA ASCII
/// (UTS #46, STD3 rules, which also lowercases), without the trailing root
/// dot, a hostname of at least two labels whose last is not numeric (no IP
/// addresses). `Example.COM.` → `example.com`; `bücher.example` →
/// `xn--bcher-kva.example`.
pub fn normalize(input: &str) -> Result<String, ValidationError> {
    let invalid = |reason: &str| ValidationError::new("domain", reason);
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.is_empty() || trimmed.len() > 253 * 4 {
        return Err(invalid("must be a domain name such as example.com"));
    }
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| invalid("must be a valid domain name (hostname or IDN)"))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            "must have at least two labels, such as example.com",
        ));
    }
    let hostname_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if ascii.len() > 253 || !labels.iter().all(hostname_label) {
        return Err(invalid("must be a valid hostname"));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("must be a domain name, not an IP address"));
    }
    Ok(ascii)
}

/// The names a claim of the normalized `domain` sits under, itself
/// included, from the shortest with two labels: `a.b.example.com` →
/// `example.com`, `b.example.com`, `a.b.example.com`.
pub fn names_on_path(domain: &str) -> Vec<&str> {
    let mut names: Vec<&str> = domain
        .match_indices('.')
        .map(|(i, _)| &domain[i + 1..])
        .filter(|suffix| suffix.contains('.'))
        .collect();
    names.reverse();
    names.push(domain);
    names
}

/// Whether the normalized `domain` is one of the public mail domains
/// (`src/model/public_email_domains.txt`), which no organization may claim.
pub fn is_public_email_domain(domain: &str) -> bool {
    PUBLIC_EMAIL_DOMAINS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .any(|entry| match entry.strip_suffix(".*") {
            // `gmx.*`: `gmx.` then a suffix of one or two labels.
            Some(name) => domain
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|suffix| suffix.split('.').count() <= 2),
            None => entry == domain,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_of_one_domain_normalize_identically() {
        for form in ["Example.COM.", "example.com", "EXAMPLE.com", "example.com."] {
            assert_eq!(normalize(form).unwrap(), "example.com", "{form}");
        }
        for form in [
            "bücher.example",
            "BÜCHER.example.",
            "xn--bcher-kva.example",
            "XN--BCHER-KVA.EXAMPLE",
        ] {
            assert_eq!(normalize(form).unwrap(), "xn--bcher-kva.example", "{form}");
        }
        assert_eq!(normalize("eu.Corp.example").unwrap(), "eu.corp.example");
    }

    #[test]
    fn what_is_not_a_claimable_hostname_is_refused() {
        for bad in [
            "",
            ".",
            "com",
            "localhost.",
            "exa mple.com",
            "example..com",
            ".example.com",
            "-example.com",
            "example-.com",
            "under_score.com",
            "user@example.com",
            "https://example.com",
            "example.com/path",
            "10.0.0.1",
            "xn--zz.example",
            "*.example.com",
        ] {
            let err = normalize(bad).unwrap_err();
            assert_eq!(err.field, "domain", "{bad}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(normalize(&long_label).is_err());
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert!(normalize(&long_name).is_err());
    }

    #[test]
    fn names_on_the_path_run_from_two_labels_to_the_domain() {
        assert_eq!(
            names_on_path("a.b.example.com"),
            ["example.com", "b.example.com", "a.b.example.com"]
        );
        assert_eq!(names_on_path("example.com"), ["example.com"]);
    }

    #[test]
    fn public_mail_domains_are_recognized() {
        for public in [
            "gmail.com",
            "googlemail.com",
            "outlook.com",
            "hotmail.com",
            "live.com",
            "yahoo.com",
            "yahoo.co.uk",
            "icloud.com",
            "me.com",
            "aol.com",
            "proton.me",
            "protonmail.com",
            "gmx.de",
            "gmx.net",
            "web.de",
            "mail.ru",
            "yandex.ru",
            "qq.com",
            "163.com",
        ] {
            assert!(is_public_email_domain(public), "{public}");
        }
        for private in [
            "example.com",
            "gmail.example.com",
            "mygmail.com",
            "gmx.a.b.c",
            "corp.gmx.de",
        ] {
            assert!(!is_public_email_domain(private), "{private}");
        }
    }

    #[test]
    fn the_shipped_list_is_normalized() {
        for entry in PUBLIC_EMAIL_DOMAINS
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let name = entry
                .strip_suffix(".*")
                .map_or(entry.to_owned(), |n| format!("{n}.com"));
            assert_eq!(normalize(&name).unwrap(), name, "{entry}");
        }
    }

    #[test]
    fn public_suffixes_are_recognized() {
        for suffix in ["co.uk", "com.au", "github.io", "org.uk", "blogspot.com"] {
            assert!(is_public_suffix(suffix), "{suffix}");
        }
        for domain in [
            "example.co.uk",
            "acme.github.io",
            "example.com",
            "acme.test",
            "eu.example.com.au",
        ] {
            assert!(!is_public_suffix(domain), "{domain}");
        }
    }

    #[test]
    fn a_transfer_lands_verified_by_dns_with_its_own_token() {
        let held = DiscoveryDomain::new("org_old", "example.com".into());
        let transfer = DomainTransfer::new("org_new", "example.com".into());
        assert_ne!(transfer.verification_txt, held.verification_txt);
        let id = transfer.id.clone();
        let landed = transfer.into_domain(1_000, 2_000);
        assert_eq!(landed.id, id);
        assert_eq!(landed.organization_id, "org_new");
        assert_eq!(landed.status, DomainStatus::Verified);
        assert!(landed.verified_by_dns);
        assert_eq!(landed.check.next_check_at, Some(2_000));
    }

    #[test]
    fn a_new_claim_has_its_own_token_and_host() {
        let a = DiscoveryDomain::new("org_1", "example.com".into());
        let b = DiscoveryDomain::new("org_1", "example.com".into());
        assert_ne!(a.verification_txt, b.verification_txt);
        assert_eq!(
            a.verification_host(),
            "_switchyard-verification.example.com"
        );
        assert_eq!(a.status, DomainStatus::Pending);
    }
}
