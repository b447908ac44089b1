//! Staff roles (`account role` on the command line, `Database::grant_role`) and locked
//! accounts: the ground the counter, the complaints and the admin console stand on.

use reqwest::StatusCode;
use serde_json::json;
use xacthuc::audit::Event;
use xacthuc::domain::{AccountStatus, Ial, Role};
use xacthuc::store::StoreError;

use crate::helpers::*;

#[tokio::test]
async fn a_role_is_granted_once_revoked_once_and_each_change_is_audited() {
    let t = spawn_app().await;
    let sub = t.add_account("001090000301", Ial::Ial2).await;
    let grant = |office: &'static str| {
        t.app.audit.row(
            Event::new("role.granted")
                .account(&sub)
                .detail(json!({ "role": "counter_officer", "office": office })),
        )
    };
    let db = &t.app.db;
    let now = t.clock.now();
    let office = Some("Bưu điện Hà Đông");
    assert!(
        db.grant_role(&sub, Role::CounterOfficer, office, None, now, &grant("a"))
            .await
            .unwrap()
    );
    // Held already: nothing written, not even the audit row.
    assert!(
        !db.grant_role(&sub, Role::CounterOfficer, None, None, now, &grant("b"))
            .await
            .unwrap()
    );
    let roles = db.roles_of(&sub).await.unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].role, Role::CounterOfficer);
    assert_eq!(roles[0].office.as_deref(), office);
    let holders = db.holders_of(Role::CounterOfficer).await.unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].0.id, sub);
    assert!(db.holders_of(Role::Admin).await.unwrap().is_empty());
    let granted: Vec<_> = db
        .audit_events(50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "role.granted")
        .collect();
    assert_eq!(
        granted.len(),
        1,
        "the refused second grant left no audit row"
    );
    assert_eq!(granted[0].detail["office"], "a");

    let revoke = t.app.audit.row(Event::new("role.revoked").account(&sub));
    assert!(
        db.revoke_role(&sub, Role::CounterOfficer, &revoke)
            .await
            .unwrap()
    );
    assert!(
        !db.revoke_role(&sub, Role::CounterOfficer, &revoke)
            .await
            .unwrap()
    );
    assert!(db.roles_of(&sub).await.unwrap().is_empty());
    let revoked = db
        .audit_events(50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "role.revoked")
        .count();
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn a_role_for_an_account_that_does_not_exist_is_refused_and_writes_nothing() {
    let t = spawn_app().await;
    let row = t
        .app
        .audit
        .row(Event::new("role.granted").detail(json!({ "role": "admin" })));
    let err = t
        .app
        .db
        .grant_role(
            "no-such-account",
            Role::Admin,
            None,
            None,
            t.clock.now(),
            &row,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert!(t.app.db.holders_of(Role::Admin).await.unwrap().is_empty());
    assert!(audited_kind(&t, "role.granted").await.is_none());
}

#[tokio::test]
async fn the_actor_of_an_audit_event_is_kept_apart_from_the_account_it_is_about() {
    let t = spawn_app().await;
    let officer = t.add_account("001090000302", Ial::Ial2).await;
    let citizen = t
        .add_account_with_phones("001090000303", Ial::Ial2, &["+84823620303"])
        .await;
    t.app
        .audit
        .record(Event::new("counter.test").account(&citizen).actor(&officer))
        .await
        .unwrap();
    let e = audited_kind(&t, "counter.test").await.expect("recorded");
    assert_eq!(e.account_id.as_deref(), Some(citizen.as_str()));
    assert_eq!(e.actor_id.as_deref(), Some(officer.as_str()));
}

#[tokio::test]
async fn a_locked_account_cannot_log_in_and_home_offers_officers_their_area() {
    let t = spawn_app().await;
    let sub = t.add_account("001090000304", Ial::Ial2).await;
    let lock = t.app.audit.row(Event::new("account.locked").account(&sub));
    t.app
        .db
        .set_account_status(&sub, AccountStatus::Locked, t.clock.now(), &lock)
        .await
        .unwrap();
    assert_eq!(
        t.app.db.find_account(&sub).await.unwrap().unwrap().status,
        AccountStatus::Locked
    );
    let b = browser();
    let form = login_form(&b, &t.url("/login"), "001090000304", PASSWORD).await;
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Unlocked, the same person logs in; as a counter officer, home links to the counter.
    let unlock = t
        .app
        .audit
        .row(Event::new("account.unlocked").account(&sub));
    t.app
        .db
        .set_account_status(&sub, AccountStatus::Active, t.clock.now(), &unlock)
        .await
        .unwrap();
    let grant = t.app.audit.row(Event::new("role.granted").account(&sub));
    t.app
        .db
        .grant_role(
            &sub,
            Role::CounterOfficer,
            Some("Bưu điện Cầu Giấy"),
            None,
            t.clock.now(),
            &grant,
        )
        .await
        .unwrap();
    let b = browser();
    let home = login(&t, &b, &t.url("/login"), "001090000304", PASSWORD).await;
    assert_eq!(home, t.url("/"));
    let home = page_text(&b, t.url("/")).await;
    assert!(home.contains("id=\"counter-link\""), "{home}");
    assert!(shows(&t, &home, "home_counter_link"));
}
