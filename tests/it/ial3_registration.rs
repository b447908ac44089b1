//! IAL3 accounts (issue 8): the store's one-transaction writes for accounts proven by a
//! signature certificate — registration (the account, its certificate, the first row of its
//! level's history and the audit row) and the IAL2 → IAL3 raise — on SQLite, and on
//! PostgreSQL under `DATABASE_URL`; nothing half-written when a unique key refuses.

use xacthuc::audit::Event;
use xacthuc::domain::{CredentialKind, Ial, SubjectType};
use xacthuc::store::{CertificateCredential, Extras, LevelRaise, NewAccount, StoreError};

use crate::helpers::*;

fn certificate(n: u8) -> CertificateCredential {
    CertificateCredential {
        sha256: format!("{n:02x}").repeat(32),
        data: "{}".into(),
        label: "CN=Test CA".into(),
    }
}

fn new_account(
    subject: SubjectType,
    id_number: Option<&str>,
    tax_code: Option<&str>,
) -> NewAccount {
    NewAccount {
        subject_type: subject,
        id_number: id_number.map(str::to_string),
        tax_code: tax_code.map(str::to_string),
        full_name: "Công ty TNHH Ví Dụ".into(),
        birthdate: None,
        email: Some("lienhe@vidu.vn".into()),
        ial: Ial::Ial3,
        registration_method: "sim_signature".into(),
        phones: vec![],
        password_hash: None,
    }
}

async fn audit_kinds(t: &TestApp) -> Vec<String> {
    let mut kinds: Vec<String> = t
        .app
        .db
        .audit_events(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    kinds.reverse();
    kinds
}

#[tokio::test]
async fn a_certified_account_is_written_whole_or_not_at_all() {
    let t = spawn_app().await;
    let db = &t.app.db;
    let extras = Extras {
        organization: Some("Công ty TNHH Ví Dụ".into()),
        official_id: None,
        certificate_sha256: Some(certificate(1).sha256),
    };
    let audit = t.app.audit.row(Event::new("account.registered"));
    let enterprise = new_account(SubjectType::Enterprise, None, Some("0100233488"));
    let account = db
        .create_certified_account(&enterprise, &extras, &certificate(1), t.clock.now(), &audit)
        .await
        .unwrap();
    assert_eq!(account.ial, Ial::Ial3);
    assert_eq!(account.organization.as_deref(), Some("Công ty TNHH Ví Dụ"));
    assert_eq!(
        db.find_account_by_tax_code("0100233488")
            .await
            .unwrap()
            .map(|a| a.id),
        Some(account.id.clone())
    );
    let certs = db
        .credentials_of(&account.id, CredentialKind::Certificate)
        .await
        .unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(
        certs[0].lookup.as_deref(),
        Some(certificate(1).sha256.as_str())
    );
    let history = db.account_levels(&account.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].level, Ial::Ial3);
    assert_eq!(history[0].method, "sim_signature");
    assert_eq!(
        history[0].certificate_sha256.as_deref(),
        Some(certificate(1).sha256.as_str())
    );
    assert_eq!(audit_kinds(&t).await, ["account.registered"]);

    // The same tax code again, or another enterprise presenting the same certificate: refused
    // by the unique keys, and nothing of it is left behind.
    let again = db
        .create_certified_account(&enterprise, &extras, &certificate(2), t.clock.now(), &audit)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    let other = new_account(SubjectType::Enterprise, None, Some("0314409058"));
    let same_cert = db
        .create_certified_account(&other, &extras, &certificate(1), t.clock.now(), &audit)
        .await;
    assert!(
        matches!(same_cert, Err(StoreError::Conflict)),
        "{same_cert:?}"
    );
    assert!(
        db.find_account_by_tax_code("0314409058")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_kinds(&t).await, ["account.registered"]);
}

#[tokio::test]
async fn an_officials_agency_account_stands_beside_their_citizen_account() {
    let t = spawn_app().await;
    let db = &t.app.db;
    let citizen = t.add_account("001090012345", Ial::Ial2).await;
    let official = Extras {
        organization: Some("Bộ Tư pháp".into()),
        official_id: Some("001090012345".into()),
        certificate_sha256: Some(certificate(3).sha256),
    };
    let audit = t.app.audit.row(Event::new("account.registered"));
    let agency = NewAccount {
        full_name: "Nguyễn Văn An".into(),
        registration_method: "usb_token".into(),
        ..new_account(SubjectType::Agency, None, None)
    };
    let account = db
        .create_certified_account(&agency, &official, &certificate(3), t.clock.now(), &audit)
        .await
        .unwrap();
    assert_ne!(account.id, citizen);
    assert_eq!(account.subject_type, SubjectType::Agency);
    assert_eq!(account.id_number, None);
    assert_eq!(account.official_id.as_deref(), Some("001090012345"));
    assert_eq!(account.organization.as_deref(), Some("Bộ Tư pháp"));
    let found = db
        .find_account_by_official_id("001090012345")
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some(account.id));
    let by_number = db.find_account_by_id_number("001090012345").await.unwrap();
    assert_eq!(by_number.map(|a| a.id), Some(citizen));
    // One agency account per official.
    let twice = db
        .create_certified_account(&agency, &official, &certificate(4), t.clock.now(), &audit)
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict)), "{twice:?}");
}

#[tokio::test]
async fn raising_a_level_keeps_its_history_and_binds_the_certificate_once() {
    let t = spawn_app().await;
    let db = &t.app.db;
    let account = t.add_account("001090012345", Ial::Ial2).await;
    let other = t.add_account("079090054321", Ial::Ial2).await;
    let audit = t
        .app
        .audit
        .row(Event::new("account.level_raised").account(&account));
    let raised = db
        .raise_level(
            &account,
            Ial::Ial3,
            "sim_signature",
            &certificate(5),
            t.clock.now(),
            &audit,
        )
        .await
        .unwrap();
    assert_eq!(raised, LevelRaise::Raised);
    assert_eq!(
        db.find_account(&account).await.unwrap().unwrap().ial,
        Ial::Ial3
    );
    let history = db.account_levels(&account).await.unwrap();
    let levels: Vec<(Ial, &str)> = history
        .iter()
        .map(|h| (h.level, h.method.as_str()))
        .collect();
    assert_eq!(levels, [(Ial::Ial2, "test"), (Ial::Ial3, "sim_signature")]);
    assert_eq!(
        history[1].certificate_sha256.as_deref(),
        Some(certificate(5).sha256.as_str())
    );
    // Already IAL3: nothing written.
    let again = db
        .raise_level(
            &account,
            Ial::Ial3,
            "sim_signature",
            &certificate(6),
            t.clock.now(),
            &audit,
        )
        .await
        .unwrap();
    assert_eq!(again, LevelRaise::NotLower);
    assert_eq!(db.account_levels(&account).await.unwrap().len(), 2);
    // The certificate is bound to the first account: another cannot take it, and stays IAL2.
    let audit = t
        .app
        .audit
        .row(Event::new("account.level_raised").account(&other));
    let taken = db
        .raise_level(
            &other,
            Ial::Ial3,
            "sim_signature",
            &certificate(5),
            t.clock.now(),
            &audit,
        )
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict)), "{taken:?}");
    assert_eq!(
        db.find_account(&other).await.unwrap().unwrap().ial,
        Ial::Ial2
    );
    assert_eq!(db.account_levels(&other).await.unwrap().len(), 1);
    assert_eq!(audit_kinds(&t).await, ["account.level_raised"]);
}
