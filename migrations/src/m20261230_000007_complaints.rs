//! Complaints ("khiếu nại") about an ID number registered by someone else (issue 9, item 5).
//! Expand-only: a new table and its indexes, so a node of the previous release keeps working.
//!
//! - `complaints`: one row per complaint, with its ticket (`KN-` and eight characters, unique),
//!   the disputed ID number, the account that held it when the complaint was filed (internal:
//!   never shown to the complainant; no foreign key, the complaint outlives any account), the
//!   complainant's name, contact phone (E.164; the SMS notices go there) and optional email,
//!   the description, the complainant's language (for the SMS of later steps), the status (`flow::complaints::ComplaintStatus`), and the officer who
//!   last acted on it with their office.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Complaints {
    Table,
    Id,
    Ticket,
    IdNumber,
    AccountId,
    ComplainantName,
    ContactPhone,
    ContactEmail,
    Description,
    Locale,
    Status,
    HandledBy,
    Office,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Complaints::Table)
                .col(
                    ColumnDef::new(Complaints::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Complaints::Ticket).string_len(16).not_null())
                .col(
                    ColumnDef::new(Complaints::IdNumber)
                        .string_len(12)
                        .not_null(),
                )
                .col(ColumnDef::new(Complaints::AccountId).string_len(36))
                .col(
                    ColumnDef::new(Complaints::ComplainantName)
                        .string_len(200)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Complaints::ContactPhone)
                        .string_len(20)
                        .not_null(),
                )
                .col(ColumnDef::new(Complaints::ContactEmail).string_len(254))
                .col(ColumnDef::new(Complaints::Description).text().not_null())
                .col(ColumnDef::new(Complaints::Locale).string_len(8).not_null())
                .col(ColumnDef::new(Complaints::Status).string_len(32).not_null())
                .col(ColumnDef::new(Complaints::HandledBy).string_len(36))
                .col(ColumnDef::new(Complaints::Office).string_len(200))
                .col(
                    ColumnDef::new(Complaints::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Complaints::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_complaints_ticket")
                .table(Complaints::Table)
                .col(Complaints::Ticket)
                .unique()
                .to_owned(),
        )
        .await?;
        // The queue: open and in-progress complaints, oldest first.
        m.create_index(
            Index::create()
                .name("ix_complaints_status_created")
                .table(Complaints::Table)
                .col(Complaints::Status)
                .col(Complaints::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_complaints_account")
                .table(Complaints::Table)
                .col(Complaints::AccountId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Complaints::Table).to_owned())
            .await?;
        Ok(())
    }
}
