//! "USB ký số": login with a signature certificate on a USB token, through a local signing
//! agent (ours: `xacthuc-signer`, see `docs/signer.md`). Shape: a ceremony — the page hands our
//! challenge to the agent, which asks the token's PIN itself and signs; the page posts back the
//! CMS SignedData.
//!
//! - `start` issues a random 256-bit challenge bound to this flow (kept in its step state), for
//!   [`CHALLENGE_TTL`] seconds, and marks it outstanding in the ephemeral store
//!   (`usb_challenge:<challenge>`). The page gets `{challenge, origin, agent_url}`.
//! - The agent signs SHA-256(origin) ‖ SHA-256(challenge) (as Web eID does): `submit` verifies
//!   the CMS over exactly that, with our own `public_url` origin and the flow's challenge, so a
//!   signature a look-alike site obtained is worthless here (phishing resistant). The challenge
//!   is taken from the store once: a replayed signature is refused.
//! - The certificate must chain to an accepted anchor and not be revoked (`pki::Pki`); both
//!   trust sets are accepted, the holder's class deciding (a citizen's or an enterprise's
//!   certificate from a public CA, an official's from the Government CA).
//! - The identity it names (ID number, or tax code for an enterprise) finds the account in the
//!   one completion; `amr` is `hwk pin sc` (RFC 8176: a hardware key, unlocked by a PIN, on a
//!   smart card) and the method proves IAL3 (the session stays at the account's own level).
//! - Refusals are audited by the login flow with a stable reason: `expired`, `replayed`,
//!   `wrong_origin`, `wrong_challenge`, `malformed`, or the PKI's (`revoked`, `untrusted`, …).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    Amr, Attestation, Ceremony, Ctx, Evidence, IdentitySource, Outcome, Prompt, Refusal,
    RefusalKind, StepState, Subject, Traits,
};
use crate::domain::{Ial, TrustSet};
use crate::message::Message;
use crate::oidc::params::Params;
use crate::random;

pub const TRAITS: Traits = Traits {
    identifies: true,
    phishing_resistant: true,
    attests: Attestation::Proves(Ial::Ial3),
    enrols: None,
    from_typed_id: false,
};

/// How long the user has to plug in the token, type the PIN and sign.
pub const CHALLENGE_TTL: i64 = 120;
/// The largest signature accepted from the page, base64 (a CMS with one certificate is a few
/// KiB; the PKI has its own limit on the DER).
const MAX_CMS_BASE64_BYTES: usize = 64 * 1024;

/// A ceremony in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    challenge: String,
    /// Our origin (`server.public_url`'s): what the agent must have signed for.
    origin: String,
    expires_at: i64,
    agent_url: String,
    /// Where the page sends people without the agent (`usb_token.download_url`).
    download_url: String,
}

impl LoginState {
    pub fn ceremony(&self) -> Ceremony {
        Ceremony {
            options: json!({
                "challenge": self.challenge,
                "origin": self.origin,
                "agent_url": self.agent_url,
                "download_url": self.download_url,
            }),
            expires_at: self.expires_at,
            connect_to: vec![self.agent_url.clone()],
        }
    }
}

/// What the agent signs for `origin` and `challenge` (see `docs/signer.md`).
pub fn signed_content(origin: &str, challenge: &str) -> Vec<u8> {
    [
        Sha256::digest(origin.as_bytes()),
        Sha256::digest(challenge.as_bytes()),
    ]
    .concat()
}

/// The origin of `server.public_url` (scheme, host, port), as a browser sends it.
fn own_origin(ctx: &Ctx<'_>) -> Option<String> {
    let url = url::Url::parse(&ctx.config.server.public_url).ok()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

/// `usb_token.agent_url` must be a loopback http(s) URL: the agent runs on the user's computer.
pub fn check_config(config: &crate::config::Config) -> Result<(), String> {
    let agent = &config.usb_token.agent_url;
    let loopback = url::Url::parse(agent).ok().is_some_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
            && u.path() == "/"
    });
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "usb_token.agent_url must be the local signing agent's origin on this computer, \
             e.g. http://127.0.0.1:14789 ({agent})"
        ))
    }
}

fn refuse(kind: RefusalKind, key: &'static str, reason: &'static str) -> Refusal {
    Refusal::new(kind, Message::new(key), reason)
}

/// A fresh ceremony.
pub async fn start(ctx: &Ctx<'_>) -> Outcome {
    match ceremony(ctx).await {
        Ok(state) => {
            let prompt = Prompt::Ceremony(state.ceremony());
            Outcome::Prompt(StepState::UsbToken(state), prompt)
        }
        Err(refusal) => Outcome::Failed(refusal),
    }
}

async fn ceremony(ctx: &Ctx<'_>) -> Result<LoginState, Refusal> {
    let origin = own_origin(ctx).ok_or_else(|| Refusal::unavailable("usb_token_misconfigured"))?;
    let challenge = random::token();
    ctx.store
        .put(
            &format!("usb_challenge:{challenge}"),
            b"1",
            Duration::from_secs(CHALLENGE_TTL as u64 + 60),
        )
        .await
        .map_err(|_| Refusal::unavailable("store_unavailable"))?;
    Ok(LoginState {
        challenge,
        origin,
        expires_at: ctx.clock.unix() + CHALLENGE_TTL,
        agent_url: ctx
            .config
            .usb_token
            .agent_url
            .trim_end_matches('/')
            .to_string(),
        download_url: ctx.config.usb_token.download_url.clone(),
    })
}

/// Verifies what the page posted: `cms` (standard base64 DER), with the `origin` and
/// `challenge` it had the agent sign.
pub async fn submit(state: LoginState, ctx: &Ctx<'_>, input: &Params) -> Outcome {
    match verify(&state, ctx, input).await {
        Ok(evidence) => Outcome::Done(evidence),
        // Every refusal hands out a fresh challenge: the old one is spent or dead.
        Err(refusal) => match ceremony(ctx).await {
            Ok(fresh) => {
                let prompt = Prompt::Ceremony(fresh.ceremony());
                Outcome::Refused(StepState::UsbToken(fresh), prompt, refusal)
            }
            Err(_) => Outcome::Failed(refusal),
        },
    }
}

async fn verify(state: &LoginState, ctx: &Ctx<'_>, input: &Params) -> Result<Evidence, Refusal> {
    let cms = match input.get("cms") {
        Some(c) if c.len() <= MAX_CMS_BASE64_BYTES => c,
        Some(_) => {
            return Err(refuse(
                RefusalKind::Invalid,
                "err_usb_malformed",
                "too_large",
            ));
        }
        None => return Err(refuse(RefusalKind::Invalid, "err_usb_malformed", "missing")),
    };
    if ctx.clock.unix() >= state.expires_at {
        return Err(refuse(RefusalKind::Invalid, "err_usb_expired", "expired"));
    }
    // What the page says it had signed: only to tell the user why, never trusted — the
    // signature is checked over our own origin and the flow's challenge below.
    if input.get("origin") != Some(state.origin.as_str()) {
        return Err(refuse(
            RefusalKind::Unauthorized,
            "err_usb_origin",
            "wrong_origin",
        ));
    }
    if input.get("challenge") != Some(state.challenge.as_str()) {
        return Err(refuse(
            RefusalKind::Unauthorized,
            "err_usb_challenge",
            "wrong_challenge",
        ));
    }
    let der = STANDARD
        .decode(cms.trim())
        .map_err(|_| refuse(RefusalKind::Invalid, "err_usb_malformed", "malformed"))?;
    let outstanding = ctx
        .store
        .take(&format!("usb_challenge:{}", state.challenge))
        .await
        .map_err(|_| Refusal::unavailable("store_unavailable"))?;
    if outstanding.is_none() {
        return Err(refuse(
            RefusalKind::Unauthorized,
            "err_usb_challenge",
            "replayed",
        ));
    }
    let content = signed_content(&state.origin, &state.challenge);
    let signed = ctx
        .pki
        .verify_cms(
            &der,
            Some(&content),
            &[TrustSet::Public, TrustSet::Government],
            ctx.clock.now(),
        )
        .await
        .map_err(|e| {
            let kind = match e {
                crate::pki::PkiError::RevocationUnavailable
                | crate::pki::PkiError::Unsupported
                | crate::pki::PkiError::Config(_) => RefusalKind::Unavailable,
                _ => RefusalKind::Unauthorized,
            };
            refuse(kind, e.message_key(), e.reason())
        })?;
    let identity = signed
        .certificate
        .verified_identity(IdentitySource::Certificate);
    if identity.id_number.is_none() && identity.tax_code.is_none() {
        let e = crate::pki::PkiError::NoIdentity;
        return Err(refuse(
            RefusalKind::Unauthorized,
            e.message_key(),
            e.reason(),
        ));
    }
    Ok(Evidence {
        subject: Subject::Identity(Box::new(identity)),
        amr: vec![Amr::Hwk, Amr::Pin, Amr::Sc],
        level: TRAITS.attests,
        credential: None,
        phishing_resistant: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::testing::{Harness, input};

    async fn started(h: &Harness) -> LoginState {
        match start(&h.ctx()).await {
            Outcome::Prompt(StepState::UsbToken(state), Prompt::Ceremony(c)) => {
                assert_eq!(c.options["challenge"], state.challenge);
                assert_eq!(c.connect_to, std::slice::from_ref(&state.agent_url));
                state
            }
            other => panic!("a ceremony: {other:?}"),
        }
    }

    /// The refusal of `input`, and the fresh ceremony's state that came with it.
    async fn refusal(h: &Harness, state: LoginState, input: &Params) -> (Refusal, LoginState) {
        match submit(state.clone(), &h.ctx(), input).await {
            Outcome::Refused(StepState::UsbToken(fresh), Prompt::Ceremony(_), r) => {
                assert_ne!(fresh.challenge, state.challenge, "a fresh challenge");
                (r, fresh)
            }
            other => panic!("refused: {other:?}"),
        }
    }

    fn answer<'a>(state: &'a LoginState, cms: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("cms", cms),
            ("origin", state.origin.as_str()),
            ("challenge", state.challenge.as_str()),
        ]
    }

    #[test]
    fn the_server_checks_what_the_agent_signs() {
        let (origin, challenge) = ("https://dichvucong.example", "q83vEjRWeJq83vEjRWeJ");
        assert_eq!(
            signed_content(origin, challenge),
            xacthuc_signer::api::signed_content(origin, challenge)
        );
        assert_eq!(signed_content(origin, challenge).len(), 64);
    }

    #[tokio::test]
    async fn a_ceremony_is_bound_to_our_origin_and_lasts_two_minutes() {
        let h = Harness::new().await;
        let state = started(&h).await;
        assert_eq!(state.origin, "http://localhost:8080");
        assert_eq!(state.agent_url, "http://127.0.0.1:14789");
        assert_eq!(state.challenge.len(), 43, "256 bits, base64url");
        assert_eq!(state.expires_at, h.clock.unix() + CHALLENGE_TTL);
        assert_ne!(started(&h).await.challenge, state.challenge);
    }

    #[tokio::test]
    async fn answers_out_of_time_place_or_shape_are_refused() {
        let h = Harness::new().await;
        let state = started(&h).await;
        let (r, _) = refusal(&h, state.clone(), &input(&[])).await;
        assert_eq!(r.reason, "missing");
        let mut wrong = answer(&state, "MA==");
        wrong[1].1 = "https://dichvucong-gov.example";
        let (r, _) = refusal(&h, state.clone(), &input(&wrong)).await;
        assert_eq!(
            (r.reason, r.message.key),
            ("wrong_origin", "err_usb_origin")
        );
        let mut wrong = answer(&state, "MA==");
        wrong[2].1 = "another-challenge";
        let (r, _) = refusal(&h, state.clone(), &input(&wrong)).await;
        assert_eq!(r.reason, "wrong_challenge");
        let (r, _) = refusal(&h, state.clone(), &input(&answer(&state, "not base64!"))).await;
        assert_eq!(r.reason, "malformed");
        let big = "A".repeat(MAX_CMS_BASE64_BYTES + 4);
        let (r, _) = refusal(&h, state.clone(), &input(&answer(&state, &big))).await;
        assert_eq!(r.reason, "too_large");
        h.clock.advance(Duration::from_secs(CHALLENGE_TTL as u64));
        let (r, _) = refusal(&h, state.clone(), &input(&answer(&state, "MA=="))).await;
        assert_eq!((r.reason, r.message.key), ("expired", "err_usb_expired"));
    }

    #[tokio::test]
    async fn a_challenge_is_answered_once() {
        let h = Harness::new().await;
        let state = started(&h).await;
        // Not a signature: the PKI refuses it, but the challenge is spent all the same.
        let garbage = STANDARD.encode(b"\x30\x03\x02\x01\x01");
        let (first, _) = refusal(&h, state.clone(), &input(&answer(&state, &garbage))).await;
        assert_ne!(first.reason, "replayed");
        let (again, _) = refusal(&h, state.clone(), &input(&answer(&state, &garbage))).await;
        assert_eq!(
            (again.reason, again.message.key),
            ("replayed", "err_usb_challenge")
        );
    }

    #[test]
    fn the_agent_must_be_on_this_computer() {
        let mut config = crate::config::Config::default();
        assert_eq!(check_config(&config), Ok(()));
        for bad in [
            "https://signer.example",
            "http://10.0.0.1:14789",
            "not a url",
            "http://127.0.0.1:14789/x",
        ] {
            config.usb_token.agent_url = bad.into();
            assert!(check_config(&config).is_err(), "{bad}");
        }
    }
}
