//! `xacthuc account role grant|revoke|list`: staff roles, from the command line until the
//! admin console exists. Each grant and revocation is an audit event (`role.granted`,
//! `role.revoked`) with no actor: the operator at the command line.

use clap::{Args, Subcommand};
use serde_json::json;

use crate::audit::{Audit, Event};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{Account, IdNumber, Role};
use crate::store::Database;

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Give an account a role (admin, client_manager, counter_officer, auditor).
    Grant(RoleGrantArgs),
    /// Take a role from an account.
    Revoke(RoleArgs),
    /// The accounts holding a role.
    List {
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

#[derive(Args)]
pub struct RoleArgs {
    /// The account: a citizen's ID number (CCCD/CMND), or an official's ID number for an
    /// agency account.
    #[arg(long)]
    pub id_number: String,
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
}

#[derive(Args)]
pub struct RoleGrantArgs {
    #[command(flatten)]
    pub who: RoleArgs,
    /// Where the role is exercised: for a counter officer, the post office or service desk
    /// (recorded with every account they register).
    #[arg(long)]
    pub office: Option<String>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
        format!("unknown role; one of: {}", names.join(", "))
    })
}

pub async fn run(config: Config, cmd: RoleCommand) -> anyhow::Result<()> {
    let db = Database::connect(&config.database.url, 1).await?;
    let clock = Clock::system();
    let audit = Audit::new(db.clone(), clock.clone());
    match cmd {
        RoleCommand::Grant(g) => {
            let account = account_named(&db, &g.who.id_number).await?;
            let office = g.office.as_deref().map(str::trim).filter(|o| !o.is_empty());
            if g.who.role == Role::CounterOfficer && office.is_none() {
                anyhow::bail!(
                    "--office is required for a counter officer (their post office or service desk)"
                );
            }
            let row = audit.row(
                Event::new("role.granted")
                    .account(&account.id)
                    .detail(json!({ "role": g.who.role.name(), "office": office, "by": "cli" })),
            );
            let granted = db
                .grant_role(&account.id, g.who.role, office, None, clock.now(), &row)
                .await?;
            if granted {
                Audit::log(&row);
            }
            println!(
                "{}",
                json!({ "sub": account.id, "role": g.who.role.name(), "granted": granted })
            );
        }
        RoleCommand::Revoke(r) => {
            let account = account_named(&db, &r.id_number).await?;
            let row = audit.row(
                Event::new("role.revoked")
                    .account(&account.id)
                    .detail(json!({ "role": r.role.name(), "by": "cli" })),
            );
            let revoked = db.revoke_role(&account.id, r.role, &row).await?;
            if revoked {
                Audit::log(&row);
            }
            println!(
                "{}",
                json!({ "sub": account.id, "role": r.role.name(), "revoked": revoked })
            );
        }
        RoleCommand::List { role } => {
            for (account, grant) in db.holders_of(role).await? {
                println!(
                    "{}",
                    json!({
                        "sub": account.id,
                        "id_number": account.id_number.or(account.official_id),
                        "name": account.full_name,
                        "office": grant.office,
                        "granted_at": grant.granted_at.to_rfc3339(),
                    })
                );
            }
        }
    }
    Ok(())
}

/// The citizen account with this ID number, else the agency account of this official.
async fn account_named(db: &Database, id_number: &str) -> anyhow::Result<Account> {
    let id = IdNumber::parse(id_number).map_err(|e| anyhow::anyhow!("--id-number: {e}"))?;
    if let Some(a) = db.find_account_by_id_number(id.as_str()).await? {
        return Ok(a);
    }
    if let Some(a) = db.find_account_by_official_id(id.as_str()).await? {
        return Ok(a);
    }
    anyhow::bail!("no account with ID number {id}")
}
