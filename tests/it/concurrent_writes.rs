//! Writes that race: many requests changing one account at once all succeed or are refused
//! for a reason, never "temporarily unavailable" because the database lock was contended.

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::helpers::*;

#[tokio::test]
async fn thirty_parallel_default_phone_changes_all_succeed_and_leave_one_default() {
    let t = spawn_app().await;
    let account = t.add_account("001090012345", Ial::Ial2).await;
    t.app
        .db
        .add_phone(&account, "+84912345678", true, t.clock.now(), None)
        .await
        .unwrap();
    let b = browser();
    login(&t, &b, &t.url("/login"), "001090012345", PASSWORD).await;
    reauthenticate(&t, &b, PHONE_E164).await;
    let profile = page_text(&b, t.url("/profile")).await;
    let csrf = hidden(&profile, "csrf").expect("csrf");
    let phones = t.app.db.verified_phones(&account).await.unwrap();
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (b, url, csrf) = (b.clone(), t.url("/profile/phones/default"), csrf.clone());
        let phone_id = phones[i % phones.len()].id.clone();
        posts.spawn(async move {
            let resp = b
                .post(url)
                .form(&[("csrf", csrf.as_str()), ("phone_id", phone_id.as_str())])
                .send()
                .await
                .unwrap();
            (resp.status(), location(&resp))
        });
    }
    let answers = posts.join_all().await;
    let done = (
        StatusCode::SEE_OTHER,
        t.url("/profile?notice=phone_default_set"),
    );
    assert!(answers.iter().all(|a| *a == done), "{answers:?}");
    let defaults = t
        .app
        .db
        .verified_phones(&account)
        .await
        .unwrap()
        .iter()
        .filter(|p| p.is_default)
        .count();
    assert_eq!(defaults, 1);
}
