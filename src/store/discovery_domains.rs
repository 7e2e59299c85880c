//! Organization discovery domains, and the rules that keep a domain with
//! one organization (migration 0018 says how the database enforces them).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Page, Store, StoreError, StoreResult, expect_one, get_bool};
use crate::model::domain::{DiscoveryDomain, DomainStatus, names_on_path};

/// The conflict of a claim under another organization's `include_subdomains`
/// domain, or of an `include_subdomains` claim above another organization's
/// domain. Not a constraint of the schema: the claim's guarded insert (or
/// update) found such a claim and wrote nothing.
pub const DOMAIN_OVERLAP: &str = "discovery_domains_overlap";

const COLUMNS: &str = "id, organization_id, domain, status, use_for_organization_discovery, \
     verification_txt, connection_id, include_subdomains";

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
            Backend::Sqlite => self.pool.begin_with("begin immediate").await?,
            Backend::Postgres => self.pool.begin().await?,
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
        let (guard, guard_binds) = no_overlap(&domain.domain, domain.include_subdomains, 11);
        let sql = format!(
            "insert into discovery_domains ({COLUMNS}, created_at, updated_at, reversed_domain) \
             select $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10 where {guard}"
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
            .bind(self.now_millis())
            .bind(reversed(&domain.domain));
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
                .execute(&self.pool)
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

impl Store {
    /// The verified, discovery-enabled claim that routes the normalized
    /// `domain`: the claim of `domain` itself, else the longest claim above
    /// it that includes subdomains. What the routing table serves from memory.
    pub async fn find_domain_route(&self, domain: &str) -> StoreResult<Option<DiscoveryDomain>> {
        // The names above `domain` that a claim including subdomains covers it from.
        let above: Vec<&str> = names_on_path(domain)
            .into_iter()
            .filter(|name| *name != domain)
            .collect();
        let placeholders: Vec<String> = (3..above.len() + 3).map(|i| format!("${i}")).collect();
        let from_above = if above.is_empty() {
            String::new()
        } else {
            format!(
                " or (include_subdomains = $2 and domain in ({}))",
                placeholders.join(", ")
            )
        };
        let sql = format!(
            "select {COLUMNS} from discovery_domains where status = 'verified' \
             and use_for_organization_discovery = $2 and (domain = $1{from_above}) \
             order by length(domain) desc limit 1"
        );
        let mut query = sqlx::query(&sql).bind(domain).bind(true);
        for name in above {
            query = query.bind(name);
        }
        let row = query.fetch_optional(&self.pool).await?;
        row.as_ref().map(domain_from_row).transpose()
    }
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

    /// The routing claims bound to a connection (an index holds just
    /// these): what a connection's change can reroute.
    pub async fn routed_claims_bound_to_connections(&self) -> StoreResult<Vec<RoutedClaim>> {
        let rows = sqlx::query(&format!(
            "select {ROUTED_COLUMNS} from discovery_domains \
             where connection_id is not null and {ROUTES}"
        ))
        .bind(true)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(routed_from_row).collect()
    }
}
