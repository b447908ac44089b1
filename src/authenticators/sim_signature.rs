//! "SIM ký số": the SIM of the user's phone signs our challenge after the user checks the
//! verification code and types the SIM's PIN (a mobile-signature push, ETSI TS 102 204 shape:
//! `connectors::mobile_signature`). Shape: a method form (the phone number), then pending
//! (the page shows the code, a countdown and progress, and polls).
//!
//! - `start` shows the phone form (or sends at once when the number came with the request);
//!   the request carries `DataToBeSigned` = SHA-256 of a fresh challenge and the display text
//!   with the code (`signature_push`).
//! - `poll` / `submit` ask the MSSP (at a bounded rate); a signature is verified by the PKI as a
//!   detached CMS over *our* data to be signed (so a signature over another challenge fails),
//!   chained to the public trust anchors, not revoked, at the time of use.
//! - Evidence: the certificate's identity (`Subject::Identity`; the one login completion finds
//!   the citizen's account by ID number, the enterprise's by tax code), `amr` `hwk pin mca`
//!   (RFC 8176: a key in the SIM's secure element, unlocked by its PIN, approved on a second
//!   device), `Proves(IAL3)`. Not phishing resistant: a look-alike site can make the same
//!   push (the code on both screens is the defence the user has).
//! - Refusals (audit reason): `user_cancelled`, `expired`, `pin_blocked`, `unknown_user`,
//!   `certificate_revoked`, `phone_failed`, `cancelled` (our page's "Hủy"), the PKI's reasons,
//!   `mssp_unavailable` (the service down or answering garbage: 503).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::signature_push::{self, Push};
use super::{
    Amr, Attestation, Ctx, Evidence, Form, IdentitySource, Outcome, Prompt, Refusal, RefusalKind,
    StepState, Subject, Traits,
};
use crate::connectors::mobile_signature::{MssRefusal, MssStatus, Requested, SignatureRequest};
use crate::domain::{Ial, PhoneNumber, TrustSet};
use crate::message::Message;
use crate::oidc::params::Params;

pub const TRAITS: Traits = Traits {
    identifies: true,
    phishing_resistant: false,
    attests: Attestation::Proves(Ial::Ial3),
    enrols: None,
    from_typed_id: false,
};

/// `amr` of a SIM signature.
pub const AMR: [Amr; 3] = [Amr::Hwk, Amr::Pin, Amr::Mca];

/// The step's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LoginState {
    /// The phone number form.
    AskPhone,
    /// A request is on the phone.
    Waiting {
        /// The number, masked, to show on the page.
        phone: String,
        push: Push,
    },
}

fn step(state: LoginState) -> StepState {
    StepState::SimSignature(state)
}

/// The phone form, with what was typed.
fn phone_form(typed: &str) -> Prompt {
    Prompt::Form(Form::MethodPage(json!({ "step": "phone", "phone": typed })))
}

/// Begins: the phone form, or the request at once when the page sent the number.
pub async fn start(ctx: &Ctx<'_>, input: &Params) -> Outcome {
    match input.get("phone") {
        Some(_) => submit(LoginState::AskPhone, ctx, input).await,
        None => Outcome::Prompt(step(LoginState::AskPhone), phone_form("")),
    }
}

/// What the page posted: the phone number, "Kiểm tra lại", or "Hủy".
pub async fn submit(state: LoginState, ctx: &Ctx<'_>, input: &Params) -> Outcome {
    if signature_push::cancelled(input) {
        return Outcome::Failed(signature_push::cancel_refusal());
    }
    match state {
        LoginState::AskPhone => send(ctx, input.get("phone").unwrap_or_default()).await,
        LoginState::Waiting { phone, push } => check(ctx, phone, push).await,
    }
}

/// Asks the MSSP how the request stands.
pub async fn poll(state: LoginState, ctx: &Ctx<'_>) -> Outcome {
    match state {
        LoginState::AskPhone => Outcome::Prompt(step(LoginState::AskPhone), phone_form("")),
        LoginState::Waiting { phone, push } => check(ctx, phone, push).await,
    }
}

/// Sends the signature request to the SIM of `typed`.
async fn send(ctx: &Ctx<'_>, typed: &str) -> Outcome {
    let typed = typed.trim();
    let again =
        |refusal: Refusal| Outcome::Refused(step(LoginState::AskPhone), phone_form(typed), refusal);
    let Ok(phone) = PhoneNumber::parse(typed) else {
        return again(Refusal::invalid("err_sim_phone_invalid", "phone_invalid"));
    };
    let (signed_data, code) = signature_push::new_challenge();
    let request = SignatureRequest {
        ap_trans_id: crate::random::token(),
        msisdn: phone.e164().to_string(),
        data_to_be_displayed: signature_push::display_text(&code),
        data_to_be_signed: signed_data.clone(),
        timeout_seconds: signature_push::PUSH_TTL_SECONDS,
    };
    match ctx
        .connectors
        .mobile_signature
        .request_signature(&request)
        .await
    {
        Ok(Requested::Accepted { mssp_trans_id }) => {
            let push = signature_push::begin(mssp_trans_id, &signed_data, code, ctx.clock.unix());
            let prompt = push.prompt();
            let state = LoginState::Waiting {
                phone: phone.masked(),
                push,
            };
            Outcome::Prompt(step(state), prompt)
        }
        Ok(Requested::Refused(r)) => again(refusal_of(r)),
        Err(e) => {
            tracing::warn!(error = %e, "mobile signature request failed");
            again(unavailable())
        }
    }
}

/// Asks how the request stands; a signature is verified.
async fn check(ctx: &Ctx<'_>, phone: String, push: Push) -> Outcome {
    if signature_push::expired(ctx, &push) {
        return Outcome::Failed(refusal_of(MssRefusal::Expired));
    }
    let waiting = |phone: String, push: Push| {
        let prompt = push.prompt();
        Outcome::Prompt(step(LoginState::Waiting { phone, push }), prompt)
    };
    if !signature_push::may_query(ctx, &push).await {
        return waiting(phone, push);
    }
    match ctx
        .connectors
        .mobile_signature
        .status(&push.transaction)
        .await
    {
        Ok(MssStatus::Outstanding) => {
            signature_push::queried(ctx, &push).await;
            waiting(phone, push)
        }
        Ok(MssStatus::Signed(cms)) => verify(ctx, &push, &cms).await,
        Ok(MssStatus::Refused(r)) => Outcome::Failed(refusal_of(r)),
        Err(e) => {
            tracing::warn!(error = %e, "mobile signature status failed");
            Outcome::Failed(unavailable())
        }
    }
}

/// The CMS must be a valid signature over our data to be signed by a trusted, unrevoked
/// certificate.
async fn verify(ctx: &Ctx<'_>, push: &Push, cms: &[u8]) -> Outcome {
    let signed_data = push.signed_data();
    match ctx
        .pki
        .verify_cms(
            cms,
            Some(&signed_data),
            &[TrustSet::Public],
            ctx.clock.now(),
        )
        .await
    {
        Ok(signed) => {
            let identity = signed
                .certificate
                .verified_identity(IdentitySource::Certificate);
            Outcome::Done(Evidence {
                subject: Subject::Identity(Box::new(identity)),
                amr: AMR.to_vec(),
                level: TRAITS.attests,
                credential: None,
                phishing_resistant: TRAITS.phishing_resistant,
            })
        }
        Err(e) => Outcome::Failed(Refusal::new(
            RefusalKind::Unauthorized,
            Message::new(e.message_key()),
            e.reason(),
        )),
    }
}

/// What the user is told when the MSSP ends a request without a signature.
fn refusal_of(r: MssRefusal) -> Refusal {
    let (key, reason) = match r {
        MssRefusal::UserCancelled => ("err_sim_rejected", "user_cancelled"),
        MssRefusal::Expired => ("err_push_expired", "expired"),
        MssRefusal::PinBlocked => ("err_sim_pin_blocked", "pin_blocked"),
        MssRefusal::UnknownUser => ("err_sim_unknown_number", "unknown_user"),
        MssRefusal::RevokedCertificate => ("err_sim_certificate_revoked", "certificate_revoked"),
        MssRefusal::PhoneFailed => ("err_sim_phone_failed", "phone_failed"),
    };
    signature_push::refusal(key, reason)
}

fn unavailable() -> Refusal {
    Refusal::new(
        RefusalKind::Unavailable,
        Message::new("err_upstream_mssp"),
        "mssp_unavailable",
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::authenticators::testing::{Harness, input};
    use crate::connectors::{ConnectorError, MobileSignatureService};

    /// An MSSP whose phones never answer; it counts the status queries.
    #[derive(Default)]
    struct Silent {
        queries: AtomicU32,
    }

    #[async_trait]
    impl MobileSignatureService for Silent {
        async fn request_signature(
            &self,
            _: &SignatureRequest,
        ) -> Result<Requested, ConnectorError> {
            Ok(Requested::Accepted {
                mssp_trans_id: "tx-1".into(),
            })
        }

        async fn status(&self, _: &str) -> Result<MssStatus, ConnectorError> {
            self.queries.fetch_add(1, Ordering::Relaxed);
            Ok(MssStatus::Outstanding)
        }
    }

    async fn waiting(h: &Harness) -> LoginState {
        let Outcome::Prompt(StepState::SimSignature(state), Prompt::Pending(p)) =
            start(&h.ctx(), &input(&[("phone", "0823456088")])).await
        else {
            panic!("pending");
        };
        assert_eq!(p.display_code.len(), 4);
        assert_eq!(p.expires_at, h.clock.unix() + 120);
        state
    }

    fn still_waiting(outcome: Outcome) -> LoginState {
        match outcome {
            Outcome::Prompt(StepState::SimSignature(s), Prompt::Pending(_)) => s,
            other => panic!("still pending, not {other:?}"),
        }
    }

    #[tokio::test]
    async fn polling_asks_the_mssp_at_most_once_a_second() {
        let mut h = Harness::new().await;
        let mssp = Arc::new(Silent::default());
        h.connectors.mobile_signature = mssp.clone();
        let mut state = waiting(&h).await;
        for _ in 0..5 {
            state = still_waiting(poll(state, &h.ctx()).await);
        }
        assert_eq!(mssp.queries.load(Ordering::Relaxed), 1);
        h.advance(2);
        state = still_waiting(poll(state, &h.ctx()).await);
        assert_eq!(mssp.queries.load(Ordering::Relaxed), 2);
        // "Kiểm tra lại" is held to the same pace.
        still_waiting(submit(state, &h.ctx(), &input(&[])).await);
        assert_eq!(mssp.queries.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn an_expired_push_ends_without_asking_and_cancel_ends_it_too() {
        let mut h = Harness::new().await;
        let mssp = Arc::new(Silent::default());
        h.connectors.mobile_signature = mssp.clone();
        let state = waiting(&h).await;
        let cancelled = submit(state.clone(), &h.ctx(), &input(&[("cancel", "1")])).await;
        assert!(matches!(cancelled, Outcome::Failed(r) if r.reason == "cancelled"));
        h.advance(121);
        let expired = poll(state, &h.ctx()).await;
        assert!(matches!(expired, Outcome::Failed(r) if r.reason == "expired"));
        assert_eq!(mssp.queries.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_refused_request_shows_the_form_again() {
        let h = Harness::new().await;
        // The harness's MSSP knows nobody.
        let Outcome::Refused(StepState::SimSignature(LoginState::AskPhone), Prompt::Form(_), r) =
            start(&h.ctx(), &input(&[("phone", "0823456088")])).await
        else {
            panic!("refused on the form");
        };
        assert_eq!(r.reason, "unknown_user");
        assert_eq!(r.kind, RefusalKind::Unauthorized);
        let Outcome::Refused(_, _, r) = start(&h.ctx(), &input(&[("phone", "12")])).await else {
            panic!("refused");
        };
        assert_eq!(r.reason, "phone_invalid");
    }
}
