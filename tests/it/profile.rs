//! "Thông tin cá nhân": identity, phones, email, password, sessions — and what keeps a stolen
//! session from taking the account over: every change of a credential or contact needs a
//! recent re-authentication, the phones hear of changes, a password change keeps this session
//! as it was and logs the others out (back-channel too), the email counts once verified, and a
//! change whose audit row cannot be written is not made.

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::code_flow::decode_part;
use crate::helpers::*;

const ID: &str = "001090012345";
/// A second phone of the sandbox (not the account's own).
const NEW_PHONE: &str = "+84912345678";
const NEW_PASSWORD: &str = "Mật@Khẩu2025";

/// A browser logged in as the test account (password + SMS code).
async fn logged_in(t: &TestApp) -> reqwest::Client {
    let b = browser();
    let home = login(t, &b, &t.url("/login"), ID, PASSWORD).await;
    assert_eq!(home, t.url("/"));
    b
}

/// A browser logged in and just re-authenticated, ready to change things.
async fn ready_to_change(t: &TestApp) -> reqwest::Client {
    let b = logged_in(t).await;
    let back = reauthenticate(t, &b, PHONE_E164).await;
    assert_eq!(back, t.url("/profile?notice=reauth_done"));
    b
}

/// Posts a form of the profile page (CSRF from the page).
async fn post(
    t: &TestApp,
    b: &reqwest::Client,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post_on(t, b, &t.url("/profile"), action, fields).await
}

/// The profile's text in Vietnamese for `key`.
fn vi(t: &TestApp, key: &str) -> String {
    t.app.theme.t("vi", key)
}

async fn phones(t: &TestApp, sub: &str) -> Vec<xacthuc::store::Phone> {
    t.app.db.verified_phones(sub).await.unwrap()
}

async fn audited(t: &TestApp, kind: &str) -> usize {
    let events = t.app.db.audit_events(200).await.unwrap();
    events.iter().filter(|e| e.kind == kind).count()
}

/// Adds `phone` to the account through the profile (its code read from the outbox).
async fn add_phone(t: &TestApp, b: &reqwest::Client, phone: &str) {
    let resp = post(t, b, "/profile/phones", &[("phone", phone)]).await;
    assert_eq!(location(&resp), t.url("/profile/phones/verify"));
    let back = submit_otp(t, b, &t.url("/profile/phones/verify"), phone).await;
    assert_eq!(back, t.url("/profile?notice=phone_added"));
}

#[tokio::test]
async fn the_profile_needs_a_login_and_shows_the_identity() {
    let t = spawn_app().await;
    t.add_account(ID, Ial::Ial2).await;
    let anonymous = browser().get(t.url("/profile")).send().await.unwrap();
    assert_eq!(location(&anonymous), t.url("/login"));
    let b = logged_in(&t).await;
    let html = page_text(&b, t.url("/profile")).await;
    for shown in ["Nguyễn Văn An", ID, "12/06/1990", "IAL2", "0823628899"] {
        assert!(html.contains(shown), "{shown}");
    }
    assert!(
        html.contains("id=\"reauth-link\""),
        "it offers to re-authenticate"
    );
}

/// Item 5: a session alone (a stolen cookie) changes nothing; each change sends the browser to
/// re-authenticate, and nothing is written.
#[tokio::test]
async fn a_session_alone_cannot_change_phones_email_password_or_passkeys() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    t.app
        .db
        .add_phone(&sub, NEW_PHONE, true, t.clock.now(), None)
        .await
        .unwrap();
    let before = phones(&t, &sub).await;
    let hash = t.app.db.password_hash(&sub).await.unwrap();
    let b = logged_in(&t).await;
    let other_id = before[1].id.clone();
    let sms_before = sms_texts(&t, NEW_PHONE).await.len();
    let attempts: [(&str, Vec<(&str, &str)>); 8] = [
        ("/profile/phones", vec![("phone", "0987654321")]),
        ("/profile/phones/remove", vec![("phone_id", &other_id)]),
        ("/profile/phones/default", vec![("phone_id", &other_id)]),
        ("/profile/email", vec![("email", "thief@example.vn")]),
        ("/profile/email", vec![("email", "")]),
        (
            "/profile/password",
            vec![
                ("current_password", PASSWORD),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        ),
        ("/profile/credentials/passkey", vec![("label", "Thief")]),
        ("/profile/credentials/remove", vec![("credential_id", "x")]),
    ];
    for (action, fields) in attempts {
        let resp = post(&t, &b, action, &fields).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{action}");
        let next = if action == "/profile/password" {
            "password"
        } else {
            "profile"
        };
        assert_eq!(
            location(&resp),
            t.url(&format!("/profile/reauth?next={next}")),
            "{action}"
        );
    }
    let page = b.get(t.url("/profile/password")).send().await.unwrap();
    assert_eq!(location(&page), t.url("/profile/reauth?next=password"));
    assert_eq!(phones(&t, &sub).await, before, "phones untouched");
    let account = t.app.db.find_account(&sub).await.unwrap().unwrap();
    assert_eq!(account.email.as_deref(), Some("an@example.vn"));
    assert_eq!(t.app.db.password_hash(&sub).await.unwrap(), hash);
    assert_eq!(
        sms_texts(&t, NEW_PHONE).await.len(),
        sms_before,
        "no code sent"
    );
    assert!(mails_to(&t, "thief@example.vn").await.is_empty());
}

#[tokio::test]
async fn reauthentication_is_the_password_then_an_sms_code_for_this_session_for_five_minutes() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    let b = logged_in(&t).await;
    let elsewhere = logged_in(&t).await;

    // A wrong password: refused, audited, counted like a login's.
    let html = page_text(&b, t.url("/profile/reauth")).await;
    let csrf = hidden(&html, "csrf").unwrap();
    let wrong = b
        .post(t.url("/profile/reauth"))
        .form(&[("csrf", csrf.as_str()), ("current_password", "Sai@123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains(&vi(&t, "err_current_password_wrong"))
    );
    assert_eq!(audited(&t, "reauth.failed").await, 1);

    // The password alone is not enough: a code goes to the account's phone.
    let codes_before = sms_texts(&t, PHONE_E164).await.len();
    let resp = b
        .post(t.url("/profile/reauth"))
        .form(&[("csrf", csrf.as_str()), ("current_password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), t.url("/profile/reauth/otp"));
    assert_eq!(sms_texts(&t, PHONE_E164).await.len(), codes_before + 1);
    let still = post(&t, &b, "/profile/phones", &[("phone", NEW_PHONE)]).await;
    assert_eq!(location(&still), t.url("/profile/reauth?next=profile"));
    let back = submit_otp(&t, &b, &t.url("/profile/reauth/otp"), PHONE_E164).await;
    assert_eq!(back, t.url("/profile?notice=reauth_done"));
    assert_eq!(audited(&t, "reauth.succeeded").await, 1);

    // This session may now change things; the account's other session may not.
    let resp = post(&t, &b, "/profile/phones", &[("phone", NEW_PHONE)]).await;
    assert_eq!(location(&resp), t.url("/profile/phones/verify"));
    let resp = post(&t, &elsewhere, "/profile/phones", &[("phone", NEW_PHONE)]).await;
    assert_eq!(location(&resp), t.url("/profile/reauth?next=profile"));

    // Five minutes later it has to re-authenticate again.
    t.advance(301);
    let resp = post(&t, &b, "/profile/phones", &[("phone", NEW_PHONE)]).await;
    assert_eq!(location(&resp), t.url("/profile/reauth?next=profile"));
    assert_eq!(phones(&t, &sub).await.len(), 1);
}

#[tokio::test]
async fn a_new_phone_is_verified_by_sms_and_the_old_phones_are_told() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    let b = ready_to_change(&t).await;
    let resp = post(&t, &b, "/profile/phones", &[("phone", "0241234567")]).await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "a landline is refused"
    );
    let resp = post(&t, &b, "/profile/phones", &[("phone", "0912 345 678")]).await;
    assert_eq!(location(&resp), t.url("/profile/phones/verify"));
    assert_eq!(
        phones(&t, &sub).await.len(),
        1,
        "not added before verification"
    );
    let back = submit_otp(&t, &b, &t.url("/profile/phones/verify"), NEW_PHONE).await;
    assert!(back.starts_with(&t.url("/profile?notice=")));
    let added = phones(&t, &sub)
        .await
        .into_iter()
        .find(|p| p.e164 == NEW_PHONE)
        .expect("verified phone added");
    assert_eq!(audited(&t, "account.phone_added").await, 1);

    // The phone the account had hears of it, naming the new one masked; the new one does not.
    let told = sms_texts(&t, PHONE_E164).await;
    let notice = vi(&t, "sms_notice_phone_added").replace("{phone}", "091****678");
    assert_eq!(told.last(), Some(&notice));
    assert!(!sms_texts(&t, NEW_PHONE).await.contains(&notice));

    let resp = post(
        &t,
        &b,
        "/profile/phones/default",
        &[("phone_id", &added.id)],
    )
    .await;
    assert_eq!(location(&resp), t.url("/profile?notice=phone_default_set"));
    assert_eq!(
        t.app.db.default_phone(&sub).await.unwrap().as_deref(),
        Some(NEW_PHONE)
    );
    assert_eq!(audited(&t, "account.default_phone_changed").await, 1);
    // Another account's phone id is refused.
    let resp = post(
        &t,
        &b,
        "/profile/phones/default",
        &[("phone_id", "not-mine")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_phone_can_be_removed_but_never_the_last_one() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    let b = ready_to_change(&t).await;
    add_phone(&t, &b, NEW_PHONE).await;
    let html = page_text(&b, t.url("/profile")).await;
    assert_eq!(
        html.matches("action=\"/profile/phones/remove\"").count(),
        2,
        "each phone can go while there are two"
    );

    // The default goes: the other becomes the default, and both phones hear of it.
    let default_id = phones(&t, &sub).await[0].id.clone();
    let resp = post(
        &t,
        &b,
        "/profile/phones/remove",
        &[("phone_id", &default_id)],
    )
    .await;
    assert_eq!(location(&resp), t.url("/profile?notice=phone_removed"));
    let left = phones(&t, &sub).await;
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].e164.as_str(), left[0].is_default),
        (NEW_PHONE, true)
    );
    let notice = vi(&t, "sms_notice_phone_removed").replace("{phone}", "082****899");
    assert_eq!(sms_texts(&t, PHONE_E164).await.last(), Some(&notice));
    assert_eq!(sms_texts(&t, NEW_PHONE).await.last(), Some(&notice));
    let events = t.app.db.audit_events(50).await.unwrap();
    let removed = events
        .iter()
        .find(|e| e.kind == "account.phone_removed")
        .expect("audited");
    assert_eq!(removed.detail["phone_id"], default_id.as_str());

    // The last one stays: a clear message, no button, nothing removed.
    let html = page_text(&b, t.url("/profile")).await;
    assert!(!html.contains("action=\"/profile/phones/remove\""));
    let resp = post(
        &t,
        &b,
        "/profile/phones/remove",
        &[("phone_id", &left[0].id)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains(&vi(&t, "err_phone_last"))
    );
    assert_eq!(phones(&t, &sub).await, left);
    let resp = post(
        &t,
        &b,
        "/profile/phones/remove",
        &[("phone_id", "not-mine")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

/// Two removals at once, of the account's two phones: one phone stays, whichever wins.
#[tokio::test]
async fn removing_both_phones_at_once_leaves_one() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    t.app
        .db
        .add_phone(&sub, NEW_PHONE, true, t.clock.now(), None)
        .await
        .unwrap();
    let b = ready_to_change(&t).await;
    let ids: Vec<String> = phones(&t, &sub).await.into_iter().map(|p| p.id).collect();
    let html = page_text(&b, t.url("/profile")).await;
    let csrf = hidden(&html, "csrf").unwrap();
    let remove = |id: String| {
        let (b, csrf, url) = (b.clone(), csrf.clone(), t.url("/profile/phones/remove"));
        async move {
            b.post(url)
                .form(&[("csrf", csrf.as_str()), ("phone_id", id.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let (a, c) = tokio::join!(remove(ids[0].clone()), remove(ids[1].clone()));
    assert!(
        [a, c]
            .iter()
            .all(|s| *s != StatusCode::INTERNAL_SERVER_ERROR),
        "{a} {c}"
    );
    let left = phones(&t, &sub).await;
    assert_eq!(left.len(), 1, "{a} {c}");
    assert!(left[0].is_default, "and it is the default");
}

/// Item 5 and 16: the email is validated strictly and counts only once the code mailed to it
/// is entered; then relying parties get it as verified.
#[tokio::test]
async fn the_email_counts_only_once_its_code_is_entered() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    let b = ready_to_change(&t).await;

    // Addresses that a portal could misread are refused, and nothing is mailed.
    for bad in [
        "not an email",
        "an@\u{202E}nv.elpmaxe",
        "a\u{200B}n@example.vn",
        "<script>@example.vn",
        "an\"@example.vn",
        "an'x@example.vn",
        "an@exa<mple.vn",
        "an@localhost",
    ] {
        let resp = post(&t, &b, "/profile/email", &[("email", bad)]).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(
            resp.text().await.unwrap().contains("email-error"),
            "{bad:?}"
        );
    }
    assert!(outbox(&t, "mail", None).await.is_empty());

    let resp = post(
        &t,
        &b,
        "/profile/email",
        &[("email", " An.Nguyen@Example.VN ")],
    )
    .await;
    assert_eq!(location(&resp), t.url("/profile/email/verify"));
    let account = t.app.db.find_account(&sub).await.unwrap().unwrap();
    assert_eq!(
        account.email.as_deref(),
        Some("an@example.vn"),
        "not yet: the old address stays until the code comes back"
    );
    let mail = mails_to(&t, "An.Nguyen@example.vn").await;
    assert_eq!(mail.len(), 1);
    let text = mail[0]["text"].as_str().unwrap();
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a code")
        .to_string();

    let page = page_text(&b, t.url("/profile/email/verify")).await;
    assert!(page.contains("An.Nguyen@example.vn"));
    let csrf = hidden(&page, "csrf").unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let resp = b
        .post(t.url("/profile/email/verify"))
        .form(&[("csrf", csrf.as_str()), ("otp", wrong)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = b
        .post(t.url("/profile/email/verify"))
        .form(&[("csrf", csrf.as_str()), ("otp", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), t.url("/profile?notice=email_verified"));
    let account = t.app.db.find_account(&sub).await.unwrap().unwrap();
    assert_eq!(account.email.as_deref(), Some("An.Nguyen@example.vn"));
    assert!(account.email_verified);
    assert_eq!(audited(&t, "account.email_changed").await, 1);
    let html = page_text(&b, t.url("/profile")).await;
    assert!(html.contains(&vi(&t, "profile_email_verified")));

    // A relying party with the email scope gets it, verified.
    let claims = xacthuc::oidc::claims::personal_claims(&account, None, &["email".into()], None);
    assert_eq!(claims["email"], "An.Nguyen@example.vn");
    assert_eq!(claims["email_verified"], true);

    // The code is single use; an empty address removes it, with no code needed.
    let resp = b
        .post(t.url("/profile/email/verify"))
        .form(&[("csrf", csrf.as_str()), ("otp", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = post(&t, &b, "/profile/email", &[("email", "")]).await;
    assert_eq!(location(&resp), t.url("/profile?notice=email_removed"));
    let account = t.app.db.find_account(&sub).await.unwrap().unwrap();
    assert_eq!((account.email, account.email_verified), (None, false));
}

#[tokio::test]
async fn email_codes_are_capped_per_account() {
    let t = spawn_app_with(|c| c.profile.email_codes_per_hour = 2).await;
    t.add_account(ID, Ial::Ial2).await;
    let b = ready_to_change(&t).await;
    for n in 0..2 {
        let resp = post(
            &t,
            &b,
            "/profile/email",
            &[("email", &format!("an{n}@example.vn"))],
        )
        .await;
        assert_eq!(location(&resp), t.url("/profile/email/verify"));
    }
    let resp = post(&t, &b, "/profile/email", &[("email", "an9@example.vn")]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains(&vi(&t, "err_email_codes_cap"))
    );
    assert!(mails_to(&t, "an9@example.vn").await.is_empty());
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_signed_out() {
    let t = spawn_app().await;
    t.add_account(ID, Ial::Ial2).await;
    let phone_browser = logged_in(&t).await;
    t.advance(1);
    let b = logged_in(&t).await;
    let html = page_text(&b, t.url("/profile")).await;
    assert_eq!(
        html.matches("name=\"session_id\"").count(),
        1,
        "one other session to sign out"
    );
    let resp = post(&t, &b, "/profile/sessions/revoke-others", &[]).await;
    assert!(resp.status().is_redirection());
    let other = phone_browser.get(t.url("/profile")).send().await.unwrap();
    assert_eq!(
        location(&other),
        t.url("/login"),
        "the other browser is signed out"
    );
    let mine = b.get(t.url("/profile")).send().await.unwrap();
    assert_eq!(mine.status(), StatusCode::OK, "this one stays");
}

/// The password change form, posted with `fields` (CSRF from the form).
async fn change_password(
    t: &TestApp,
    b: &reqwest::Client,
    current: &str,
    new: &str,
) -> reqwest::Response {
    let page = b.get(t.url("/profile/password")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = hidden(&page.text().await.unwrap(), "csrf").unwrap();
    b.post(t.url("/profile/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current_password", current),
            ("password", new),
            ("password_confirm", new),
        ])
        .send()
        .await
        .unwrap()
}

/// Item 6: the browser that changed the password keeps its session as it was (no claim of a
/// new login); the other sessions end, and their portals get back-channel logout tokens.
#[tokio::test]
async fn a_password_change_keeps_this_session_as_it_was_and_logs_the_others_out() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    let (receiver, received) = logout_receiver().await;
    let (client_id, secret) = t
        .add_client(|c| {
            c.skip_consent = true;
            c.backchannel_logout_uri = Some(receiver.clone());
        })
        .await;
    let secret = secret.unwrap();
    // A portal's login in browser `b`: the ID token's claims and the refresh token.
    let tokens_in = |b: reqwest::Client| {
        let (t, client_id, secret) = (&t, client_id.clone(), secret.clone());
        async move {
            let (verifier, challenge) = pkce();
            let loc = authorize_as(t, &b, &authorize_url(t, &client_id, &challenge, &[]), ID).await;
            let code = query(&loc)["code"].clone();
            let (status, tokens) = exchange_code(
                t,
                &client_id,
                &secret,
                &code,
                "http://127.0.0.1:9/callback",
                &verifier,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{tokens}");
            let claims = decode_part(tokens["id_token"].as_str().unwrap(), 1);
            (
                claims,
                tokens["refresh_token"].as_str().unwrap().to_string(),
            )
        }
    };
    let other = logged_in(&t).await;
    let (other_claims, _) = tokens_in(other.clone()).await;
    t.advance(60);
    let b = logged_in(&t).await;
    let (before, old_refresh) = tokens_in(b.clone()).await;
    t.advance(120);
    reauthenticate(&t, &b, PHONE_E164).await;
    t.advance(10);

    // The current password is checked, then the new one.
    let resp = change_password(&t, &b, "Nope@12345", NEW_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = change_password(&t, &b, PASSWORD, "12345678").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = change_password(&t, &b, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(location(&resp), t.url("/profile?notice=password_changed"));
    assert_eq!(audited(&t, "account.password_changed").await, 1);

    // This browser: the same session, still telling portals when and how it logged in.
    assert_eq!(
        b.get(t.url("/profile")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let (after, new_refresh) = tokens_in(b.clone()).await;
    assert_eq!(after["sid"], before["sid"], "the same session");
    assert_eq!(
        after["auth_time"], before["auth_time"],
        "no new login claimed"
    );
    assert_eq!(after["amr"], before["amr"]);
    // Every refresh token issued before the change is revoked; one issued since in this
    // session works.
    let (status, _) = refresh(&t, &client_id, &secret, &old_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = refresh(&t, &client_id, &secret, &new_refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The other browser is logged out, and its portal told so.
    assert_eq!(
        location(&other.get(t.url("/profile")).send().await.unwrap()),
        t.url("/login")
    );
    let tokens = delivered(&received, 1).await;
    let (claims, _) = t.app.keys.verify(&tokens[0]).expect("signed by us");
    assert_eq!(claims["sid"], other_claims["sid"]);
    assert_eq!(claims["sub"], sub.as_str());
    assert!(
        !tokens
            .iter()
            .any(|tok| t.app.keys.verify(tok).unwrap().0["sid"] == before["sid"]),
        "not this session's"
    );

    // The phone hears of it; the new password works typed decomposed (NFD) too.
    assert_eq!(
        sms_texts(&t, PHONE_E164).await.last(),
        Some(&vi(&t, "sms_notice_password_changed"))
    );
    let nfd: String = unicode_normalization::UnicodeNormalization::nfd(NEW_PASSWORD).collect();
    assert_ne!(nfd, NEW_PASSWORD);
    let fresh = browser();
    assert_eq!(
        login(&t, &fresh, &t.url("/login"), ID, &nfd).await,
        t.url("/")
    );
}

/// Item 16: the current password on the change form is checked with the login's lockout, so a
/// stolen, re-authenticated session cannot guess it either.
#[tokio::test]
async fn the_current_password_on_the_change_form_is_locked_out_like_a_login() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    let b = ready_to_change(&t).await;
    let hash = t.app.db.password_hash(&sub).await.unwrap();
    for _ in 0..t.app.config.passwords.max_failed_logins {
        let resp = change_password(&t, &b, "Guess@12345", NEW_PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    let resp = change_password(&t, &b, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(t.app.db.password_hash(&sub).await.unwrap(), hash);
}

/// Item 16: a change whose audit row cannot be written is reported as failed and not made.
#[tokio::test]
async fn a_change_that_cannot_be_audited_is_not_made() {
    let t = spawn_app().await;
    let sub = t.add_account(ID, Ial::Ial2).await;
    t.app
        .db
        .add_phone(&sub, NEW_PHONE, true, t.clock.now(), None)
        .await
        .unwrap();
    let b = ready_to_change(&t).await;
    let before = phones(&t, &sub).await;
    let hash = t.app.db.password_hash(&sub).await.unwrap();
    t.break_audit_log().await;

    let resp = post(
        &t,
        &b,
        "/profile/phones/default",
        &[("phone_id", &before[1].id)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let resp = post(
        &t,
        &b,
        "/profile/phones/remove",
        &[("phone_id", &before[1].id)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let resp = post(&t, &b, "/profile/email", &[("email", "")]).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let resp = change_password(&t, &b, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    assert_eq!(phones(&t, &sub).await, before, "phones as they were");
    let account = t.app.db.find_account(&sub).await.unwrap().unwrap();
    assert_eq!(account.email.as_deref(), Some("an@example.vn"));
    assert_eq!(
        t.app.db.password_hash(&sub).await.unwrap(),
        hash,
        "the password as it was"
    );
}
