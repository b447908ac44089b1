//! The account of a person an upstream identity provider (VNeID) vouched for, at the login's
//! completion (`flow::login::complete`):
//!
//! - found by its link (`federated_link` credential `{upstream}:{sub}`) — refused when the
//!   upstream now names another ID number than the linked account's; a changed name or birth
//!   date there updates the profile (audited `account.identity_updated`);
//! - else an account with the same ID number is linked, when the upstream's mapped level is at
//!   least the account's IAL (a lower level would let a weaker proof open a stronger account:
//!   that needs the account proven first, not done yet, so it is refused with a message);
//! - else a new account is made: registration method = the upstream's id (`vneid`), the mapped
//!   IAL, the identity from the upstream's claims. One transaction with its audit row; a
//!   concurrent first login of the same person finds the other's account.

use serde_json::json;

use crate::app::App;
use crate::audit::{Audit, Event};
use crate::authenticators::{
    Attestation, IdentitySource, Refusal, RefusalKind, UpstreamIdentity, VerifiedIdentity,
};
use crate::domain::{CredentialKind, Ial, SubjectType};
use crate::message::Message;
use crate::store::{CredentialRow, NewAccount, StoreError, UpstreamLink};

/// The account and the link credential that let this person in.
pub struct Linked {
    pub account_id: String,
    pub credential_id: String,
}

/// Finds, links or creates the account of `identity` (source `Upstream`), proven at `level`.
pub async fn account_for(
    app: &App,
    identity: &VerifiedIdentity,
    level: Attestation,
    ip: &str,
) -> Result<Linked, Refusal> {
    let IdentitySource::Upstream(upstream) = &identity.source else {
        return Err(Refusal::invalid("error_federation_failed", "not_upstream"));
    };
    let (Some(id_number), Attestation::Proves(ial)) = (&identity.id_number, level) else {
        return Err(Refusal::invalid("error_federation_failed", "no_identity"));
    };
    let lookup = format!("{}:{}", upstream.upstream, upstream.subject);
    if let Some(found) = by_link(app, &lookup, id_number).await? {
        refresh_identity(app, &found.account_id, identity, upstream, ip).await?;
        return Ok(found);
    }
    match app.db.find_account_by_id_number(id_number).await {
        Ok(Some(account)) if account.subject_type == SubjectType::Citizen => {
            if ial < account.ial {
                return Err(
                    refusal("error_federation_link_needs_proof", "link_level_too_low")
                        .account(Some(&account.id)),
                );
            }
            let linked = link(app, &account.id, upstream, &lookup, ip).await?;
            refresh_identity(app, &account.id, identity, upstream, ip).await?;
            Ok(linked)
        }
        Ok(Some(account)) => {
            Err(refusal("error_federation_failed", "not_a_citizen_account")
                .account(Some(&account.id)))
        }
        Ok(None) => create(app, identity, upstream, id_number, ial, &lookup, ip).await,
        Err(e) => Err(store_failed(&e)),
    }
}

/// The account already linked to this person at this upstream, if any.
async fn by_link(app: &App, lookup: &str, id_number: &str) -> Result<Option<Linked>, Refusal> {
    let link = app
        .db
        .find_credential(CredentialKind::FederatedLink, lookup)
        .await
        .map_err(|e| store_failed(&e))?;
    let Some(link) = link else {
        return Ok(None);
    };
    let account = app
        .db
        .find_account(&link.account_id)
        .await
        .map_err(|e| store_failed(&e))?;
    match account {
        // The same upstream person now carries another ID number: neither account opens.
        Some(a) if a.id_number.as_deref() != Some(id_number) => Err(refusal(
            "error_federation_id_number_changed",
            "id_number_changed",
        )
        .account(Some(&a.id))),
        Some(a) => Ok(Some(Linked {
            account_id: a.id,
            credential_id: link.id,
        })),
        None => Ok(None),
    }
}

/// The upstream is the record of a linked person's name and birth date: when they changed
/// there (a corrected name, a new CCCD's details), the profile follows, audited with both.
async fn refresh_identity(
    app: &App,
    account_id: &str,
    identity: &VerifiedIdentity,
    upstream: &UpstreamIdentity,
    ip: &str,
) -> Result<(), Refusal> {
    let account = app
        .db
        .find_account(account_id)
        .await
        .map_err(|e| store_failed(&e))?
        .ok_or_else(|| Refusal::unavailable("store_unavailable"))?;
    // A token without a birth date says nothing about it: keep ours.
    let birthdate = identity.birthdate.or(account.birthdate);
    if account.full_name == identity.full_name && account.birthdate == birthdate {
        return Ok(());
    }
    let record = app.audit.row(
        Event::new("account.identity_updated")
            .account(account_id)
            .ip(Some(ip))
            .detail(json!({
                "source": upstream.upstream,
                "before": { "full_name": account.full_name, "birthdate": account.birthdate },
                "after": { "full_name": identity.full_name, "birthdate": birthdate },
            })),
    );
    app.db
        .set_identity(
            account_id,
            &identity.full_name,
            birthdate,
            app.clock.now(),
            &record,
        )
        .await
        .map_err(|e| store_failed(&e))?;
    Audit::log(&record);
    Ok(())
}

fn link_of(upstream: &UpstreamIdentity, lookup: &str) -> UpstreamLink {
    UpstreamLink {
        lookup: lookup.to_string(),
        data: json!({
            "upstream": upstream.upstream,
            "subject": upstream.subject,
            "level": upstream.level,
        })
        .to_string(),
        label: upstream.name.clone(),
    }
}

/// Links an existing account to the upstream person (audited with the link, in one write).
async fn link(
    app: &App,
    account_id: &str,
    upstream: &UpstreamIdentity,
    lookup: &str,
    ip: &str,
) -> Result<Linked, Refusal> {
    let l = link_of(upstream, lookup);
    let record = app.audit.row(
        Event::new("account.linked")
            .account(account_id)
            .ip(Some(ip))
            .detail(json!({ "upstream": upstream.upstream, "upstream_level": upstream.level })),
    );
    let row = CredentialRow {
        account_id,
        kind: CredentialKind::FederatedLink,
        lookup: Some(&l.lookup),
        data: &l.data,
        label: Some(&l.label),
    };
    match app
        .db
        .add_credential(&row, app.clock.now(), Some(&record))
        .await
    {
        Ok(stored) => {
            Audit::log(&record);
            Ok(Linked {
                account_id: account_id.to_string(),
                credential_id: stored.id,
            })
        }
        Err(e) => Err(store_failed(&e)),
    }
}

/// The first login of a person without an account: the account, from the upstream's claims.
async fn create(
    app: &App,
    identity: &VerifiedIdentity,
    upstream: &UpstreamIdentity,
    id_number: &str,
    ial: Ial,
    lookup: &str,
    ip: &str,
) -> Result<Linked, Refusal> {
    let new = NewAccount {
        subject_type: SubjectType::Citizen,
        id_number: Some(id_number.to_string()),
        tax_code: None,
        full_name: identity.full_name.clone(),
        birthdate: identity.birthdate,
        email: None,
        ial,
        registration_method: upstream.upstream.clone(),
        phones: Vec::new(),
        password_hash: None,
    };
    let record = app
        .audit
        .row(Event::new("account.registered").ip(Some(ip)).detail(json!({
            "method": upstream.upstream,
            "ial": ial.level(),
            "subject_type": SubjectType::Citizen.as_str(),
            "upstream": upstream.upstream,
            "upstream_level": upstream.level,
        })));
    let made = app
        .db
        .create_linked_account(&new, &link_of(upstream, lookup), app.clock.now(), &record)
        .await;
    match made {
        Ok(account) => {
            Audit::log(&record);
            let link = app
                .db
                .find_credential(CredentialKind::FederatedLink, lookup)
                .await
                .map_err(|e| store_failed(&e))?
                .ok_or_else(|| Refusal::unavailable("store_unavailable"))?;
            Ok(Linked {
                account_id: account.id,
                credential_id: link.id,
            })
        }
        // Someone made it meanwhile (the same person's other tab): log into theirs.
        Err(StoreError::Conflict) => by_link(app, lookup, id_number)
            .await?
            .ok_or_else(|| refusal("error_federation_failed", "registration_conflict")),
        Err(e) => Err(store_failed(&e)),
    }
}

fn refusal(key: &'static str, reason: &'static str) -> Refusal {
    Refusal::new(RefusalKind::Unauthorized, Message::new(key), reason)
}

fn store_failed(e: &StoreError) -> Refusal {
    tracing::error!(error = %e, "federated account lookup failed");
    Refusal::unavailable("store_unavailable")
}
