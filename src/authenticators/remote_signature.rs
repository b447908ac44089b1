//! "Chữ ký số cá nhân": a remote personal signature (VNPT SmartCA, Viettel MySign and the
//! like): the provider keeps the user's key, and the user approves each signature in the
//! provider's app with a PIN (Cloud Signature Consortium API v2 shape:
//! `connectors::remote_signature`). Shape: a method form (the user id at the provider, or the
//! ID number), then pending, like the SIM signature.
//!
//! - `start` shows the form; `submit` finds the user's credential (`credentials/list`), reads
//!   its certificate chain and algorithm (`credentials/info`) and asks for a signature over
//!   SHA-256 of a fresh challenge (`signatures/signHash`), with the verification code in the
//!   text the app shows (`signature_push`).
//! - `poll` / `submit` ask for the result (at a bounded rate); the raw signature is verified by
//!   the PKI against the chain the provider gave, over *our* hash: chain to the public trust
//!   anchors, revocation, time of use.
//! - Evidence: the certificate's identity, `amr` `swk pin mca`, `Proves(IAL3)`. `swk`, not
//!   `hwk`: the providers keep the signing key in their HSM, but what the *user* proves
//!   possession of is the provider's app on their phone, a software credential (RFC 8176
//!   `hwk` is proof of possession of a hardware-secured key by the user); `pin` is the app's
//!   PIN; `mca` the approval on a second device. The level is still IAL3: the certificate is a
//!   licensed CA's, issued after identity proofing in person.
//! - Refusals (audit reason): `unknown_user`, `credential_unusable`, `user_rejected`,
//!   `expired`, `cancelled`, the PKI's reasons, `csc_unavailable` (503).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::signature_push::{self, Push};
use super::{
    Amr, Attestation, Ctx, Evidence, Form, IdentitySource, Outcome, Prompt, Refusal, RefusalKind,
    StepState, Subject, Traits,
};
use crate::connectors::remote_signature::{KeyAlgorithm, SignHashRequest, SignStatus};
use crate::domain::{Ial, TrustSet};
use crate::message::Message;
use crate::oidc::params::Params;

pub const TRAITS: Traits = Traits {
    identifies: true,
    phishing_resistant: false,
    attests: Attestation::Proves(Ial::Ial3),
    enrols: None,
    from_typed_id: false,
};

/// `amr` of a remote signature (see the module comment for `swk`).
pub const AMR: [Amr; 3] = [Amr::Swk, Amr::Pin, Amr::Mca];

/// Longest user id accepted from the form.
const MAX_USER_ID: usize = 64;

/// The step's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LoginState {
    /// The user id form.
    AskUser,
    /// A request is in the user's app.
    Waiting {
        /// The signer's certificate chain as the provider gave it (base64 DER, signer first).
        chain: Vec<String>,
        algorithm: KeyAlgorithm,
        push: Push,
    },
}

fn step(state: LoginState) -> StepState {
    StepState::RemoteSignature(state)
}

fn user_form(typed: &str) -> Prompt {
    Prompt::Form(Form::MethodPage(
        json!({ "step": "user", "user_id": typed }),
    ))
}

/// Begins: the form, or the request at once when the page sent the user id.
pub async fn start(ctx: &Ctx<'_>, input: &Params) -> Outcome {
    match input.get("user_id") {
        Some(_) => submit(LoginState::AskUser, ctx, input).await,
        None => Outcome::Prompt(step(LoginState::AskUser), user_form("")),
    }
}

/// What the page posted: the user id, "Kiểm tra lại", or "Hủy".
pub async fn submit(state: LoginState, ctx: &Ctx<'_>, input: &Params) -> Outcome {
    if signature_push::cancelled(input) {
        return Outcome::Failed(signature_push::cancel_refusal());
    }
    match state {
        LoginState::AskUser => send(ctx, input.get("user_id").unwrap_or_default()).await,
        waiting @ LoginState::Waiting { .. } => check(ctx, waiting).await,
    }
}

/// Asks the provider how the request stands.
pub async fn poll(state: LoginState, ctx: &Ctx<'_>) -> Outcome {
    match state {
        LoginState::AskUser => Outcome::Prompt(step(LoginState::AskUser), user_form("")),
        waiting @ LoginState::Waiting { .. } => check(ctx, waiting).await,
    }
}

fn valid_user_id(id: &str) -> bool {
    (1..=MAX_USER_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// Finds the user's credential and asks for a signature in their app.
async fn send(ctx: &Ctx<'_>, typed: &str) -> Outcome {
    let typed = typed.trim();
    let again =
        |refusal: Refusal| Outcome::Refused(step(LoginState::AskUser), user_form(typed), refusal);
    if !valid_user_id(typed) {
        return again(Refusal::invalid(
            "err_remote_user_invalid",
            "user_id_invalid",
        ));
    }
    let provider = &ctx.connectors.remote_signature;
    let credential = match provider.credentials(typed).await {
        Ok(ids) => match ids.into_iter().next() {
            Some(id) => id,
            None => {
                return again(signature_push::refusal(
                    "err_remote_unknown_user",
                    "unknown_user",
                ));
            }
        },
        Err(e) => return again(unavailable(&e)),
    };
    let info = match provider.credential_info(&credential).await {
        Ok(info) if info.usable => info,
        Ok(_) => {
            return again(signature_push::refusal(
                "err_remote_credential_unusable",
                "credential_unusable",
            ));
        }
        Err(e) => return again(unavailable(&e)),
    };
    let (hash, code) = signature_push::new_challenge();
    let request = SignHashRequest {
        credential_id: credential,
        hash: hash.clone(),
        algorithm: info.algorithm,
        client_data: signature_push::display_text(&code),
        validity_seconds: signature_push::PUSH_TTL_SECONDS,
    };
    match provider.sign_hash(&request).await {
        Ok(response_id) => {
            let push = signature_push::begin(response_id, &hash, code, ctx.clock.unix());
            let prompt = push.prompt();
            let state = LoginState::Waiting {
                chain: info.chain.iter().map(|c| STANDARD.encode(c)).collect(),
                algorithm: info.algorithm,
                push,
            };
            Outcome::Prompt(step(state), prompt)
        }
        Err(e) => again(unavailable(&e)),
    }
}

/// Asks how the request stands; a signature is verified.
async fn check(ctx: &Ctx<'_>, state: LoginState) -> Outcome {
    let LoginState::Waiting { push, .. } = &state else {
        return Outcome::Prompt(step(LoginState::AskUser), user_form(""));
    };
    if signature_push::expired(ctx, push) {
        return Outcome::Failed(signature_push::refusal("err_push_expired", "expired"));
    }
    if !signature_push::may_query(ctx, push).await {
        let prompt = push.prompt();
        return Outcome::Prompt(step(state), prompt);
    }
    match ctx
        .connectors
        .remote_signature
        .sign_status(&push.transaction)
        .await
    {
        Ok(SignStatus::Pending) => {
            signature_push::queried(ctx, push).await;
            let prompt = push.prompt();
            Outcome::Prompt(step(state), prompt)
        }
        Ok(SignStatus::Signed(signature)) => verify(ctx, &state, &signature).await,
        Ok(SignStatus::Rejected) => Outcome::Failed(signature_push::refusal(
            "err_remote_rejected",
            "user_rejected",
        )),
        Ok(SignStatus::Expired) => {
            Outcome::Failed(signature_push::refusal("err_push_expired", "expired"))
        }
        Err(e) => Outcome::Failed(unavailable(&e)),
    }
}

/// The raw signature must verify over our hash with the certificate the provider named, which
/// must chain to the public trust anchors and not be revoked.
async fn verify(ctx: &Ctx<'_>, state: &LoginState, signature: &[u8]) -> Outcome {
    let LoginState::Waiting {
        chain,
        algorithm,
        push,
    } = state
    else {
        return Outcome::Failed(Refusal::invalid("err_flow_expired", "no_request"));
    };
    let chain: Vec<Vec<u8>> = chain
        .iter()
        .filter_map(|c| STANDARD.decode(c).ok())
        .collect();
    let verified = ctx
        .pki
        .verify_signed_digest(
            &chain,
            &push.signed_data(),
            signature_alg(*algorithm),
            signature,
            &[TrustSet::Public],
            ctx.clock.now(),
        )
        .await;
    match verified {
        Ok(info) => {
            let identity = info.verified_identity(IdentitySource::Certificate);
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

fn signature_alg(algorithm: KeyAlgorithm) -> crate::pki::SignatureAlg {
    match algorithm {
        KeyAlgorithm::RsaSha256 => crate::pki::SignatureAlg::RsaPkcs1Sha256,
        KeyAlgorithm::EcdsaSha256 => crate::pki::SignatureAlg::EcdsaSha256,
    }
}

fn unavailable(e: &crate::connectors::ConnectorError) -> Refusal {
    tracing::warn!(error = %e, "remote signature provider failed");
    Refusal::new(
        RefusalKind::Unavailable,
        Message::new("err_upstream_csc"),
        "csc_unavailable",
    )
}
