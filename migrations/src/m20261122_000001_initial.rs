//! The initial schema: accounts and their phones and credentials, OAuth clients, consents,
//! refresh-token grants, signing keys and the audit log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    SubjectType,
    IdNumber,
    TaxCode,
    FullName,
    Birthdate,
    Email,
    Ial,
    RegistrationMethod,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Phones {
    Table,
    Id,
    AccountId,
    E164,
    Verified,
    IsDefault,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    AccountId,
    Kind,
    Secret,
    Label,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    ClientId,
    Name,
    SecretHash,
    AuthMethod,
    RedirectUris,
    PostLogoutRedirectUris,
    BackchannelLogoutUri,
    GrantTypes,
    AllowedScopes,
    Jwks,
    SkipConsent,
    MinAcr,
    IdTokenAlg,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    Id,
    AccountId,
    ClientId,
    Scopes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    FamilyId,
    TokenHash,
    ClientId,
    AccountId,
    Sid,
    Scope,
    Acr,
    Amr,
    AuthTime,
    Claims,
    ExpiresAt,
    CreatedAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Alg,
    PrivateKey,
    PublicJwk,
    CreatedAt,
    ActivatesAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Kind,
    AccountId,
    ClientId,
    Ip,
    Detail,
}

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(36).not_null().to_owned()
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn fk_cascade(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Accounts::Table)
                .col(id(Accounts::Id).primary_key())
                .col(
                    ColumnDef::new(Accounts::SubjectType)
                        .string_len(16)
                        .not_null(),
                )
                // The duplicate checks of the seeds are unique constraints, not read-then-write.
                .col(
                    ColumnDef::new(Accounts::IdNumber)
                        .string_len(12)
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(Accounts::TaxCode)
                        .string_len(14)
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(Accounts::FullName)
                        .string_len(200)
                        .not_null(),
                )
                .col(ColumnDef::new(Accounts::Birthdate).date())
                .col(ColumnDef::new(Accounts::Email).string_len(254))
                .col(ColumnDef::new(Accounts::Ial).small_integer().not_null())
                .col(
                    ColumnDef::new(Accounts::RegistrationMethod)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(Accounts::Status).string_len(16).not_null())
                .col(timestamp(Accounts::CreatedAt))
                .col(timestamp(Accounts::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Phones::Table)
                .col(id(Phones::Id).primary_key())
                .col(id(Phones::AccountId))
                .col(ColumnDef::new(Phones::E164).string_len(16).not_null())
                .col(ColumnDef::new(Phones::Verified).boolean().not_null())
                .col(ColumnDef::new(Phones::IsDefault).boolean().not_null())
                .col(timestamp(Phones::CreatedAt))
                .foreign_key(&mut fk_cascade(
                    "fk_phones_account",
                    (Phones::Table, Phones::AccountId),
                    (Accounts::Table, Accounts::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_phones_account_e164")
                .table(Phones::Table)
                .col(Phones::AccountId)
                .col(Phones::E164)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_phones_e164")
                .table(Phones::Table)
                .col(Phones::E164)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Credentials::Table)
                .col(id(Credentials::Id).primary_key())
                .col(id(Credentials::AccountId))
                .col(ColumnDef::new(Credentials::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Credentials::Secret).text().not_null())
                .col(ColumnDef::new(Credentials::Label).string_len(200))
                .col(timestamp(Credentials::CreatedAt))
                .col(timestamp(Credentials::UpdatedAt))
                .foreign_key(&mut fk_cascade(
                    "fk_credentials_account",
                    (Credentials::Table, Credentials::AccountId),
                    (Accounts::Table, Accounts::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_credentials_account_kind")
                .table(Credentials::Table)
                .col(Credentials::AccountId)
                .col(Credentials::Kind)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Clients::Table)
                .col(
                    ColumnDef::new(Clients::ClientId)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Clients::Name).string_len(200).not_null())
                .col(ColumnDef::new(Clients::SecretHash).string_len(64))
                .col(
                    ColumnDef::new(Clients::AuthMethod)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(Clients::RedirectUris).text().not_null())
                .col(
                    ColumnDef::new(Clients::PostLogoutRedirectUris)
                        .text()
                        .not_null(),
                )
                .col(ColumnDef::new(Clients::BackchannelLogoutUri).text())
                .col(ColumnDef::new(Clients::GrantTypes).text().not_null())
                .col(ColumnDef::new(Clients::AllowedScopes).text().not_null())
                .col(ColumnDef::new(Clients::Jwks).text())
                .col(ColumnDef::new(Clients::SkipConsent).boolean().not_null())
                .col(ColumnDef::new(Clients::MinAcr).string_len(32))
                .col(ColumnDef::new(Clients::IdTokenAlg).string_len(8).not_null())
                .col(timestamp(Clients::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Consents::Table)
                .col(id(Consents::Id).primary_key())
                .col(id(Consents::AccountId))
                .col(ColumnDef::new(Consents::ClientId).string_len(64).not_null())
                .col(ColumnDef::new(Consents::Scopes).text().not_null())
                .col(timestamp(Consents::CreatedAt))
                .col(timestamp(Consents::UpdatedAt))
                .foreign_key(&mut fk_cascade(
                    "fk_consents_account",
                    (Consents::Table, Consents::AccountId),
                    (Accounts::Table, Accounts::Id),
                ))
                .foreign_key(&mut fk_cascade(
                    "fk_consents_client",
                    (Consents::Table, Consents::ClientId),
                    (Clients::Table, Clients::ClientId),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_consents_account_client")
                .table(Consents::Table)
                .col(Consents::AccountId)
                .col(Consents::ClientId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(id(RefreshTokens::Id).primary_key())
                .col(id(RefreshTokens::FamilyId))
                .col(
                    ColumnDef::new(RefreshTokens::TokenHash)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(RefreshTokens::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(id(RefreshTokens::AccountId))
                .col(ColumnDef::new(RefreshTokens::Sid).string_len(64))
                .col(ColumnDef::new(RefreshTokens::Scope).text().not_null())
                .col(ColumnDef::new(RefreshTokens::Acr).string_len(32).not_null())
                .col(ColumnDef::new(RefreshTokens::Amr).text().not_null())
                .col(timestamp(RefreshTokens::AuthTime))
                .col(ColumnDef::new(RefreshTokens::Claims).text())
                .col(timestamp(RefreshTokens::ExpiresAt))
                .col(timestamp(RefreshTokens::CreatedAt))
                .col(ColumnDef::new(RefreshTokens::UsedAt).timestamp_with_time_zone())
                .col(ColumnDef::new(RefreshTokens::RevokedAt).timestamp_with_time_zone())
                .foreign_key(&mut fk_cascade(
                    "fk_refresh_tokens_client",
                    (RefreshTokens::Table, RefreshTokens::ClientId),
                    (Clients::Table, Clients::ClientId),
                ))
                .foreign_key(&mut fk_cascade(
                    "fk_refresh_tokens_account",
                    (RefreshTokens::Table, RefreshTokens::AccountId),
                    (Accounts::Table, Accounts::Id),
                ))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ix_refresh_tokens_family", RefreshTokens::FamilyId),
            ("ix_refresh_tokens_account", RefreshTokens::AccountId),
            ("ix_refresh_tokens_sid", RefreshTokens::Sid),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(RefreshTokens::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(SigningKeys::Table)
                .col(
                    ColumnDef::new(SigningKeys::Kid)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(SigningKeys::Alg).string_len(8).not_null())
                .col(ColumnDef::new(SigningKeys::PrivateKey).text().not_null())
                .col(ColumnDef::new(SigningKeys::PublicJwk).text().not_null())
                .col(timestamp(SigningKeys::CreatedAt))
                .col(timestamp(SigningKeys::ActivatesAt))
                .col(ColumnDef::new(SigningKeys::RetiredAt).timestamp_with_time_zone())
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(
                    ColumnDef::new(AuditEvents::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(timestamp(AuditEvents::At))
                .col(ColumnDef::new(AuditEvents::Kind).string_len(64).not_null())
                .col(ColumnDef::new(AuditEvents::AccountId).string_len(36))
                .col(ColumnDef::new(AuditEvents::ClientId).string_len(64))
                .col(ColumnDef::new(AuditEvents::Ip).string_len(64))
                .col(ColumnDef::new(AuditEvents::Detail).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_events_account")
                .table(AuditEvents::Table)
                .col(AuditEvents::AccountId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_events_kind_at")
                .table(AuditEvents::Table)
                .col(AuditEvents::Kind)
                .col(AuditEvents::At)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Consents::Table.into_iden(),
            Clients::Table.into_iden(),
            Credentials::Table.into_iden(),
            Phones::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
