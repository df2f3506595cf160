//! A tenant's asset list (hosts with a criticality and an owner), replaced whole by an
//! import (`vigie_govern::assets::parse_csv`).

use sqlx::Row;
use vigie_event::TenantId;
use vigie_govern::assets::Asset;

use crate::{State, StateError};

impl State {
    /// Replaces `tenant`'s asset list with `assets`, in one transaction.
    pub async fn replace_assets(
        &self,
        tenant: &TenantId,
        assets: &[Asset],
    ) -> Result<(), StateError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin an asset import"))?;
        sqlx::query("DELETE FROM assets WHERE tenant = $1")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("clear assets"))?;
        for a in assets {
            sqlx::query(
                "INSERT INTO assets (tenant, host, criticality, owner) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant.as_str())
            .bind(&a.host)
            .bind(a.criticality.as_str())
            .bind(a.owner.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("import an asset"))?;
        }
        tx.commit()
            .await
            .map_err(StateError::sql("commit an asset import"))
    }

    /// `tenant`'s asset list, by host.
    pub async fn assets(&self, tenant: &TenantId) -> Result<Vec<Asset>, StateError> {
        let rows = sqlx::query(
            "SELECT host, criticality, owner FROM assets WHERE tenant = $1 ORDER BY host",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("list assets"))?;
        rows.iter()
            .map(|r| {
                let c: String = r.get(1);
                Ok(Asset {
                    host: r.get(0),
                    criticality: c
                        .parse()
                        .map_err(|_| StateError::Corrupt(format!("criticality {c:?}")))?,
                    owner: r.get(2),
                })
            })
            .collect()
    }
}
