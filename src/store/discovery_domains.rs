//! Organization discovery domains, and the rules that keep a domain with
//! one organization (migration 0018 says how the database enforces them).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Page, Store, StoreError, StoreResult, expect_one, get_bool};
use crate::model::domain::{
    DiscoveryDomain, DomainCheck, DomainStatus, DomainTransfer, names_on_path,
};

/// The conflict of a claim under another organization's `include_subdomains`
/// domain, or of an `include_subdomains` claim above another organization's
/// domain. Not a constraint of the schema: the claim's guarded insert (or
/// update) found such a claim and wrote nothing.
pub const DOMAIN_OVERLAP: &str = "discovery_domains_overlap";

/// The columns a claim writes.
const CLAIM_COLUMNS: &str = "id, organization_id, domain, status, use_for_organization_discovery, \
     verification_txt, connection_id, include_subdomains";

/// Every column a domain is read from: the claim's and its DNS checks' (0019).
const COLUMNS: &str = "id, organization_id, domain, status, use_for_organization_discovery, \
     verification_txt, connection_id, include_subdomains, verified_by_dns, last_checked_at, \
     next_check_at, missing_since, verification_reason";

const TRANSFER_COLUMNS: &str = "id, organization_id, domain, verification_txt, \
     use_for_organization_discovery, include_subdomains, last_checked_at, verification_reason";

/// The domain spelled backwards, as `reversed_domain` holds it: the names
/// below `example.com` are the rows whose `reversed_domain` starts with
/// `moc.elpmaxe.` (migration 0020).
pub fn reversed(domain: &str) -> String {
    domain.chars().rev().collect()
}

/// The condition under which the claim of `domain` by `$2` may be written,
/// and the values it binds after the statement's own (`first` is the number
/// of its first placeholder). Both halves read indexes: the names above the
/// claim are known (the unique key on `domain`), the names below it are a
/// prefix range of `reversed_domain`.
fn no_overlap(domain: &str, include_subdomains: bool, first: usize) -> (String, Vec<String>) {
    let above: Vec<&str> = names_on_path(domain)
        .into_iter()
        .filter(|name| *name != domain)
        .collect();
    let mut binds: Vec<String> = above.iter().map(|name| (*name).to_owned()).collect();
    // Another organization's `include_subdomains` claim above it.
    let mut condition = if above.is_empty() {
        "true".to_owned()
    } else {
        let names: Vec<String> = (first..first + above.len())
            .map(|i| format!("${i}"))
            .collect();
        format!(
            "not exists (select 1 from discovery_domains d where d.domain in ({}) \
             and d.organization_id <> $2 and d.include_subdomains)",
            names.join(", ")
        )
    };
    // …or, when the claim includes subdomains, any domain below it:
    // `reversed_domain` in [`moc.elpmaxe.`, `moc.elpmaxe/`) ('/' follows '.').
    if include_subdomains {
        let below = first + binds.len();
        let prefix = format!("{}.", reversed(domain));
        binds.push(prefix.clone());
        binds.push(format!("{}/", reversed(domain)));
        condition.push_str(&format!(
            " and not exists (select 1 from discovery_domains d \
             where d.reversed_domain >= ${below} and d.reversed_domain < ${} \
             and d.organization_id <> $2)",
            below + 1
        ));
    }
    (condition, binds)
}

fn domain_from_row(row: &AnyRow) -> StoreResult<DiscoveryDomain> {
    let status: String = row.try_get("status")?;
    Ok(DiscoveryDomain {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        domain: row.try_get("domain")?,
        status: DomainStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("discovery_domains.status: {status:?}")))?,
        use_for_organization_discovery: get_bool(row, "use_for_organization_discovery")?,
        verification_txt: row.try_get("verification_txt")?,
        connection_id: row.try_get("connection_id")?,
        include_subdomains: get_bool(row, "include_subdomains")?,
        verified_by_dns: get_bool(row, "verified_by_dns")?,
        check: DomainCheck {
            last_checked_at: row.try_get("last_checked_at")?,
            next_check_at: row.try_get("next_check_at")?,
            missing_since: row.try_get("missing_since")?,
            reason: row.try_get("verification_reason")?,
        },
    })
}

fn transfer_from_row(row: &AnyRow) -> StoreResult<DomainTransfer> {
    Ok(DomainTransfer {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        domain: row.try_get("domain")?,
        verification_txt: row.try_get("verification_txt")?,
        use_for_organization_discovery: get_bool(row, "use_for_organization_discovery")?,
        include_subdomains: get_bool(row, "include_subdomains")?,
        last_checked_at: row.try_get("last_checked_at")?,
        reason: row.try_get("verification_reason")?,
    })
}

impl Store {
    /// Begins a claim's transaction on `domain`: SQLite takes its write lock;
    /// on both, the rows of the names on the domain's path are locked
    /// shortest first (so two claims never wait for each other in a cycle),
    /// which queues exactly the claims that could conflict with this one.
    async fn begin_claim(
        &self,
        domain: &str,
    ) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.writer().begin_with("begin immediate").await?,
            Backend::Postgres => self.writer().begin().await?,
        };
        for name in names_on_path(domain) {
            sqlx::query(
                "insert into discovery_domain_names (name) values ($1) \
                 on conflict (name) do update set name = excluded.name",
            )
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx)
    }

    /// Claims `domain.domain` for its organization. Refused with
    /// `Conflict("discovery_domains_domain_key")` when any organization
    /// holds the domain, `Conflict(DOMAIN_OVERLAP)` for the subdomain rules,
    /// `MissingReference` when the organization is gone or the connection is
    /// not enabled on it.
    pub async fn insert_discovery_domain(&self, domain: &DiscoveryDomain) -> StoreResult<()> {
        let mut tx = self.begin_claim(&domain.domain).await?;
        let (guard, guard_binds) = no_overlap(&domain.domain, domain.include_subdomains, 12);
        let sql = format!(
            "insert into discovery_domains ({CLAIM_COLUMNS}, created_at, updated_at, reversed_domain, \
             next_check_at) select $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11 where {guard}"
        );
        let now = self.now_millis();
        // A pending claim is due for its first DNS check at once; one the
        // tenant admin created verified is never looked up.
        let next_check_at = domain
            .check
            .next_check_at
            .or((domain.status == DomainStatus::Pending).then_some(now));
        let mut query = sqlx::query(&sql)
            .bind(&domain.id)
            .bind(&domain.organization_id)
            .bind(&domain.domain)
            .bind(domain.status.as_str())
            .bind(domain.use_for_organization_discovery)
            .bind(&domain.verification_txt)
            .bind(&domain.connection_id)
            .bind(domain.include_subdomains)
            .bind(now)
            .bind(reversed(&domain.domain))
            .bind(next_check_at);
        for value in guard_binds {
            query = query.bind(value);
        }
        let result = query.execute(&mut *tx).await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Conflict(DOMAIN_OVERLAP.to_owned()));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_discovery_domain(
        &self,
        organization_id: &str,
        id: &str,
    ) -> StoreResult<DiscoveryDomain> {
        select_domain(&self.pool, organization_id, "id", id).await
    }

    /// By the normalized domain name.
    pub async fn get_discovery_domain_by_name(
        &self,
        organization_id: &str,
        domain: &str,
    ) -> StoreResult<DiscoveryDomain> {
        select_domain(&self.pool, organization_id, "domain", domain).await
    }

    pub async fn list_discovery_domains(
        &self,
        organization_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<DiscoveryDomain>> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from discovery_domains where organization_id = $1 and id > $2 \
             order by id limit $3 offset $4"
        ))
        .bind(organization_id)
        .bind(page.after_id.as_deref().unwrap_or(""))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(domain_from_row).collect()
    }

    pub async fn count_discovery_domains(&self, organization_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query("select count(*) as n from discovery_domains where organization_id = $1")
                .bind(organization_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Read-modify-write of a domain on the claim path (a wider
    /// `include_subdomains` is a new claim): `change` may set its status,
    /// `use_for_organization_discovery`, `connection_id` and
    /// `include_subdomains`; the rest is kept. Refused as an insert is.
    pub async fn update_discovery_domain_with<E>(
        &self,
        organization_id: &str,
        id: &str,
        change: impl FnOnce(DiscoveryDomain) -> Result<DiscoveryDomain, E>,
    ) -> StoreResult<Result<DiscoveryDomain, E>> {
        // The name never changes, so the path to lock is known before.
        let name = self.get_discovery_domain(organization_id, id).await?.domain;
        let mut tx = self.begin_claim(&name).await?;
        let current = select_domain(&mut *tx, organization_id, "id", id).await?;
        let next = match change(current.clone()) {
            Ok(next) => DiscoveryDomain {
                id: current.id,
                organization_id: current.organization_id,
                domain: current.domain,
                verification_txt: current.verification_txt,
                ..next
            },
            Err(refused) => return Ok(Err(refused)),
        };
        let (guard, guard_binds) = no_overlap(&next.domain, next.include_subdomains, 9);
        let sql = format!(
            "update discovery_domains set status = $4, use_for_organization_discovery = $5, \
             connection_id = $6, include_subdomains = $7, updated_at = $8 \
             where id = $1 and organization_id = $2 and domain = $3 and {guard}"
        );
        let mut query = sqlx::query(&sql)
            .bind(&next.id)
            .bind(&next.organization_id)
            .bind(&next.domain)
            .bind(next.status.as_str())
            .bind(next.use_for_organization_discovery)
            .bind(&next.connection_id)
            .bind(next.include_subdomains)
            .bind(self.now_millis());
        for value in guard_binds {
            query = query.bind(value);
        }
        let result = query.execute(&mut *tx).await?;
        if result.rows_affected() == 0 {
            // The row is there (read above, under the lock): the guard refused.
            return Err(StoreError::Conflict(DOMAIN_OVERLAP.to_owned()));
        }
        tx.commit().await?;
        Ok(Ok(next))
    }

    pub async fn delete_discovery_domain(
        &self,
        organization_id: &str,
        id: &str,
    ) -> StoreResult<()> {
        let result =
            sqlx::query("delete from discovery_domains where organization_id = $1 and id = $2")
                .bind(organization_id)
                .bind(id)
                .execute(self.writer())
                .await?;
        expect_one(result)
    }
}

async fn select_domain<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    organization_id: &str,
    column: &'static str,
    value: &str,
) -> StoreResult<DiscoveryDomain> {
    let row = sqlx::query(&format!(
        "select {COLUMNS} from discovery_domains where organization_id = $1 and {column} = $2"
    ))
    .bind(organization_id)
    .bind(value)
    .fetch_one(executor)
    .await?;
    domain_from_row(&row)
}

/// What the routing table keeps of a verified, discovery-enabled claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedClaim {
    pub domain: String,
    pub organization_id: String,
    pub connection_id: Option<String>,
    pub include_subdomains: bool,
}

const ROUTED_COLUMNS: &str = "domain, organization_id, connection_id, include_subdomains";
const ROUTES: &str = "status = 'verified' and use_for_organization_discovery = $1";

fn routed_from_row(row: &AnyRow) -> StoreResult<RoutedClaim> {
    Ok(RoutedClaim {
        domain: row.try_get("domain")?,
        organization_id: row.try_get("organization_id")?,
        connection_id: row.try_get("connection_id")?,
        include_subdomains: get_bool(row, "include_subdomains")?,
    })
}

impl Store {
    /// The routing claims after `after` (by domain, in the database's
    /// order), at most `limit`: the routing table loads a page at a time
    /// on the unique key, so a million claims never make one result.
    pub async fn routed_claims_page(
        &self,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<RoutedClaim>> {
        let rows = sqlx::query(&format!(
            "select {ROUTED_COLUMNS} from discovery_domains where domain > $2 and {ROUTES} \
             order by domain limit $3"
        ))
        .bind(true)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(routed_from_row).collect()
    }

    /// The claim of exactly `domain`, if it routes (verified, used for discovery).
    pub async fn routed_claim(&self, domain: &str) -> StoreResult<Option<RoutedClaim>> {
        let row = sqlx::query(&format!(
            "select {ROUTED_COLUMNS} from discovery_domains where domain = $2 and {ROUTES}"
        ))
        .bind(true)
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(routed_from_row).transpose()
    }
}

/// A transfer done: the domain as its new owner holds it, and the
/// organization it was taken from (`None`: nobody held it any more).
#[derive(Debug, Clone)]
pub struct TransferredDomain {
    pub domain: DiscoveryDomain,
    pub previous_owner: Option<String>,
}

impl Store {
    /// Writes what a DNS check of `before` found (`after`'s status,
    /// `verified_by_dns` and check fields), unless the domain's status
    /// changed meanwhile (a tenant admin's write wins): whether it wrote.
    /// A status is no claim, so this needs no claim lock.
    pub async fn record_discovery_domain_check(
        &self,
        before: &DiscoveryDomain,
        after: &DiscoveryDomain,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "update discovery_domains set status = $3, verified_by_dns = $4, \
             last_checked_at = $5, next_check_at = $6, missing_since = $7, \
             verification_reason = $8, updated_at = $9 \
             where id = $1 and organization_id = $2 and status = $10 and verified_by_dns = $11",
        )
        .bind(&before.id)
        .bind(&before.organization_id)
        .bind(after.status.as_str())
        .bind(after.verified_by_dns)
        .bind(after.check.last_checked_at)
        .bind(after.check.next_check_at)
        .bind(after.check.missing_since)
        .bind(&after.check.reason)
        .bind(self.now_millis())
        .bind(before.status.as_str())
        .bind(before.verified_by_dns)
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// After a tenant admin set a domain's status: verified is their word
    /// (never demoted by DNS), pending is checked at the next pass.
    pub async fn set_discovery_domain_vouched(
        &self,
        organization_id: &str,
        id: &str,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "update discovery_domains set verified_by_dns = $3, \
             next_check_at = case when status = 'pending' then $4 else null end, \
             missing_since = null, verification_reason = null where organization_id = $1 and id = $2",
        )
        .bind(organization_id)
        .bind(id)
        .bind(false)
        .bind(self.now_millis())
        .execute(self.writer())
        .await?;
        expect_one(result)
    }

    /// Up to `limit` domains the periodic pass should look up at `now`:
    /// pending ones and those verified by DNS, whose next check is due,
    /// most overdue first. Only those have a `next_check_at` (a domain the
    /// tenant admin verified has none), so the index on it finds them
    /// among a million others.
    pub async fn due_discovery_domains(
        &self,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<DiscoveryDomain>> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from discovery_domains \
             where next_check_at <= $2 and (status = 'pending' or verified_by_dns = $1) \
             order by next_check_at, id limit $3"
        ))
        .bind(true)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(domain_from_row).collect()
    }

    /// Takes the due check of `domain` (as [`Store::due_discovery_domains`]
    /// read it) for this node until `until`: false when another node took
    /// it first, so two nodes never look up one domain in one pass.
    pub async fn take_discovery_domain_check(
        &self,
        domain: &DiscoveryDomain,
        until: i64,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "update discovery_domains set next_check_at = $2 \
             where id = $1 and coalesce(next_check_at, -1) = $3",
        )
        .bind(&domain.id)
        .bind(until)
        .bind(domain.check.next_check_at.unwrap_or(-1))
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Records an organization's claim to take over a domain another
    /// organization holds. `Conflict("discovery_domain_transfers_domain_key")`
    /// when it has one for the domain already.
    pub async fn insert_domain_transfer(&self, transfer: &DomainTransfer) -> StoreResult<()> {
        sqlx::query(&format!(
            "insert into discovery_domain_transfers ({TRANSFER_COLUMNS}, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&transfer.id)
        .bind(&transfer.organization_id)
        .bind(&transfer.domain)
        .bind(&transfer.verification_txt)
        .bind(transfer.use_for_organization_discovery)
        .bind(transfer.include_subdomains)
        .bind(transfer.last_checked_at)
        .bind(&transfer.reason)
        .bind(self.now_millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn get_domain_transfer(
        &self,
        organization_id: &str,
        id: &str,
    ) -> StoreResult<DomainTransfer> {
        select_transfer(&self.pool, organization_id, id).await
    }

    /// What the last lookup for a transfer claim found.
    pub async fn record_domain_transfer_check(
        &self,
        organization_id: &str,
        id: &str,
        checked_at: i64,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "update discovery_domain_transfers set last_checked_at = $3, verification_reason = $4 \
             where organization_id = $1 and id = $2",
        )
        .bind(organization_id)
        .bind(id)
        .bind(checked_at)
        .bind(reason)
        .execute(self.writer())
        .await?;
        expect_one(result)
    }

    /// Withdraws a transfer claim.
    pub async fn delete_domain_transfer(&self, organization_id: &str, id: &str) -> StoreResult<()> {
        let result = sqlx::query(
            "delete from discovery_domain_transfers where organization_id = $1 and id = $2",
        )
        .bind(organization_id)
        .bind(id)
        .execute(self.writer())
        .await?;
        expect_one(result)
    }

    /// Completes a transfer claim whose token was found: in one transaction
    /// on the claim path (the names on the domain's path locked as a claim
    /// locks them), whoever holds the domain loses it and the claiming
    /// organization holds it, verified by DNS, with the claim's id; the
    /// claim is gone. Refused, changing nothing, with
    /// `Conflict(DOMAIN_OVERLAP)` when the new claim breaks the subdomain
    /// rules (another organization's `include_subdomains` domain above it,
    /// or, including subdomains, another's domain below it); `NotFound`
    /// when the claim was withdrawn meanwhile.
    pub async fn complete_domain_transfer(
        &self,
        organization_id: &str,
        id: &str,
        next_check_at: i64,
    ) -> StoreResult<TransferredDomain> {
        let name = self.get_domain_transfer(organization_id, id).await?.domain;
        let mut tx = self.begin_claim(&name).await?;
        let transfer = select_transfer(&mut *tx, organization_id, id).await?;
        let now = self.now_millis();
        let previous_owner: Option<String> = sqlx::query(
            "delete from discovery_domains where domain = $1 returning organization_id",
        )
        .bind(&transfer.domain)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get("organization_id"))
        .transpose()?;
        let domain = transfer.into_domain(now, next_check_at);
        let (guard, guard_binds) = no_overlap(&domain.domain, domain.include_subdomains, 13);
        let sql = format!(
            "insert into discovery_domains ({CLAIM_COLUMNS}, verified_by_dns, last_checked_at, \
             next_check_at, created_at, updated_at, reversed_domain) \
             select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $10, $12 where {guard}"
        );
        let mut query = sqlx::query(&sql)
            .bind(&domain.id)
            .bind(&domain.organization_id)
            .bind(&domain.domain)
            .bind(domain.status.as_str())
            .bind(domain.use_for_organization_discovery)
            .bind(&domain.verification_txt)
            .bind(&domain.connection_id)
            .bind(domain.include_subdomains)
            .bind(domain.verified_by_dns)
            .bind(now)
            .bind(next_check_at)
            .bind(reversed(&domain.domain));
        for value in guard_binds {
            query = query.bind(value);
        }
        let result = query.execute(&mut *tx).await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Conflict(DOMAIN_OVERLAP.to_owned()));
        }
        sqlx::query("delete from discovery_domain_transfers where id = $1")
            .bind(&domain.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TransferredDomain {
            domain,
            previous_owner,
        })
    }
}

async fn select_transfer<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    organization_id: &str,
    id: &str,
) -> StoreResult<DomainTransfer> {
    let row = sqlx::query(&format!(
        "select {TRANSFER_COLUMNS} from discovery_domain_transfers \
         where organization_id = $1 and id = $2"
    ))
    .bind(organization_id)
    .bind(id)
    .fetch_one(executor)
    .await?;
    transfer_from_row(&row)
}

impl Store {
    /// The organization holding the normalized `domain` itself, if any.
    pub async fn discovery_domain_holder(&self, domain: &str) -> StoreResult<Option<String>> {
        sqlx::query("select organization_id from discovery_domains where domain = $1")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.try_get("organization_id").map_err(StoreError::from))
            .transpose()
    }
}

impl Store {
    /// Whether one of `organization_id`'s verified domains covers the
    /// normalized `domain` (itself, or a domain above it claimed with
    /// `include_subdomains`): the email-domain guard of enterprise logins.
    /// Ownership counts, whether or not the domain is used for discovery.
    pub async fn organization_domain_covers(
        &self,
        organization_id: &str,
        domain: &str,
    ) -> StoreResult<bool> {
        let names = names_on_path(domain);
        let placeholders: Vec<String> = (4..names.len() + 4).map(|i| format!("${i}")).collect();
        let sql = format!(
            "select domain from discovery_domains where organization_id = $1 \
             and status = 'verified' and (domain = $2 or (include_subdomains = $3 \
             and domain in ({}))) limit 1",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(organization_id)
            .bind(domain)
            .bind(true);
        for name in names {
            query = query.bind(name);
        }
        Ok(query.fetch_optional(&self.pool).await?.is_some())
    }
}
