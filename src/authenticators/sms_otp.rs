//! The SMS step of a login (amr `sms`): a code to the default verified phone of the account
//! an earlier step identified; "Chọn phương thức xác thực khác" sends it to another of the
//! account's verified phones instead. Shape: a form (the one OTP screen, [`OtpStep`]). An
//! account without a verified phone skips the step.

use super::otp::{OtpError, OtpStep, Purpose};
use super::{Amr, Attestation, Ctx, Evidence, Form, Outcome, Prompt, Refusal, StepState, Traits};
use crate::oidc::params::Params;

pub const TRAITS: Traits = Traits {
    identifies: false,
    phishing_resistant: false,
    attests: Attestation::AccountLevel,
    enrols: None,
    from_typed_id: false,
};

fn refusal(e: &OtpError, account_id: Option<&str>) -> Refusal {
    Refusal::new(e.kind(), e.message(), e.reason()).account(account_id)
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
    match OtpStep::send(ctx, Purpose::Login, Some(account_id), &phone.e164).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::RefusalKind;
    use crate::authenticators::testing::{Harness, input};

    const PHONE: &str = "+84823628899";

    #[tokio::test]
    async fn the_sms_step_after_a_password() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        assert!(
            matches!(start(&ctx, None).await, Outcome::Failed(_)),
            "it cannot come first"
        );
        let without = h.account("001090012345", &[]).await;
        let so_far = Evidence::account(&without.id, vec![Amr::Pwd]);
        assert!(matches!(start(&ctx, Some(&so_far)).await, Outcome::Skip));

        let account = h.account("001090054321", &[PHONE]).await;
        let so_far = Evidence::account(&account.id, vec![Amr::Pwd]);
        let Outcome::Prompt(StepState::SmsOtp(step), Prompt::Form(Form::OtpPage)) =
            start(&ctx, Some(&so_far)).await
        else {
            panic!("the OTP screen");
        };
        let code = h.last_code(PHONE);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        let Outcome::Refused(StepState::SmsOtp(step), _, r) =
            submit(step, &ctx, Some(&so_far), &input(&[("otp", wrong)])).await
        else {
            panic!("a wrong code is refused on the same screen");
        };
        assert_eq!((r.kind, r.reason), (RefusalKind::Invalid, "otp_wrong"));
        match submit(step.clone(), &ctx, Some(&so_far), &input(&[("otp", &code)])).await {
            Outcome::Done(e) => {
                assert_eq!(e.account_id(), Some(account.id.as_str()));
                assert_eq!(so_far.clone().then(e).amr_strings(), ["pwd", "sms", "mfa"]);
            }
            other => panic!("{other:?}"),
        }
        // The same code cannot serve twice, even from a copy of the step.
        assert!(matches!(
            submit(step, &ctx, Some(&so_far), &input(&[("otp", &code)])).await,
            Outcome::Refused(..)
        ));
    }

    #[tokio::test]
    async fn the_code_expires_and_can_go_to_another_verified_phone_only() {
        let h = Harness::new().await;
        let ctx = h.ctx();
        let account = h.account("001090012345", &[PHONE, "+84912345678"]).await;
        let so_far = Evidence::account(&account.id, vec![Amr::Pwd]);
        let Outcome::Prompt(StepState::SmsOtp(mut step), _) = start(&ctx, Some(&so_far)).await
        else {
            panic!("the OTP screen");
        };
        h.advance(61);
        assert!(matches!(
            switch_phone(&mut step, &ctx, &account.id, "no-such-phone").await,
            Err(SwitchError::UnknownPhone)
        ));
        let phones = h.db.verified_phones(&account.id).await.unwrap();
        switch_phone(&mut step, &ctx, &account.id, &phones[1].id)
            .await
            .unwrap();
        let code = h.last_code("+84912345678");
        h.advance(ctx.config.otp.ttl_seconds as u64);
        let Outcome::Refused(_, _, r) =
            submit(step, &ctx, Some(&so_far), &input(&[("otp", &code)])).await
        else {
            panic!("an expired code is refused");
        };
        assert_eq!(r.reason, "otp_expired");
    }
}
