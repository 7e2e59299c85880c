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

/// Another organization's claim that `$2` (the organization) claiming `$3`
/// (the domain) conflicts with: an `include_subdomains` domain above it.
const ABOVE_IS_WIDE: &str = "exists (select 1 from discovery_domains d where d.organization_id <> $2 \
     and d.include_subdomains and length($3) > length(d.domain) \
     and substr($3, length($3) - length(d.domain)) = '.' || d.domain)";

/// …or, when the claim includes subdomains, any domain below it.
const BELOW_IS_TAKEN: &str = "exists (select 1 from discovery_domains d where d.organization_id <> $2 \
     and length(d.domain) > length($3) \
     and substr(d.domain, length(d.domain) - length($3)) = '.' || $3)";

/// The condition under which the claim of `$3` by `$2` may be written.
fn no_overlap(include_subdomains: bool) -> String {
    if include_subdomains {
        format!("not {ABOVE_IS_WIDE} and not {BELOW_IS_TAKEN}")
    } else {
        format!("not {ABOVE_IS_WIDE}")
    }
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
        let result = sqlx::query(&format!(
            "insert into discovery_domains ({COLUMNS}, created_at, updated_at) \
             select $1, $2, $3, $4, $5, $6, $7, $8, $9, $9 where {}",
            no_overlap(domain.include_subdomains)
        ))
        .bind(&domain.id)
        .bind(&domain.organization_id)
        .bind(&domain.domain)
        .bind(domain.status.as_str())
        .bind(domain.use_for_organization_discovery)
        .bind(&domain.verification_txt)
        .bind(&domain.connection_id)
        .bind(domain.include_subdomains)
        .bind(self.now_millis())
        .execute(&mut *tx)
        .await?;
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
        let result = sqlx::query(&format!(
            "update discovery_domains set status = $4, use_for_organization_discovery = $5, \
             connection_id = $6, include_subdomains = $7, updated_at = $8 \
             where id = $1 and organization_id = $2 and domain = $3 and {}",
            no_overlap(next.include_subdomains)
        ))
        .bind(&next.id)
        .bind(&next.organization_id)
        .bind(&next.domain)
        .bind(next.status.as_str())
        .bind(next.use_for_organization_discovery)
        .bind(&next.connection_id)
        .bind(next.include_subdomains)
        .bind(self.now_millis())
        .execute(&mut *tx)
        .await?;
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
