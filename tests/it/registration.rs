//! Citizen registration ("Thuê bao di động", "Bảo hiểm xã hội"), the login's SMS step and
//! password recovery, over HTTP against the sandbox carrier, BHXH and SMS gateway.

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::helpers::*;

/// A seeded subscriber whose SIM is their own.
const AN: [(&str, &str); 4] = [
    ("id_number", "001090012345"),
    ("full_name", "Nguyễn Văn An"),
    ("birthdate", "12/06/1990"),
    ("phone", "0823456088"),
];
const AN_PHONE: &str = "+84823456088";
/// A registration form's four identity fields.
type Fields = [(&'static str, &'static str); 4];

const NEW_PASSWORD: &str = "Hà-Nội@2024!";

/// Registers Nguyễn Văn An by mobile subscription all the way; returns the final page.
pub(crate) async fn register_an(t: &TestApp, b: &reqwest::Client) -> String {
    let resp = submit_registration(t, b, "/register/mobile", &AN).await;
    assert_eq!(location(&resp), t.url("/register/otp"), "to the OTP screen");
    let next = submit_otp(t, b, &t.url("/register/otp"), AN_PHONE).await;
    assert_eq!(next, t.url("/register/password"));
    let resp = post_on(
        t,
        b,
        &next,
        "/register/password",
        &[
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn mobile_subscriber_registration_creates_an_ial2_account_that_logs_in_to_a_portal() {
    let t = spawn_app().await;
    let b = browser();
    let done = register_an(&t, &b).await;
    assert!(done.contains("Đăng ký thành công"), "{done}");
    let account = t
        .app
        .db
        .find_account_by_id_number("001090012345")
        .await
        .unwrap()
        .expect("account created");
    assert_eq!(account.ial, Ial::Ial2);
    assert_eq!(account.registration_method, "mobile_subscriber");
    assert_eq!(
        t.app
            .db
            .default_phone(&account.id)
            .await
            .unwrap()
            .as_deref(),
        Some(AN_PHONE)
    );
    let audit = t.app.db.audit_events(20).await.unwrap();
    assert!(
        audit.iter().any(|e| e.kind == "account.registered"
            && e.account_id.as_deref() == Some(account.id.as_str()))
    );

    // A relying party logs the new citizen in: password, then the SMS code to the new phone.
    let (client_id, secret) = t.add_client(|c| c.skip_consent = true).await;
    let (verifier, challenge) = pkce();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let page = b
        .get(location(&resp))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", hidden(&page, "csrf").unwrap()),
        ("ar", hidden(&page, "ar").unwrap()),
        ("username", "001090012345".into()),
        ("password", NEW_PASSWORD.into()),
    ];
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(location(&resp), t.url("/login/otp"));
    let back = submit_otp(&t, &b, &t.url("/login/otp"), AN_PHONE).await;
    let code = query(&back)["code"].clone();
    let (status, tokens) = exchange_code(
        &t,
        &client_id,
        secret.as_deref().unwrap(),
        &code,
        "http://127.0.0.1:9/callback",
        &verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let claims = crate::code_flow::decode_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["acr"], "IAL2");
    assert_eq!(claims["sub"], account.id.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "sms", "mfa"]));
}

#[tokio::test]
async fn an_id_number_with_an_account_cannot_register_again() {
    let t = spawn_app().await;
    register_an(&t, &browser()).await;
    let resp = submit_registration(&t, &browser(), "/register/mobile", &AN).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(html.contains("/forgot-password"), "points to Quên mật khẩu");
    assert!(html.contains("/complaint"), "points to a complaint");
}

#[tokio::test]
async fn carrier_mismatch_is_refused_with_the_seeds_message() {
    let t = spawn_app().await;
    // An's SIM, but someone else's ID number.
    let fields = [
        ("id_number", "079195004821"),
        ("full_name", "Trần Thị Bích Ngọc"),
        ("birthdate", "03/11/1995"),
        ("phone", "0823456088"),
    ];
    let resp = submit_registration(&t, &browser(), "/register/mobile", &fields).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Thông tin đăng ký không khớp với thông tin thuê bao tại nhà mạng, vui lòng kiểm tra/đăng ký lại với nhà mạng"));
    assert!(html.contains("Trần Thị Bích Ngọc"), "inputs are kept");
    assert!(
        t.app
            .db
            .find_account_by_id_number("079195004821")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn bhxh_registration_matches_the_record_despite_case_spacing_and_composition() {
    let t = spawn_app().await;
    let b = browser();
    // The record stores the name in upper case, decomposed, with a double space.
    let fields = [
        ("id_number", "079195004821"),
        ("bhxh_code", "7998765432"),
        ("full_name", "Trần Thị Bích Ngọc"),
        ("birthdate", "03/11/1995"),
        ("phone", "0912345678"),
    ];
    let resp = submit_registration(&t, &b, "/register/bhxh", &fields).await;
    assert_eq!(location(&resp), t.url("/register/otp"));
    let next = submit_otp(&t, &b, &t.url("/register/otp"), "+84912345678").await;
    let resp = post_on(
        &t,
        &b,
        &next,
        "/register/password",
        &[
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let account = t
        .app
        .db
        .find_account_by_id_number("079195004821")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.registration_method, "bhxh");
    assert_eq!(account.ial, Ial::Ial2);
}

#[tokio::test]
async fn bhxh_mismatch_and_unknown_code_cannot_register() {
    let t = spawn_app().await;
    let wrong_birthdate = [
        ("id_number", "079188003344"),
        ("bhxh_code", "7912345678"),
        ("full_name", "Phan Thị Mai"),
        ("birthdate", "08/07/1988"),
        ("phone", "0912345678"),
    ];
    let resp = submit_registration(&t, &browser(), "/register/bhxh", &wrong_birthdate).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = [
        ("id_number", "079188003344"),
        ("bhxh_code", "7912345670"),
        ("full_name", "Phan Thị Mai"),
        ("birthdate", "07/07/1988"),
        ("phone", "0912345678"),
    ];
    let resp = submit_registration(&t, &browser(), "/register/bhxh", &unknown).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        t.app
            .db
            .find_account_by_id_number("079188003344")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        t.app.simulators.as_ref().unwrap().messages().is_empty(),
        "no SMS sent"
    );
}

/// BHXH facts are not secret: the phone must be the person's too.
#[tokio::test]
async fn bhxh_registration_needs_the_persons_own_phone() {
    let t = spawn_app().await;
    let sms = || t.app.simulators.as_ref().unwrap().messages().len();
    // Phan Thị Mai's record has her phone on file: another phone is refused, nothing is sent.
    let mai = |phone: &'static str| {
        [
            ("id_number", "079188003344"),
            ("bhxh_code", "7912345678"),
            ("full_name", "Phan Thị Mai"),
            ("birthdate", "07/07/1988"),
            ("phone", phone),
        ]
    };
    let resp = submit_registration(&t, &browser(), "/register/bhxh", &mai("0912345678")).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        resp.text().await.unwrap().contains("BHXH"),
        "the BHXH mismatch message"
    );
    assert_eq!(sms(), 0, "no code to a phone that is not on the record");
    // The phone on file gets the code.
    let b = browser();
    let resp = submit_registration(&t, &b, "/register/bhxh", &mai("0934567890")).await;
    assert_eq!(location(&resp), t.url("/register/otp"));
    latest_otp(&t, "+84934567890").await;

    // Trần Thị Bích Ngọc's record has no phone: the carrier must say the phone is hers.
    let ngoc = |phone: &'static str| {
        [
            ("id_number", "079195004821"),
            ("bhxh_code", "7998765432"),
            ("full_name", "Trần Thị Bích Ngọc"),
            ("birthdate", "03/11/1995"),
            ("phone", phone),
        ]
    };
    let before = sms();
    let resp = submit_registration(&t, &browser(), "/register/bhxh", &ngoc("0823456088")).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        resp.text().await.unwrap().contains("nhà mạng"),
        "the carrier mismatch message"
    );
    assert_eq!(sms(), before, "no code to someone else's SIM");
    let resp = submit_registration(&t, &browser(), "/register/bhxh", &ngoc("0912345678")).await;
    assert_eq!(location(&resp), t.url("/register/otp"));
    assert!(
        t.app
            .db
            .find_account_by_id_number("079195004821")
            .await
            .unwrap()
            .is_none(),
        "nothing is created before the code and the password"
    );
}

#[tokio::test]
async fn the_bhxh_phone_check_can_be_switched_off() {
    let t = spawn_app_with(|c| c.registration.bhxh_phone_check = false).await;
    let fields = [
        ("id_number", "079188003344"),
        ("bhxh_code", "7912345678"),
        ("full_name", "Phan Thị Mai"),
        ("birthdate", "07/07/1988"),
        ("phone", "0912345678"),
    ];
    let resp = submit_registration(&t, &browser(), "/register/bhxh", &fields).await;
    assert_eq!(location(&resp), t.url("/register/otp"));
}

#[tokio::test]
async fn upstream_failures_show_a_clear_message_and_create_nothing() {
    let t = spawn_app_with(|c| c.connectors.timeout_ms = 300).await;
    let cases: [(&str, Fields, &str); 3] = [
        (
            "/register/mobile",
            [
                ("id_number", "048080001111"),
                ("full_name", "Bùi Văn Cường"),
                ("birthdate", "01/01/1980"),
                ("phone", "0900000500"),
            ],
            "048080001111",
        ),
        (
            "/register/mobile",
            [
                ("id_number", "092192002222"),
                ("full_name", "Đặng Thị Hoa"),
                ("birthdate", "10/10/1992"),
                ("phone", "0900000504"),
            ],
            "092192002222",
        ),
        (
            "/register/mobile",
            [
                ("id_number", "040075003333"),
                ("full_name", "Ngô Quang Dũng"),
                ("birthdate", "20/05/1975"),
                ("phone", "0900000502"),
            ],
            "040075003333",
        ),
    ];
    for (path, fields, id) in cases {
        let resp = submit_registration(&t, &browser(), path, &fields).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{id}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("role=\"alert\""), "{id}: a message is shown");
        assert!(
            t.app
                .db
                .find_account_by_id_number(id)
                .await
                .unwrap()
                .is_none()
        );
    }
    let bhxh_down = [
        ("id_number", "048080001111"),
        ("bhxh_code", "4800000500"),
        ("full_name", "Bùi Văn Cường"),
        ("birthdate", "01/01/1980"),
        ("phone", "0912345678"),
    ];
    let resp = submit_registration(&t, &browser(), "/register/bhxh", &bhxh_down).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn wrong_otp_five_times_kills_the_code_and_expired_codes_are_refused() {
    let t = spawn_app().await;
    let b = browser();
    submit_registration(&t, &b, "/register/mobile", &AN).await;
    let code = latest_otp(&t, AN_PHONE).await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for _ in 0..4 {
        let resp = post_on(
            &t,
            &b,
            &t.url("/register/otp"),
            "/register/otp",
            &[("otp", wrong)],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp.text().await.unwrap().contains("otp-error"));
    }
    let resp = post_on(
        &t,
        &b,
        &t.url("/register/otp"),
        "/register/otp",
        &[("otp", wrong)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = post_on(
        &t,
        &b,
        &t.url("/register/otp"),
        "/register/otp",
        &[("otp", &code)],
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "the right code no longer works"
    );

    // "Gửi lại OTP" waits for the cooldown, then sends a new code, which expires in 5 minutes.
    let resp = post_on(&t, &b, &t.url("/register/otp"), "/register/otp/resend", &[]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    t.advance(61);
    let resp = post_on(&t, &b, &t.url("/register/otp"), "/register/otp/resend", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let fresh = latest_otp(&t, AN_PHONE).await;
    t.advance(301);
    let resp = post_on(
        &t,
        &b,
        &t.url("/register/otp"),
        "/register/otp",
        &[("otp", &fresh)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "expired");
    assert!(
        t.app
            .db
            .find_account_by_id_number("001090012345")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn weak_and_mismatched_passwords_are_refused() {
    let t = spawn_app().await;
    let b = browser();
    submit_registration(&t, &b, "/register/mobile", &AN).await;
    let next = submit_otp(&t, &b, &t.url("/register/otp"), AN_PHONE).await;
    for (password, confirm) in [
        ("password", "password"),
        ("abcdefgh", "abcdefgh"),
        ("Aa@1", "Aa@1"),
        ("An@001090012345", "An@001090012345"),
        (NEW_PASSWORD, "Other@2024!"),
    ] {
        let resp = post_on(
            &t,
            &b,
            &next,
            "/register/password",
            &[("password", password), ("password_confirm", confirm)],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{password}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("password-error") || html.contains("password_confirm-error"),
            "{password}"
        );
    }
    assert!(
        t.app
            .db
            .find_account_by_id_number("001090012345")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn form_errors_sit_next_to_their_fields_and_inputs_are_kept() {
    let t = spawn_app().await;
    let fields = [
        ("id_number", "99909001234"),
        ("full_name", "An <b>"),
        ("birthdate", "31/02/1990"),
        ("phone", "0241234567"),
        ("email", "not-an-email"),
    ];
    let resp = submit_registration(&t, &browser(), "/register/mobile", &fields).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    for f in ["id_number", "full_name", "birthdate", "phone", "email"] {
        assert!(
            html.contains(&format!("id=\"{f}-error\"")),
            "{f} has its own message"
        );
    }
    assert!(html.contains("not-an-email"), "inputs kept");
    assert!(!html.contains("<b>"), "escaped");
    // An address with a bidi override (shown reversed) is refused too.
    let resp = submit_registration(
        &t,
        &browser(),
        "/register/mobile",
        &[("email", "an@\u{202E}nv.elpmaxe")],
    )
    .await;
    assert!(resp.text().await.unwrap().contains("id=\"email-error\""));
    let en = browser();
    en.get(t.url("/register/mobile?lang=en"))
        .send()
        .await
        .unwrap();
    let resp = submit_registration(&t, &en, "/register/mobile", &[("id_number", "")]).await;
    assert!(resp.text().await.unwrap().contains("lang=\"en\""));
}

#[tokio::test]
async fn two_concurrent_registrations_of_one_id_create_exactly_one_account() {
    let t = spawn_app().await;
    let (a, b) = (browser(), browser());
    for c in [&a, &b] {
        submit_registration(&t, c, "/register/mobile", &AN).await;
        submit_otp(&t, c, &t.url("/register/otp"), AN_PHONE).await;
    }
    let page = t.url("/register/password");
    let fields = [
        ("password", NEW_PASSWORD),
        ("password_confirm", NEW_PASSWORD),
    ];
    let (ra, rb) = tokio::join!(
        post_on(&t, &a, &page, "/register/password", &fields),
        post_on(&t, &b, &page, "/register/password", &fields),
    );
    let (ha, hb) = (ra.text().await.unwrap(), rb.text().await.unwrap());
    let successes = [&ha, &hb]
        .iter()
        .filter(|h| h.contains("Đăng ký thành công"))
        .count();
    assert_eq!(successes, 1, "exactly one registration wins");
    let audit = t.app.db.audit_events(50).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.kind == "account.registered")
            .count(),
        1
    );
}

#[tokio::test]
async fn login_code_can_go_to_another_verified_phone() {
    let t = spawn_app().await;
    let sub = t.add_account("001090012345", Ial::Ial2).await;
    t.app
        .db
        .add_phone(&sub, "+84912345678", true, t.clock.now(), None)
        .await
        .unwrap();
    let b = browser();
    let page = b
        .get(t.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", hidden(&page, "csrf").unwrap()),
        ("ar", String::new()),
        ("username", "001090012345".into()),
        ("password", PASSWORD.into()),
    ];
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(location(&resp), t.url("/login/otp"));
    let phones = b
        .get(t.url("/login/otp/phones"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(phones.contains("091****678"));
    // Choosing another phone waits for the resend cooldown, like "Gửi lại OTP".
    t.advance(61);
    let second = t
        .app
        .db
        .verified_phones(&sub)
        .await
        .unwrap()
        .into_iter()
        .find(|p| !p.is_default)
        .unwrap();
    let resp = post_on(
        &t,
        &b,
        &t.url("/login/otp/phones"),
        "/login/otp/phones",
        &[("phone_id", &second.id)],
    )
    .await;
    assert_eq!(location(&resp), t.url("/login/otp"));
    let home = submit_otp(&t, &b, &t.url("/login/otp"), "+84912345678").await;
    assert_eq!(home, t.url("/"));
    let page = b
        .get(t.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Nguyễn Văn An"), "logged in");
}

#[tokio::test]
async fn forgot_password_resets_it_and_ends_every_session() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (receiver, received) = logout_receiver().await;
    let (client_id, secret) = t
        .add_client(|c| c.backchannel_logout_uri = Some(receiver.clone()))
        .await;
    let secret = secret.unwrap();
    let before = tokens_for(&t, &client_id, &secret, "001090012345").await;
    let sid = crate::code_flow::decode_part(before["id_token"].as_str().unwrap(), 1)["sid"].clone();

    let b = browser();
    let resp = submit_registration(
        &t,
        &b,
        "/forgot-password",
        &[("id_number", "001090012345"), ("phone", "0823628899")],
    )
    .await;
    assert_eq!(location(&resp), t.url("/forgot-password/otp"));
    let next = submit_otp(&t, &b, &t.url("/forgot-password/otp"), PHONE_E164).await;
    let resp = post_on(
        &t,
        &b,
        &next,
        "/forgot-password/password",
        &[
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);

    let (_, err) = refresh(
        &t,
        &client_id,
        &secret,
        before["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(err["error"], "invalid_grant", "refresh tokens revoked");
    let audit = t.app.db.audit_events(30).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "account.password_reset"));
    // The portal of the ended session is told by back-channel logout; the phone by SMS.
    let tokens = delivered(&received, 1).await;
    assert_eq!(t.app.keys.verify(&tokens[0]).expect("signed").0["sid"], sid);
    assert_eq!(
        sms_texts(&t, PHONE_E164).await.last(),
        Some(&t.app.theme.t("vi", "sms_notice_password_reset"))
    );
    // The old password is gone; the new one works.
    let page = b
        .get(t.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let old = [
        ("csrf", hidden(&page, "csrf").unwrap()),
        ("ar", String::new()),
        ("username", "001090012345".into()),
        ("password", PASSWORD.into()),
    ];
    assert_eq!(
        b.post(t.url("/login"))
            .form(&old)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let new = [
        ("csrf", hidden(&page, "csrf").unwrap()),
        ("ar", String::new()),
        ("username", "001090012345".into()),
        ("password", NEW_PASSWORD.into()),
    ];
    assert_eq!(
        location(&b.post(t.url("/login")).form(&new).send().await.unwrap()),
        t.url("/login/otp")
    );
}

#[tokio::test]
async fn forgot_password_reveals_nothing_about_unknown_id_numbers() {
    let t = spawn_app().await;
    t.add_account("001090012345", Ial::Ial2).await;
    let b = browser();
    // An existing ID with the wrong phone, and an ID with no account: the same screens.
    for (id, phone) in [
        ("001090012345", "0912345678"),
        ("079195004821", "0912345678"),
    ] {
        let resp = submit_registration(
            &t,
            &b,
            "/forgot-password",
            &[("id_number", id), ("phone", phone)],
        )
        .await;
        assert_eq!(location(&resp), t.url("/forgot-password/otp"), "{id}");
        let page = b.get(t.url("/forgot-password/otp")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("091****678"));
        let resp = post_on(
            &t,
            &b,
            &t.url("/forgot-password/otp"),
            "/forgot-password/otp",
            &[("otp", "123456")],
        )
        .await;
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "no code can succeed"
        );
    }
    assert!(
        t.app
            .simulators
            .as_ref()
            .unwrap()
            .messages_to("+84912345678")
            .is_empty(),
        "no SMS to a phone that is not the account's"
    );
    let resp = b
        .get(t.url("/forgot-password/password"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_redirection(),
        "the password step is out of reach"
    );
}

#[tokio::test]
async fn a_method_switched_off_in_config_is_not_offered() {
    let t = spawn_app_with(|c| c.registration.methods = vec!["bhxh".into()]).await;
    let choice = browser()
        .get(t.url("/register"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!choice.contains("href=\"/register/mobile"));
    assert!(choice.contains("href=\"/register/bhxh"));
    let resp = browser()
        .get(t.url("/register/mobile"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// Registration and recovery submissions have a ceiling per address besides the captcha: over
/// it the form says so (429 + Retry-After) and nothing is looked up or sent.
#[tokio::test]
async fn registration_and_recovery_submissions_are_limited_per_address() {
    let t = spawn_app_with(|c| {
        c.limits.registrations_per_ip_per_hour = 2;
        c.limits.recoveries_per_ip_per_hour = 1;
    })
    .await;
    let b = browser();
    for _ in 0..2 {
        let resp = submit_registration(&t, &b, "/register/mobile", &[]).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "field errors");
    }
    let resp = submit_registration(&t, &b, "/register/mobile", &AN).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "3600");
    let html = resp.text().await.unwrap();
    assert!(html.contains("Có quá nhiều lượt đăng ký"), "{html}");
    assert!(
        html.contains("captcha_id"),
        "the form again, with a new captcha"
    );
    let simulators = t.app.simulators.as_ref().unwrap();
    assert_eq!(simulators.carrier_calls(), 0, "nothing was looked up");

    let forgot = [("id_number", "001090012345"), ("phone", "0823628899")];
    let resp = submit_registration(&t, &b, "/forgot-password", &forgot).await;
    assert_eq!(location(&resp), t.url("/forgot-password/otp"));
    let resp = submit_registration(&t, &b, "/forgot-password", &forgot).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Có quá nhiều yêu cầu lấy lại mật khẩu")
    );

    t.advance(3601);
    let resp = submit_registration(&t, &b, "/register/mobile", &AN).await;
    assert_eq!(location(&resp), t.url("/register/otp"), "a new hour");
}
