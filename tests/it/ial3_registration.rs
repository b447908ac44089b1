//! IAL3 accounts (issue 8). The store's one-transaction writes for accounts proven by a
//! signature certificate — registration (the account, its certificate, the first row of its
//! level's history and the audit row) and the IAL2 → IAL3 raise — on SQLite, and on
//! PostgreSQL under `DATABASE_URL`; nothing half-written when a unique key refuses. Then
//! registration by SIM signature over HTTP against the sandbox mobile-signature service: a
//! citizen (and the portal's ID token at `acr=IAL3`), an enterprise (email required, claims
//! by scope, the duplicate by tax code with its three ways out), a duplicate citizen, a
//! certificate of the wrong class, and an audit failure leaving no account.

use reqwest::StatusCode;
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

// ── Registration by SIM signature over HTTP (the sandbox MSSP approves) ─────────────────────

/// The seeded SIM holders: Nguyễn Văn An's own certificate, and an enterprise's.
const AN_PHONE: &str = "0823456088";
const AN_ID: &str = "001090012345";
const AN_PIN: &str = "123456";
const SAOMAI_PHONE: &str = "0909123456";
const SAOMAI_TAX_CODE: &str = "0312345673";
const SAOMAI_PIN: &str = "111111";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// Signs with the SIM of `phone` on the page at `start` (a registration's or an upgrade's
/// first page, showing the phone form) in browser `b`, approved on the phone with `pin`;
/// returns the answer to the page's last post.
pub async fn sim_sign(
    t: &TestApp,
    b: &reqwest::Client,
    start: &str,
    phone: &str,
    pin: &str,
) -> reqwest::Response {
    let resp = b.get(t.url(start)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{start}");
    let html = resp.text().await.unwrap();
    assert!(html.contains("name=\"phone\""), "the phone form: {html}");
    let ar = query(&t.url(start)).get("ar").cloned().unwrap_or_default();
    let mut push = PushLogin {
        b: b.clone(),
        method: "sim_signature",
        ar,
        html,
    };
    assert_eq!(push.post_page(t, &[("phone", phone)]).await, StatusCode::OK);
    let pending = pending_signatures(t, "mssp", phone).await;
    let id = pending[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        answer_signature(t, "mssp", &id, Some(pin)).await,
        StatusCode::OK
    );
    t.advance(2);
    push.post(t, &[]).await
}

#[tokio::test]
async fn a_citizen_registers_by_sim_and_the_portal_gets_acr_ial3() {
    let t = spawn_app().await;
    let (client_id, secret) = t.add_client(|_| {}).await;
    let (verifier, challenge) = pkce();
    let b = browser();
    let url = authorize_with(&t, &client_id, &challenge, "openid profile id_number", &[]);
    let login_url = location(&b.get(url).send().await.unwrap());
    let ar = query(&login_url)["ar"].clone();
    // "Đăng ký" → "Công dân": the IAL3 cards start the signature, no "Sắp ra mắt".
    let choice = page_text(&b, t.url(&format!("/register?subject=citizen&ar={ar}"))).await;
    let start = format!("/register/citizen/sim_signature?ar={ar}");
    assert!(choice.contains("data-method=\"sim_signature\""), "{choice}");
    assert!(
        choice.contains("data-method=\"remote_signature\""),
        "{choice}"
    );
    assert!(!choice.contains("Sắp ra mắt"));

    let signed = sim_sign(&t, &b, &start, AN_PHONE, AN_PIN).await;
    let html = confirm_page(&t, &b, signed).await;
    assert!(
        html.contains("Nguyễn Văn An"),
        "the name read from the certificate"
    );
    assert!(
        html.contains(AN_ID),
        "the ID number read from the certificate"
    );
    assert!(
        html.contains("an.nguyen@example.vn"),
        "the certificate's email, pre-filled"
    );
    // Nothing is written before "Đăng ký".
    assert!(
        t.app
            .db
            .find_account_by_id_number(AN_ID)
            .await
            .unwrap()
            .is_none()
    );

    let resp = post_confirm(&t, &b, &html, "an.nguyen@example.vn").await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let next = location(&resp);
    assert!(
        next.contains("/consent?"),
        "logged in, on to the portal: {next}"
    );
    let back = consent(&b, &next, true).await;
    let tokens = redeem(&t, &back, &client_id, secret.as_deref().unwrap(), &verifier).await;
    let claims = crate::code_flow::decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["acr"], "IAL3");
    assert_eq!(claims["subject_type"], "citizen");
    assert_eq!(claims["id_number"], AN_ID);

    let account = t
        .app
        .db
        .find_account_by_id_number(AN_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claims["sub"], account.id.as_str());
    assert_eq!(account.ial, Ial::Ial3);
    assert_eq!(account.registration_method, "sim_signature");
    let certs = t
        .app
        .db
        .credentials_of(&account.id, CredentialKind::Certificate)
        .await
        .unwrap();
    assert_eq!(
        certs.len(),
        1,
        "the certificate is the account's credential"
    );
    let history = t.app.db.account_levels(&account.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].certificate_sha256, certs[0].lookup);
    let kinds = audit_kinds(&t).await;
    assert!(
        kinds.contains(&"account.registered".to_string()),
        "{kinds:?}"
    );

    // The same certificate now logs into that account.
    let mut again = PushLogin::open(&t, "sim_signature").await;
    again.post_page(&t, &[("phone", AN_PHONE)]).await;
    let id = pending_signatures(&t, "mssp", AN_PHONE).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    answer_signature(&t, "mssp", &id, Some(AN_PIN)).await;
    t.advance(2);
    let resp = again.post(&t, &[]).await;
    assert_eq!(location(&resp), t.url("/"), "logged in");
}

#[tokio::test]
async fn an_enterprise_registers_with_its_email_and_portals_get_its_tax_code() {
    let t = spawn_app().await;
    let b = browser();
    let signed = sim_sign(
        &t,
        &b,
        "/register/enterprise/sim_signature",
        SAOMAI_PHONE,
        SAOMAI_PIN,
    )
    .await;
    let html = confirm_page(&t, &b, signed).await;
    assert!(
        html.contains(SAOMAI_TAX_CODE),
        "the tax code read from the certificate"
    );
    assert!(html.contains("CÔNG TY TNHH PHẦN MỀM SAO MAI"));
    // The email is required for an enterprise; the page says so and keeps the flow.
    let resp = post_confirm(&t, &b, &html, "").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let again = resp.text().await.unwrap();
    assert!(
        again.contains("Doanh nghiệp phải nhập địa chỉ email"),
        "{again}"
    );
    assert!(
        t.app
            .db
            .find_account_by_tax_code(SAOMAI_TAX_CODE)
            .await
            .unwrap()
            .is_none()
    );
    let resp = post_confirm(&t, &b, &again, "KeToan@SaoMai.example.vn").await;
    assert_eq!(location(&resp), t.url("/"), "registered and logged in");
    let account = t
        .app
        .db
        .find_account_by_tax_code(SAOMAI_TAX_CODE)
        .await
        .unwrap()
        .expect("the enterprise account");
    assert_eq!(account.subject_type, SubjectType::Enterprise);
    assert_eq!(account.ial, Ial::Ial3);
    assert_eq!(account.id_number, None);
    assert_eq!(
        account.organization.as_deref(),
        Some("CÔNG TY TNHH PHẦN MỀM SAO MAI")
    );
    // The domain is lower-cased; the local part is kept as typed.
    assert_eq!(account.email.as_deref(), Some("KeToan@saomai.example.vn"));

    // Claims by scope: `organization` releases the tax code and the name; `profile` does not.
    let (client_id, secret) = t.add_client(|c| c.skip_consent = true).await;
    for (scope, released) in [("openid organization", true), ("openid profile", false)] {
        let (verifier, challenge) = pkce();
        let url = authorize_with(&t, &client_id, &challenge, scope, &[]);
        let back = location(&b.get(url).send().await.unwrap());
        let code = query(&back)["code"].clone();
        let (_, tokens) = exchange_code(
            &t,
            &client_id,
            secret.as_deref().unwrap(),
            &code,
            REDIRECT_URI,
            &verifier,
        )
        .await;
        let claims = crate::code_flow::decode_part(tokens["id_token"].as_str().unwrap(), 1);
        assert_eq!(claims["subject_type"], "enterprise", "{scope}");
        assert_eq!(claims["acr"], "IAL3");
        if released {
            assert_eq!(claims["tax_code"], SAOMAI_TAX_CODE);
            assert_eq!(claims["organization"], "CÔNG TY TNHH PHẦN MỀM SAO MAI");
            let info: serde_json::Value = http()
                .get(t.url("/userinfo"))
                .bearer_auth(tokens["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(info["tax_code"], SAOMAI_TAX_CODE);
        } else {
            assert!(claims.get("tax_code").is_none() && claims.get("organization").is_none());
        }
    }

    // A second registration of the tax code: refused with the seeds' three ways out.
    let b2 = browser();
    let resp = sim_sign(
        &t,
        &b2,
        "/register/enterprise/sim_signature",
        SAOMAI_PHONE,
        SAOMAI_PIN,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let page = resp.text().await.unwrap();
    assert!(page.contains("mã số thuế này đã tồn tại"), "{page}");
    assert!(
        page.contains("/forgot-password") && page.contains("/complaint"),
        "the ways out"
    );
    assert!(page.contains("quầy giao dịch"), "the counter");
}

#[tokio::test]
async fn a_registered_citizen_is_not_registered_twice() {
    let t = spawn_app().await;
    let existing = t.add_account(AN_ID, Ial::Ial2).await;
    let before = count_accounts(&t).await;
    let b = browser();
    let resp = sim_sign(&t, &b, "/register/citizen/sim_signature", AN_PHONE, AN_PIN).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("Tài khoản với số CMT/CCCD này đã tồn tại"),
        "{page}"
    );
    assert!(page.contains("/forgot-password"));
    assert_eq!(count_accounts(&t).await, before);
    let account = t.app.db.find_account(&existing).await.unwrap().unwrap();
    assert_eq!(account.ial, Ial::Ial2, "a registration does not upgrade");
    assert!(
        t.app
            .db
            .credentials_of(&existing, CredentialKind::Certificate)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_certificate_of_the_wrong_class_is_refused_and_nothing_is_created() {
    let t = spawn_app().await;
    for (start, phone, pin, message) in [
        (
            "/register/enterprise/sim_signature",
            AN_PHONE,
            AN_PIN,
            "không phải của doanh nghiệp",
        ),
        (
            "/register/citizen/sim_signature",
            SAOMAI_PHONE,
            SAOMAI_PIN,
            "không phải của cá nhân",
        ),
    ] {
        let b = browser();
        let resp = sim_sign(&t, &b, start, phone, pin).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{start}");
        let page = resp.text().await.unwrap();
        assert!(page.contains(message), "{start}: {page}");
        // Nothing kept: the confirmation page has no flow.
        let confirm = b.get(t.url("/register/confirm")).send().await.unwrap();
        assert_eq!(confirm.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(count_accounts(&t).await, 0);
    let refused = t
        .app
        .db
        .audit_events(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "registration.refused")
        .count();
    assert_eq!(refused, 2);
    // "Cơ quan nhà nước" has no SIM card: only a USB token registers officials.
    let resp = browser()
        .get(t.url("/register/agency/sim_signature"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn when_the_audit_row_cannot_be_written_no_account_is_created() {
    let t = spawn_app().await;
    let b = browser();
    let signed = sim_sign(&t, &b, "/register/citizen/sim_signature", AN_PHONE, AN_PIN).await;
    let html = confirm_page(&t, &b, signed).await;
    t.break_audit_log().await;
    let resp = post_confirm(&t, &b, &html, "").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(count_accounts(&t).await, 0);
}

/// The default sandbox seed plus SIM holders for the refusals the seed does not hold: an
/// enterprise certificate whose tax code fails its check digit, and a representative's
/// (tax code and CCCD).
fn seed_with_odd_certificates(dir: &std::path::Path) -> std::path::PathBuf {
    let default = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/sandbox-seed.toml"
    ))
    .unwrap();
    let extra = r#"
[[sim_signature]]
phone = "0909000111"
uids = ["MST:0312345670"]
full_name = "CÔNG TY SAI MÃ SỐ"
organization = "CÔNG TY SAI MÃ SỐ"
pin = "111111"

[[sim_signature]]
phone = "0909000222"
uids = ["MST:0312345673", "CCCD:079090054321"]
full_name = "Lê Văn Đại Diện"
organization = "CÔNG TY TNHH PHẦN MỀM SAO MAI"
pin = "111111"
"#;
    let path = dir.join("seed.toml");
    std::fs::write(&path, format!("{default}\n{extra}")).unwrap();
    path
}

#[tokio::test]
async fn a_bad_tax_code_or_a_representatives_certificate_registers_no_enterprise() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_with_odd_certificates(dir.path());
    let t = spawn_app_with(|c| c.sandbox.seed_file = Some(seed)).await;
    for (phone, status, message) in [
        // The PKI itself refuses a certificate whose tax code fails its check digit: it
        // identifies nobody, as a signature by an unusable certificate (401).
        (
            "0909000111",
            StatusCode::UNAUTHORIZED,
            "không có số CCCD/CMND hoặc mã số thuế hợp lệ",
        ),
        (
            "0909000222",
            StatusCode::UNPROCESSABLE_ENTITY,
            "không phải của doanh nghiệp",
        ),
    ] {
        let b = browser();
        let resp = sim_sign(
            &t,
            &b,
            "/register/enterprise/sim_signature",
            phone,
            "111111",
        )
        .await;
        assert_eq!(resp.status(), status, "{phone}");
        let page = resp.text().await.unwrap();
        assert!(page.contains(message), "{phone}: {page}");
    }
    assert!(
        t.app
            .db
            .find_account_by_tax_code("0312345670")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        t.app
            .db
            .find_account_by_tax_code(SAOMAI_TAX_CODE)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count_accounts(&t).await, 0);
    // The representative is a citizen: registering as "Công dân" gives a person's account,
    // not the enterprise's.
    let b = browser();
    let signed = sim_sign(
        &t,
        &b,
        "/register/citizen/sim_signature",
        "0909000222",
        "111111",
    )
    .await;
    let html = confirm_page(&t, &b, signed).await;
    let resp = post_confirm(&t, &b, &html, "").await;
    assert_eq!(location(&resp), t.url("/"));
    let person = t
        .app
        .db
        .find_account_by_id_number("079090054321")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(person.subject_type, SubjectType::Citizen);
    assert_eq!(
        person.tax_code, None,
        "the enterprise's tax code is not the person's key"
    );
}
