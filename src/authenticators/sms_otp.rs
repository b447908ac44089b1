//! The SMS step of a login (amr `sms`): a code to the default verified phone of the account
//! an earlier step identified; "Chọn phương thức xác thực khác" sends it to another of the
//! account's verified phones instead. Shape: a form (the one OTP screen, [`OtpStep`]). An
//! account without a verified phone skips the step.

use super::otp::{OtpError, OtpStep};
use super::{
    Amr, Attestation, Ctx, Evidence, Form, Outcome, Prompt, Refusal, RefusalKind, StepState, Traits,
};
use crate::oidc::params::Params;

pub const TRAITS: Traits = Traits {
    identifies: false,
    phishing_resistant: false,
    attests: Attestation::AccountLevel,
    enrols: None,
};

fn refusal(e: &OtpError, account_id: Option<&str>) -> Refusal {
    let kind = match e {
        OtpError::Sms(_) | OtpError::Store(_) => RefusalKind::Unavailable,
        OtpError::Cooldown { .. } | OtpError::HourlyCap => RefusalKind::Limited,
        OtpError::Expired | OtpError::Wrong { .. } | OtpError::Exhausted | OtpError::Format => {
            RefusalKind::Invalid
        }
    };
    Refusal::new(kind, e.message(), e.reason()).account(account_id)
}

/// Sends the first code to the account's default verified phone.
pub async fn start(ctx: &Ctx<'_>, so_far: Option<&Evidence>) -> Outcome {
    let Some(account_id) = so_far.and_then(Evidence::account_id) else {
        // Configuration forbids this (the SMS step cannot come first); refuse rather than guess.
        return Outcome::Failed(Refusal::invalid(
            "err_flow_expired",
            "no_account_identified",
        ));
    };
    let phone = match ctx.db.verified_phones(account_id).await {
        Ok(phones) => phones.into_iter().next(),
        Err(e) => {
            tracing::error!(error = %e, "reading phones failed");
            return Outcome::Failed(Refusal::unavailable("store_unavailable"));
        }
    };
    let Some(phone) = phone else {
        return Outcome::Skip;
    };
    match OtpStep::send(ctx, &phone.e164).await {
        Ok(step) => Outcome::Prompt(StepState::SmsOtp(step), Prompt::Form(Form::OtpPage)),
        Err(e) => Outcome::Failed(refusal(&e, Some(account_id))),
    }
}

/// Checks the typed code (`otp`).
pub async fn submit(
    mut step: OtpStep,
    ctx: &Ctx<'_>,
    so_far: Option<&Evidence>,
    input: &Params,
) -> Outcome {
    let account_id = so_far.and_then(Evidence::account_id);
    match step.check(ctx, input.get("otp")).await {
        Ok(()) => match account_id {
            Some(id) => Outcome::Done(Evidence::account(id, vec![Amr::Sms])),
            None => Outcome::Failed(Refusal::invalid(
                "err_flow_expired",
                "no_account_identified",
            )),
        },
        Err(e) => {
            let refusal = refusal(&e, account_id);
            Outcome::Refused(
                StepState::SmsOtp(step),
                Prompt::Form(Form::OtpPage),
                refusal,
            )
        }
    }
}

/// "Chọn phương thức xác thực khác": the code goes to another verified phone of the account.
pub async fn switch_phone(
    step: &mut OtpStep,
    ctx: &Ctx<'_>,
    account_id: &str,
    phone_id: &str,
) -> Result<(), SwitchError> {
    let phone = ctx
        .db
        .verified_phones(account_id)
        .await?
        .into_iter()
        .find(|p| p.id == phone_id)
        .ok_or(SwitchError::UnknownPhone)?;
    step.send_to(ctx, &phone.e164)
        .await
        .map_err(SwitchError::Otp)
}

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("not a verified phone of this account")]
    UnknownPhone,
    #[error(transparent)]
    Otp(OtpError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
