//! Passkeys (WebAuthn, `webauthn-rs`): "Đăng nhập bằng passkey", and adding one in "Thông tin
//! cá nhân". Shape: a ceremony — the page hands our challenge to the browser's authenticator
//! and posts back what it signed.
//!
//! - The relying party is `server.public_url`: its host is the RP ID, its origin the only
//!   origin accepted (WebAuthn refuses IP addresses: use a domain name, `localhost` in
//!   development).
//! - Passkeys are registered as discoverable credentials, so a login needs no ID number; when
//!   the ID number was typed first (or an earlier step identified the account), the ceremony
//!   lists that account's passkeys, and a passkey of another account is refused.
//! - A challenge is answered once (a marker in the ephemeral store) and expires after
//!   [`CHALLENGE_TTL`]; every refusal hands out a fresh one.
//! - A sign counter that did not grow (a cloned authenticator) and an unknown credential are
//!   refused and audited (`login.failed` with the reason and credential).
//! - `amr` (RFC 8176): `hwk` for a device-bound credential (not backup-eligible: a security key
//!   or a platform key that cannot leave the device), `swk` for a synced one (backup-eligible),
//!   `user` (WebAuthn requires user presence), and `mfa` when the authenticator verified the
//!   user (PIN or biometrics: something held plus something known or been). The session's level
//!   is the account's own (a passkey proves the holder, not the person).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::{
    Amr, Attestation, Ceremony, CredentialUse, Ctx, Evidence, NewCredential, Outcome, Prompt,
    Refusal, RefusalKind, StepState, Traits,
};
use crate::domain::{Account, CredentialKind, IdNumber};
use crate::message::Message;
use crate::oidc::params::Params;

pub const TRAITS: Traits = Traits {
    identifies: true,
    phishing_resistant: true,
    attests: Attestation::AccountLevel,
    enrols: Some(CredentialKind::Passkey),
    from_typed_id: true,
};

/// How long a ceremony may take.
pub const CHALLENGE_TTL: i64 = 300;
/// The largest credential JSON accepted from the page.
const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// A login ceremony in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    auth: DiscoverableAuthentication,
    /// The request options handed to the page.
    options: Value,
    challenge: String,
    expires_at: i64,
    /// The account the passkey must belong to (typed ID number, or an earlier step's account).
    expected_account: Option<String>,
}

impl LoginState {
    pub fn ceremony(&self) -> Ceremony {
        Ceremony {
            options: self.options.clone(),
            expires_at: self.expires_at,
            connect_to: Vec::new(),
        }
    }
}

/// An enrolment ceremony in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolState {
    registration: PasskeyRegistration,
    challenge: String,
    expires_at: i64,
}

/// The relying party: `server.public_url`.
fn relying_party(ctx: &Ctx<'_>) -> Result<Webauthn, Refusal> {
    let build = || -> Result<Webauthn, WebauthnError> {
        let origin =
            Url::parse(&ctx.config.server.public_url).map_err(|_| WebauthnError::Configuration)?;
        let rp_id = origin
            .host_str()
            .ok_or(WebauthnError::Configuration)?
            .to_string();
        WebauthnBuilder::new(&rp_id, &origin)?
            .rp_name(&rp_id)
            .timeout(Duration::from_secs(CHALLENGE_TTL as u64))
            .build()
    };
    build().map_err(|e| {
        tracing::error!(error = %e, "passkeys need server.public_url with a domain name");
        Refusal::unavailable("passkey_misconfigured")
    })
}

/// `server.public_url` must be able to be a WebAuthn relying party: a domain name, not an IP
/// address.
pub fn check_config(config: &crate::config::Config) -> Result<(), String> {
    let public_url = &config.server.public_url;
    let usable = Url::parse(public_url)
        .ok()
        .and_then(|origin| {
            let host = origin.host_str()?.to_string();
            WebauthnBuilder::new(&host, &origin).ok()?.build().ok()
        })
        .is_some();
    if usable {
        Ok(())
    } else {
        Err(format!(
            "login.methods has passkey, but WebAuthn needs server.public_url with a domain name, \
             not an IP address ({public_url}): use e.g. http://localhost:8080 in development, \
             or remove passkey"
        ))
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn refuse(kind: RefusalKind, key: &'static str, reason: &'static str) -> Refusal {
    Refusal::new(kind, Message::new(key), reason)
}

fn challenge_of(options: &Value) -> String {
    options["publicKey"]["challenge"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Marks a challenge answered; `false` if it was answered before (a replay).
async fn answer_once(ctx: &Ctx<'_>, challenge: &str) -> Result<bool, Refusal> {
    ctx.store
        .put_if_absent(
            &format!("passkey_challenge:{challenge}"),
            b"1",
            Duration::from_secs(CHALLENGE_TTL as u64 + 60),
        )
        .await
        .map_err(|_| Refusal::unavailable("store_unavailable"))
}

/// The page's answer to a ceremony, parsed, if it came in time and is the first answer to its
/// challenge.
async fn accept_answer<T: serde::de::DeserializeOwned>(
    ctx: &Ctx<'_>,
    input: &Params,
    challenge: &str,
    expires_at: i64,
) -> Result<T, Refusal> {
    let json = posted_credential(input)?;
    if ctx.clock.unix() >= expires_at {
        return Err(refuse(
            RefusalKind::Invalid,
            "err_passkey_expired",
            "expired",
        ));
    }
    let answer = serde_json::from_str(json)
        .map_err(|_| refuse(RefusalKind::Invalid, "err_passkey_malformed", "malformed"))?;
    if !answer_once(ctx, challenge).await? {
        return Err(refuse(
            RefusalKind::Unauthorized,
            "err_passkey_challenge",
            "replayed",
        ));
    }
    Ok(answer)
}

/// The page's answer: the credential JSON, or the browser's error name.
fn posted_credential(input: &Params) -> Result<&str, Refusal> {
    match (input.get("credential"), input.get("error")) {
        (Some(c), _) if c.len() <= MAX_CREDENTIAL_BYTES => Ok(c),
        (Some(_), _) => Err(refuse(
            RefusalKind::Invalid,
            "err_passkey_malformed",
            "malformed",
        )),
        // NotAllowedError: cancelled, timed out, or no passkey for this site on the device.
        (None, Some(_)) => Err(refuse(
            RefusalKind::Invalid,
            "err_passkey_cancelled",
            "cancelled",
        )),
        (None, None) => Err(refuse(
            RefusalKind::Invalid,
            "err_passkey_malformed",
            "missing",
        )),
    }
}

/// How a refused WebAuthn verification is told and audited.
fn verification_refusal(e: &WebauthnError) -> Refusal {
    let (key, reason) = match e {
        WebauthnError::CredentialPossibleCompromise => {
            ("err_passkey_sign_count", "sign_count_regression")
        }
        WebauthnError::InvalidRPOrigin
        | WebauthnError::CredentialCrossOrigin
        | WebauthnError::InvalidRPIDHash => ("err_passkey_origin", "wrong_origin"),
        WebauthnError::MismatchedChallenge => ("err_passkey_challenge", "wrong_challenge"),
        WebauthnError::InvalidClientDataType => ("err_passkey_malformed", "wrong_type"),
        _ => ("err_passkey_invalid", "invalid_assertion"),
    };
    refuse(RefusalKind::Unauthorized, key, reason)
}

/// The account a login ceremony is for, if known: an earlier step's, or the ID number typed
/// on the login page (an unknown number is not revealed: the ceremony just lists nothing).
async fn expected_account(
    ctx: &Ctx<'_>,
    so_far: Option<&Evidence>,
    input: &Params,
) -> Option<String> {
    if let Some(id) = so_far.and_then(Evidence::account_id) {
        return Some(id.to_string());
    }
    let id_number = IdNumber::parse(input.get("username")?).ok()?;
    let account = ctx
        .db
        .find_account_by_id_number(id_number.as_str())
        .await
        .ok()??;
    Some(account.id)
}

/// A fresh login ceremony.
pub async fn start(ctx: &Ctx<'_>, so_far: Option<&Evidence>, input: &Params) -> Outcome {
    let expected = expected_account(ctx, so_far, input).await;
    match ceremony(ctx, expected).await {
        Ok(state) => {
            let prompt = Prompt::Ceremony(state.ceremony());
            Outcome::Prompt(StepState::Passkey(state), prompt)
        }
        Err(refusal) => Outcome::Failed(refusal),
    }
}

async fn ceremony(ctx: &Ctx<'_>, expected_account: Option<String>) -> Result<LoginState, Refusal> {
    let rp = relying_party(ctx)?;
    let (request, auth) = rp.start_discoverable_authentication().map_err(|e| {
        tracing::error!(error = %e, "starting a passkey ceremony failed");
        Refusal::unavailable("passkey_unavailable")
    })?;
    let mut options =
        serde_json::to_value(&request).map_err(|_| Refusal::unavailable("passkey_unavailable"))?;
    // A button starts this ceremony, not the autofill of a field.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    if let Some(account) = &expected_account {
        let listed = ctx
            .db
            .credentials_of(account, CredentialKind::Passkey)
            .await
            .map_err(|_| Refusal::unavailable("store_unavailable"))?;
        let allow: Vec<Value> = listed
            .iter()
            .filter_map(|c| c.lookup.as_deref())
            .map(|id| serde_json::json!({ "type": "public-key", "id": id }))
            .collect();
        if !allow.is_empty() {
            options["publicKey"]["allowCredentials"] = Value::Array(allow);
        }
    }
    Ok(LoginState {
        challenge: challenge_of(&options),
        auth,
        options,
        expires_at: ctx.clock.unix() + CHALLENGE_TTL,
        expected_account,
    })
}

/// Verifies what the page posted (`credential`: the assertion as JSON, or `error`).
pub async fn submit(
    state: LoginState,
    ctx: &Ctx<'_>,
    _so_far: Option<&Evidence>,
    input: &Params,
) -> Outcome {
    let expected = state.expected_account.clone();
    match verify(state, ctx, input).await {
        Ok(evidence) => Outcome::Done(evidence),
        Err(refusal) => match ceremony(ctx, expected).await {
            Ok(fresh) => {
                let prompt = Prompt::Ceremony(fresh.ceremony());
                Outcome::Refused(StepState::Passkey(fresh), prompt, refusal)
            }
            Err(_) => Outcome::Failed(refusal),
        },
    }
}

async fn verify(state: LoginState, ctx: &Ctx<'_>, input: &Params) -> Result<Evidence, Refusal> {
    let assertion: PublicKeyCredential =
        accept_answer(ctx, input, &state.challenge, state.expires_at).await?;
    let credential_id = b64(assertion.raw_id.as_ref());
    let stored = ctx
        .db
        .find_credential(CredentialKind::Passkey, &credential_id)
        .await
        .map_err(|_| Refusal::unavailable("store_unavailable"))?
        .ok_or_else(|| {
            refuse(
                RefusalKind::Unauthorized,
                "err_passkey_unknown",
                "unknown_credential",
            )
            .credential(&credential_id)
        })?;
    let refuse_for = |key, reason| {
        refuse(RefusalKind::Unauthorized, key, reason)
            .account(Some(&stored.account_id))
            .credential(&stored.id)
    };
    if state
        .expected_account
        .as_deref()
        .is_some_and(|a| a != stored.account_id)
    {
        return Err(refuse_for(
            "err_passkey_other_account",
            "credential_of_another_account",
        ));
    }
    // The user handle is the account id; a passkey answering for someone else is refused.
    if let Some(handle) = assertion.response.user_handle.as_ref() {
        let owner = Uuid::parse_str(&stored.account_id).ok();
        if owner.map(|u| u.as_bytes().to_vec()) != Some(handle.to_vec()) {
            return Err(refuse_for(
                "err_passkey_other_account",
                "user_handle_mismatch",
            ));
        }
    }
    let mut passkey: Passkey = serde_json::from_str(&stored.data)
        .map_err(|_| Refusal::unavailable("corrupt_credential"))?;
    let rp = relying_party(ctx)?;
    let result = rp
        .finish_discoverable_authentication_v2(&assertion, state.auth, &passkey)
        .map_err(|e| {
            verification_refusal(&e)
                .account(Some(&stored.account_id))
                .credential(&stored.id)
        })?;
    if passkey.update_credential(&result) == Some(true) {
        let data = serde_json::to_string(&passkey).unwrap_or_default();
        ctx.db
            .update_credential_data(&stored.id, &data, ctx.clock.now())
            .await
            .map_err(|_| Refusal::unavailable("store_unavailable"))?;
    }
    let key = if result.backup_eligible() {
        Amr::Swk
    } else {
        Amr::Hwk
    };
    let mut amr = vec![key, Amr::User];
    if result.user_verified() {
        amr.push(Amr::Mfa);
    }
    Ok(Evidence {
        subject: super::Subject::Account(stored.account_id.clone()),
        amr,
        level: Attestation::AccountLevel,
        credential: Some(CredentialUse {
            kind: CredentialKind::Passkey,
            id: stored.id,
        }),
        phishing_resistant: true,
    })
}

/// Starts adding a passkey to `account`: creation options excluding its passkeys.
pub async fn enroll_start(
    ctx: &Ctx<'_>,
    account: &Account,
) -> Result<(EnrolState, Ceremony), Refusal> {
    let rp = relying_party(ctx)?;
    let user =
        Uuid::parse_str(&account.id).map_err(|_| Refusal::unavailable("account_id_not_uuid"))?;
    let existing = ctx
        .db
        .credentials_of(&account.id, CredentialKind::Passkey)
        .await
        .map_err(|_| Refusal::unavailable("store_unavailable"))?;
    let exclude = existing
        .iter()
        .filter_map(|c| c.lookup.as_deref())
        .filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok())
        .collect();
    let name = account
        .id_number
        .clone()
        .or_else(|| account.tax_code.clone())
        .unwrap_or_else(|| account.id.clone());
    let (creation, registration) = rp
        .start_passkey_registration(user, &name, &account.full_name, Some(exclude))
        .map_err(|e| {
            tracing::error!(error = %e, "starting a passkey registration failed");
            Refusal::unavailable("passkey_unavailable")
        })?;
    let mut options =
        serde_json::to_value(&creation).map_err(|_| Refusal::unavailable("passkey_unavailable"))?;
    // Discoverable, so that a login needs no ID number (webauthn-rs asks for "discouraged" and
    // does not check the flag when finishing).
    let selection = &mut options["publicKey"]["authenticatorSelection"];
    selection["residentKey"] = Value::from("required");
    selection["requireResidentKey"] = Value::from(true);
    let state = EnrolState {
        registration,
        challenge: challenge_of(&options),
        expires_at: ctx.clock.unix() + CHALLENGE_TTL,
    };
    let ceremony = Ceremony {
        options,
        expires_at: state.expires_at,
        connect_to: Vec::new(),
    };
    Ok((state, ceremony))
}

/// Verifies the new credential (`credential`: the attestation as JSON, or `error`).
pub async fn enroll_finish(
    state: EnrolState,
    ctx: &Ctx<'_>,
    _account: &Account,
    input: &Params,
) -> Result<NewCredential, Refusal> {
    let attestation: RegisterPublicKeyCredential =
        accept_answer(ctx, input, &state.challenge, state.expires_at).await?;
    let rp = relying_party(ctx)?;
    let passkey = rp
        .finish_passkey_registration(&attestation, &state.registration)
        .map_err(|e| verification_refusal(&e))?;
    let data = serde_json::to_string(&passkey).map_err(|_| Refusal::unavailable("serialise"))?;
    Ok(NewCredential {
        kind: CredentialKind::Passkey,
        lookup: Some(b64(passkey.cred_id())),
        data,
    })
}

#[cfg(test)]
mod tests {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

    use super::*;
    use crate::authenticators::testing::{Harness, input};
    use crate::store::CredentialRow;

    fn origin(h: &Harness) -> Url {
        Url::parse(&h.config.server.public_url).unwrap()
    }

    /// A passkey made through enrolment and stored as the profile stores it.
    async fn enrol(h: &Harness, device: &mut SoftPasskey, account: &Account) {
        let ctx = h.ctx();
        let (state, ceremony) = enroll_start(&ctx, account).await.unwrap();
        let mut options = ceremony.options;
        assert_eq!(
            options["publicKey"]["authenticatorSelection"]["residentKey"],
            "required"
        );
        // The software authenticator cannot keep resident keys; the flag is not checked back.
        options["publicKey"]["authenticatorSelection"]["residentKey"] = "discouraged".into();
        options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = false.into();
        let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
        let made = device.do_registration(origin(h), options).unwrap();
        let json = serde_json::to_string(&made).unwrap();
        let new = enroll_finish(state, &ctx, account, &input(&[("credential", &json)]))
            .await
            .unwrap();
        let row = CredentialRow {
            account_id: &account.id,
            kind: new.kind,
            lookup: new.lookup.as_deref(),
            data: &new.data,
            label: Some("test"),
        };
        h.db.add_credential(&row, h.clock.now(), None)
            .await
            .unwrap();
    }

    /// The page's answer to a ceremony: the software authenticator signs, the user handle is
    /// the account (it cannot discover credentials by itself, so they are listed for it).
    async fn answer(
        h: &Harness,
        device: &mut SoftPasskey,
        state: &LoginState,
        account: &Account,
    ) -> String {
        let mut options = state.options.clone();
        let listed =
            h.db.credentials_of(&account.id, CredentialKind::Passkey)
                .await
                .unwrap();
        options["publicKey"]["allowCredentials"] = listed
            .iter()
            .map(|c| serde_json::json!({ "type": "public-key", "id": c.lookup }))
            .collect();
        let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
        let mut assertion = device.do_authentication(origin(h), options).unwrap();
        let user = Uuid::parse_str(&account.id).unwrap();
        assertion.response.user_handle = Some(user.as_bytes().to_vec());
        serde_json::to_string(&assertion).unwrap()
    }

    fn ceremony_state(outcome: Outcome) -> LoginState {
        match outcome {
            Outcome::Prompt(StepState::Passkey(s), Prompt::Ceremony(_)) => s,
            Outcome::Refused(StepState::Passkey(s), Prompt::Ceremony(_), _) => s,
            other => panic!("expected a ceremony, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_passkey_logs_in_once_per_challenge_before_it_expires() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let account = h.account("001090012345", &[]).await;
        let mut device = SoftPasskey::new(true);
        enrol(&h, &mut device, &account).await;

        let state = ceremony_state(start(&ctx, None, &input(&[])).await);
        assert!(
            state.options["publicKey"]
                .get("allowCredentials")
                .is_none_or(|a| a == &serde_json::json!([])),
            "no ID number typed: a discoverable ceremony"
        );
        let json = answer(&h, &mut device, &state, &account).await;
        let evidence =
            match submit(state.clone(), &ctx, None, &input(&[("credential", &json)])).await {
                Outcome::Done(e) => e,
                other => panic!("{other:?}"),
            };
        assert_eq!(evidence.account_id(), Some(account.id.as_str()));
        assert_eq!(evidence.amr_strings(), ["hwk", "user", "mfa"]);
        assert!(evidence.phishing_resistant);
        assert_eq!(evidence.level, Attestation::AccountLevel);
        assert_eq!(
            evidence.credential.as_ref().map(|c| c.kind),
            Some(CredentialKind::Passkey)
        );

        // The same answer again: the challenge was used.
        let Outcome::Refused(_, _, r) =
            submit(state, &ctx, None, &input(&[("credential", &json)])).await
        else {
            panic!("a replay is refused");
        };
        assert_eq!(r.reason, "replayed");

        // A fresh ceremony, answered too late.
        let state = ceremony_state(start(&ctx, None, &input(&[])).await);
        let json = answer(&h, &mut device, &state, &account).await;
        h.advance(CHALLENGE_TTL as u64);
        let Outcome::Refused(_, Prompt::Ceremony(fresh), r) =
            submit(state, &ctx, None, &input(&[("credential", &json)])).await
        else {
            panic!("an expired challenge is refused");
        };
        assert_eq!(r.reason, "expired");
        assert!(fresh.expires_at > h.clock.unix(), "with a fresh challenge");
    }

    #[tokio::test]
    async fn unknown_cloned_and_foreign_passkeys_are_refused() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let an = h.account("001090012345", &[]).await;
        h.account("001090054321", &[]).await;
        let mut device = SoftPasskey::new(true);
        enrol(&h, &mut device, &an).await;

        // With Bình's ID number typed, An's passkey is refused.
        let state =
            ceremony_state(start(&ctx, None, &input(&[("username", "001090054321")])).await);
        let json = answer(&h, &mut device, &state, &an).await;
        let Outcome::Refused(_, _, r) =
            submit(state, &ctx, None, &input(&[("credential", &json)])).await
        else {
            panic!("refused");
        };
        assert_eq!(r.reason, "credential_of_another_account");
        assert_eq!(r.account_id.as_deref(), Some(an.id.as_str()));

        // A counter that did not grow: a cloned authenticator.
        let stored = &h
            .db
            .credentials_of(&an.id, CredentialKind::Passkey)
            .await
            .unwrap()[0];
        let mut data: Value = serde_json::from_str(&stored.data).unwrap();
        data["cred"]["counter"] = 1000.into();
        h.db.update_credential_data(&stored.id, &data.to_string(), h.clock.now())
            .await
            .unwrap();
        let state = ceremony_state(start(&ctx, None, &input(&[])).await);
        let json = answer(&h, &mut device, &state, &an).await;
        let Outcome::Refused(_, _, r) =
            submit(state, &ctx, None, &input(&[("credential", &json)])).await
        else {
            panic!("refused");
        };
        assert_eq!(
            (r.reason, r.message.key),
            ("sign_count_regression", "err_passkey_sign_count")
        );

        // Removed from the account: unknown.
        h.db.remove_credential(&an.id, &stored.id, None)
            .await
            .unwrap();
        let state = ceremony_state(start(&ctx, None, &input(&[])).await);
        let json = {
            let mut options = state.options.clone();
            options["publicKey"]["allowCredentials"] =
                serde_json::json!([{ "type": "public-key", "id": stored.lookup }]);
            let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
            serde_json::to_string(&device.do_authentication(origin(&h), options).unwrap()).unwrap()
        };
        let Outcome::Refused(_, _, r) =
            submit(state, &ctx, None, &input(&[("credential", &json)])).await
        else {
            panic!("refused");
        };
        assert_eq!(r.reason, "unknown_credential");
    }
}
