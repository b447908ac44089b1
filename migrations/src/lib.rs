//! Schema migrations for xacthuc: one set, run on SQLite and PostgreSQL alike.
//! One file per schema change; never edit a migration that has shipped.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261205_000002_credential_kinds;
mod m20261220_000003_email_verified;
mod m20261227_000004_account_levels;
mod m20261228_000005_roles;
mod m20261229_000006_counter;
mod m20261230_000007_complaints;
mod m20261231_000008_client_secrets;
mod m20261231_000009_pairwise;
mod m20270101_000010_client_admin;
mod m20270101_000011_trust_anchors;
mod m20270101_000012_audit_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261205_000002_credential_kinds::Migration),
            Box::new(m20261220_000003_email_verified::Migration),
            Box::new(m20261227_000004_account_levels::Migration),
            Box::new(m20261228_000005_roles::Migration),
            Box::new(m20261229_000006_counter::Migration),
            Box::new(m20261230_000007_complaints::Migration),
            Box::new(m20261231_000008_client_secrets::Migration),
            Box::new(m20261231_000009_pairwise::Migration),
            Box::new(m20270101_000010_client_admin::Migration),
            Box::new(m20270101_000011_trust_anchors::Migration),
            Box::new(m20270101_000012_audit_indexes::Migration),
        ]
    }
}
