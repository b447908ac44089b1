//! SMS one-time passwords and the image captcha, against the sandbox SMS gateway.

use reqwest::StatusCode;
use xacthuc::authenticators::otp::Purpose;
use xacthuc::authenticators::{captcha, otp};

use crate::helpers::*;

const PHONE: &str = "+84823628899";

/// The code in the newest SMS to `phone`.
fn last_code(t: &TestApp, phone: &str) -> String {
    let messages = t.app.simulators.as_ref().unwrap().messages_to(phone);
    let text = &messages.last().expect("an SMS was sent").text;
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("6-digit code")
        .to_string()
}

#[tokio::test]
async fn otp_is_six_digits_single_use_and_dies_after_five_wrong_tries() {
    let t = spawn_app().await;
    let challenge = otp::send(&t.ctx(), Purpose::Registration, None, PHONE)
        .await
        .unwrap();
    let code = last_code(&t, PHONE);
    assert!(code.chars().all(|c| c.is_ascii_digit()) && code.len() == 6);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for left in (1..=4).rev() {
        match otp::verify(&t.ctx(), &challenge, wrong).await {
            Err(otp::OtpError::Wrong { attempts_left }) => assert_eq!(attempts_left, left),
            other => panic!("expected Wrong, got {other:?}"),
        }
    }
    assert!(matches!(
        otp::verify(&t.ctx(), &challenge, wrong).await,
        Err(otp::OtpError::Exhausted)
    ));
    // Dead: even the right code is refused now.
    assert!(matches!(
        otp::verify(&t.ctx(), &challenge, &code).await,
        Err(otp::OtpError::Exhausted)
    ));
}

#[tokio::test]
async fn otp_verifies_once_and_expires() {
    let t = spawn_app().await;
    let challenge = otp::send(&t.ctx(), Purpose::Registration, None, PHONE)
        .await
        .unwrap();
    let code = last_code(&t, PHONE);
    assert!(otp::verify(&t.ctx(), &challenge, &code).await.is_ok());
    assert!(
        otp::verify(&t.ctx(), &challenge, &code).await.is_err(),
        "single use"
    );

    let challenge = otp::send(&t.ctx(), Purpose::Registration, None, PHONE)
        .await
        .unwrap();
    let code = last_code(&t, PHONE);
    t.advance(301);
    assert!(matches!(
        otp::verify(&t.ctx(), &challenge, &code).await,
        Err(otp::OtpError::Expired)
    ));
}

#[tokio::test]
async fn otp_resend_waits_for_the_cooldown_and_is_capped_per_hour() {
    let t = spawn_app_with(|c| c.otp.per_phone_per_hour.login = 5).await;
    let ctx = t.ctx();
    let mut step = otp::OtpStep::send(&ctx, Purpose::Login, Some("a"), PHONE)
        .await
        .unwrap();
    match step.resend(&ctx).await {
        Err(otp::OtpError::Cooldown { wait_seconds }) => assert!((1..=60).contains(&wait_seconds)),
        other => panic!("expected Cooldown, got {other:?}"),
    }
    for _ in 0..4 {
        t.advance(61);
        step.resend(&ctx).await.unwrap();
    }
    t.advance(61);
    assert!(matches!(
        step.resend(&ctx).await,
        Err(otp::OtpError::HourlyCap)
    ));
    assert!(
        matches!(
            otp::send(&t.ctx(), Purpose::Login, Some("b"), PHONE).await,
            Err(otp::OtpError::HourlyCap)
        ),
        "across flows too"
    );
    assert_eq!(
        t.app.simulators.as_ref().unwrap().messages_to(PHONE).len(),
        5,
        "no SMS beyond the cap"
    );
    // Another phone is not affected, nor another purpose.
    assert!(
        otp::send(&t.ctx(), Purpose::Login, Some("a"), "+84912345678")
            .await
            .is_ok()
    );
    assert!(
        otp::send(&t.ctx(), Purpose::Registration, None, PHONE)
            .await
            .is_ok()
    );
}

/// Issue 7, item 1, on this app's store (Redis when `REDIS_URL` is set): fifty guesses at once,
/// the right code last. The tries were read, compared, then counted, so on Redis every guess of
/// a burst was compared and the right one got in; each try is now taken before its comparison.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_guesses_then_the_right_one_is_refused() {
    let t = spawn_app().await;
    let ctx = t.ctx();
    let challenge = otp::send(&ctx, Purpose::Login, Some("a"), PHONE)
        .await
        .unwrap();
    let code = last_code(&t, PHONE);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let mut guesses = vec![wrong; 49];
    guesses.push(&code);
    // join_all polls up to 30 futures in order; two groups of 25 send the guesses in order.
    let groups = guesses.chunks(25).map(|group| {
        futures::future::join_all(group.iter().map(|g| otp::verify(&ctx, &challenge, g)))
    });
    let answers: Vec<_> = futures::future::join_all(groups)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        answers.iter().all(Result::is_err),
        "the right code came too late"
    );
    let compared = answers
        .iter()
        .filter(|a| matches!(a, Err(otp::OtpError::Wrong { .. })))
        .count();
    assert_eq!(
        compared, 4,
        "five tries: four wrong answers, then exhausted"
    );
    assert!(matches!(
        otp::verify(&ctx, &challenge, &code).await,
        Err(otp::OtpError::Exhausted)
    ));
}

/// The captcha was already taken once (`take`); the same under contention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captcha_answered_twenty_times_at_once_passes_once() {
    let t = spawn_app().await;
    let store = t.app.store.as_ref();
    let id = captcha::create(store).await.unwrap();
    let answer = captcha::peek_answer(store, &id).await.unwrap().unwrap();
    let answers =
        futures::future::join_all((0..20).map(|_| captcha::verify(store, &id, &answer))).await;
    assert_eq!(answers.iter().filter(|a| *a.as_ref().unwrap()).count(), 1);
}

#[tokio::test]
async fn captcha_is_single_use_and_served_as_image_and_audio() {
    let t = spawn_app().await;
    let id = captcha::create(t.app.store.as_ref()).await.unwrap();
    let png = http()
        .get(t.url(&format!("/captcha/{id}/image.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), StatusCode::OK);
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let wav = http()
        .get(t.url(&format!("/captcha/{id}/audio.wav")))
        .send()
        .await
        .unwrap();
    assert!(wav.bytes().await.unwrap().starts_with(b"RIFF"));

    let answer = captcha_answer(&t, &id).await;
    assert_eq!(answer.len(), 5);
    assert!(
        captcha::verify(t.app.store.as_ref(), &id, &answer.to_uppercase())
            .await
            .unwrap(),
        "case-insensitive"
    );
    assert!(
        !captcha::verify(t.app.store.as_ref(), &id, &answer)
            .await
            .unwrap(),
        "single use"
    );

    let id = captcha::create(t.app.store.as_ref()).await.unwrap();
    assert!(
        !captcha::verify(t.app.store.as_ref(), &id, "wrong")
            .await
            .unwrap()
    );
    let gone = http()
        .get(t.url(&format!("/sandbox/captcha/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.status(),
        StatusCode::NOT_FOUND,
        "a wrong answer consumes the challenge"
    );
}

#[tokio::test]
async fn captcha_expires() {
    let t = spawn_app().await;
    let id = captcha::create(t.app.store.as_ref()).await.unwrap();
    let answer = captcha::peek_answer(t.app.store.as_ref(), &id)
        .await
        .unwrap()
        .unwrap();
    t.advance(301);
    assert!(
        !captcha::verify(t.app.store.as_ref(), &id, &answer)
            .await
            .unwrap()
    );
}
