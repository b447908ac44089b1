//! Resource limits: a login burst beyond the hashing pool is told to retry (never left to pile
//! up), `/authorize` has a ceiling per address, a pending request keeps nothing oversized, and
//! captcha renderings are kept, not redrawn.

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::helpers::*;

/// With one hashing worker and no queue, a burst of logins gets one through and tells the others
/// "busy, try again" at once (503 + Retry-After, on the login page), instead of queueing them
/// all behind Argon2. Posting again afterwards works.
#[tokio::test]
async fn a_login_burst_beyond_the_hashing_pool_is_told_to_retry() {
    let t = spawn_app_with(|c| {
        // Slow enough that the burst overlaps one hash.
        c.passwords.argon2_memory_kib = 32 * 1024;
        c.passwords.argon2_iterations = 3;
        c.passwords.hash_workers = 1;
        c.passwords.hash_queue_per_worker = 0;
        // Six checks of one name at once: the name's own throttle (5) is not what is tested.
        c.passwords.max_failed_logins = 10;
    })
    .await;
    t.add_account("001090012345", Ial::Ial2).await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    let url = authorize_url(&t, &client_id, &challenge, &[]);

    // Six browsers, each with the login form open.
    let mut forms = Vec::new();
    for _ in 0..6 {
        let b = browser();
        let login_url = location(&b.get(&url).send().await.unwrap());
        let form = login_form(&b, &login_url, "001090012345", PASSWORD).await;
        forms.push((b, form));
    }
    let post =
        |b: &reqwest::Client, form: &Vec<(&str, String)>| b.post(t.url("/login")).form(form).send();
    let burst: Vec<_> = forms
        .iter()
        .map(|(b, f)| tokio::spawn(post(b, f)))
        .collect();
    let (mut passed, mut busy) = (0, 0);
    for resp in burst {
        let resp = resp.await.unwrap().unwrap();
        match resp.status() {
            s if s.is_redirection() => passed += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(resp.headers()["retry-after"], "1");
                let html = resp.text().await.unwrap();
                assert!(html.contains("Hệ thống đang bận"), "{html}");
                assert!(html.contains("001090012345"), "the typed ID number is kept");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(passed >= 1 && busy >= 1, "passed {passed}, busy {busy}");
    // Counted, not audited: a busy answer checked nothing, and must not cost a database write.
    let metrics = http().get(t.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let line = format!(r#"xacthuc_logins_total{{method="password",result="busy"}} {busy}"#);
    assert!(metrics.contains(&line), "{metrics}");
    let audit = t.app.db.audit_events(50).await.unwrap();
    assert!(!audit.iter().any(|e| e.kind == "login.failed"));
    // The pool is free again: a busy browser posts again and gets in.
    let (b, form) = forms.last().unwrap();
    let resp = post(b, form).await.unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
}

#[tokio::test]
async fn authorize_has_a_ceiling_per_address_answered_on_a_page() {
    let t = spawn_app_with(|c| c.limits.authorize_per_ip_per_minute = 3).await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    let url = authorize_url(&t, &client_id, &challenge, &[]);
    let b = browser();
    for _ in 0..3 {
        let resp = b.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    }
    let resp = b.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        resp.headers().get("location").is_none(),
        "a page, not a redirect"
    );
    assert_eq!(resp.headers()["retry-after"], "60");
    let html = resp.text().await.unwrap();
    assert!(html.contains("Có quá nhiều yêu cầu"), "{html}");
    let en = b.get(format!("{url}&lang=en")).send().await.unwrap();
    assert!(en.text().await.unwrap().contains("Too many requests"));

    t.advance(61);
    let resp = b.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "a new minute");
}

/// A pending request is stored for 30 minutes: oversized values are refused before it is, and
/// so are requests with more parameters than any endpoint takes.
#[tokio::test]
async fn a_pending_request_keeps_nothing_oversized() {
    let t = spawn_app().await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    let b = browser();
    let claims = format!(r#"{{"userinfo":{{"x":"{}"}}}}"#, "a".repeat(5000));
    let resp = b
        .get(authorize_url(
            &t,
            &client_id,
            &challenge,
            &[("claims", &claims)],
        ))
        .send()
        .await
        .unwrap();
    let q = query(&location(&resp));
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["error_description"], "claims is too long");

    let many: String = (0..150).map(|i| format!("&x{i}=1")).collect();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]) + &many)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
}

/// Reloading a captcha image or replaying its audio gets the same rendering (before, each GET
/// drew new noise over the same letters, which averaging could strip off).
#[tokio::test]
async fn captcha_renderings_are_kept_not_redrawn() {
    let t = spawn_app().await;
    let id = xacthuc::authenticators::captcha::create(t.app.store.as_ref())
        .await
        .unwrap();
    for path in ["image.png", "audio.wav"] {
        let get = || async {
            let resp = http()
                .get(t.url(&format!("/captcha/{id}/{path}")))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.bytes().await.unwrap()
        };
        let first = get().await;
        assert_eq!(first, get().await, "{path}");
    }
    let resp = http()
        .get(t.url("/captcha/unknown/image.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// While the pool is full (its one place held here), every form that hashes a password says
/// "busy, try again" with 503 and Retry-After, and changes nothing: the login, the profile's
/// password change, and the password asked before adding a passkey.
#[tokio::test]
async fn every_password_form_says_busy_while_the_pool_is_full() {
    let t = spawn_app_with(|c| {
        c.passwords.hash_workers = 1;
        c.passwords.hash_queue_per_worker = 0;
    })
    .await;
    t.add_account("001090012345", Ial::Ial2).await;
    let me = browser();
    login(&t, &me, &t.url("/login"), "001090012345", PASSWORD).await;
    // Changes need a fresh re-authentication (while the pool has room).
    reauthenticate(&t, &me, PHONE_E164).await;
    let (client_id, _) = t.add_client(|_| {}).await;
    let (_, challenge) = pkce();
    let other = browser();
    let login_url = location(
        &other
            .get(authorize_url(&t, &client_id, &challenge, &[]))
            .send()
            .await
            .unwrap(),
    );
    let login_fields = login_form(&other, &login_url, "001090012345", PASSWORD).await;
    let csrf_of = |html: String| hidden(&html, "csrf").unwrap();
    let page = |path: &'static str| me.get(t.url(path)).send();
    let csrf = csrf_of(
        page("/profile/password")
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let change = [
        ("csrf", csrf.as_str()),
        ("current_password", PASSWORD),
        ("password", "Mới@Khẩu2025"),
        ("password_confirm", "Mới@Khẩu2025"),
    ];
    let csrf = csrf_of(page("/profile/reauth").await.unwrap().text().await.unwrap());
    let reauth = [("csrf", csrf.as_str()), ("current_password", PASSWORD)];

    let held = t.app.hasher.reserve().unwrap();
    let answers = [
        other.post(t.url("/login")).form(&login_fields).send().await,
        me.post(t.url("/profile/password"))
            .form(&change)
            .send()
            .await,
        me.post(t.url("/profile/reauth")).form(&reauth).send().await,
    ];
    for resp in answers {
        let resp = resp.unwrap();
        let url = resp.url().to_string();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{url}");
        assert_eq!(resp.headers()["retry-after"], "1", "{url}");
        assert!(
            resp.text().await.unwrap().contains("Hệ thống đang bận"),
            "{url}"
        );
    }
    drop(held);
    let resp = other.post(t.url("/login")).form(&login_fields).send().await;
    assert!(resp.unwrap().status().is_redirection(), "room again");
    let resp = me
        .post(t.url("/profile/password"))
        .form(&change)
        .send()
        .await;
    assert!(
        resp.unwrap().status().is_redirection(),
        "the password was not changed meanwhile"
    );
}
