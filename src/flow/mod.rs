//! The flow engine: a login, registration, recovery, re-authentication or profile change is a
//! sequence of steps whose state lives in the ephemeral store, so a flow started on one node can finish on
//! another. The browser holds a 256-bit secret in a cookie (one cookie per kind); the store key
//! is its SHA-256.
//!
//! - `login`: the chain of authenticator steps of a login method, and the one completion of
//!   every login;
//! - `registration`: the one account-creation path, and the citizen registration journey;
//! - `recovery`: "Quên mật khẩu";
//! - `reauth`: re-authentication in "Thông tin cá nhân", which every change of a credential or
//!   a contact needs;
//! - `phone`: adding (verified by an SMS code), removing and choosing the default phone;
//! - `email`: the email address, verified by a code sent to it;
//! - `password_change`: "Đổi mật khẩu";
//! - `enrolment`: adding a credential (a passkey) in "Thông tin cá nhân";
//! - `notify`: SMS notices of those changes to the account's phones;
//! - `signature_registration`: registration at IAL3 by a signature certificate (citizens,
//!   enterprises, state officials), after a chain of steps run for `Purpose::Register`;
//! - `complaints`: complaints about an ID number registered by someone else, and the
//!   officers' lock, rejection and transfer of the disputed account;
//! - `counter`: an officer's registration and assisted password reset at a service counter,
//!   finished by the citizen on their phone through a one-time link;
//! - `upgrade`: IAL2 → IAL3 by the account holder's own signature certificate, after a chain
//!   run for `Purpose::Upgrade`.

pub mod complaints;
pub mod counter;
pub mod email;
pub mod enrolment;
pub mod federation;
pub mod login;
pub mod notify;
pub mod password_change;
pub mod phone;
pub mod reauth;
pub mod recovery;
pub mod registration;
pub mod signature_registration;
pub mod upgrade;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::authenticators::otp::OtpStep;
use crate::random;
use crate::store::ephemeral::{EphemeralError, EphemeralStore};

pub const FLOW_COOKIE: &str = "xacthuc_flow";
/// How long a user may take over one flow.
pub const TTL: Duration = Duration::from_secs(1800);

fn key(kind: &str, secret: &str) -> String {
    format!("flow:{kind}:{}", random::sha256_hex(secret))
}

/// The flow state types, each with its kind (its store key prefix and cookie name).
pub trait FlowState: Serialize + DeserializeOwned {
    const KIND: &'static str;
}

/// Flows with an OTP step: the one OTP screen serves them all (`http::otp`).
pub trait WithOtp: FlowState {
    /// The OTP step, when the flow is at it.
    fn otp(&self) -> Option<&OtpStep>;
    fn otp_mut(&mut self) -> Option<&mut OtpStep>;
    /// The account whose SSO session alone may answer (flows started in "Thông tin cá nhân").
    fn owner(&self) -> Option<&str> {
        None
    }
}

/// Starts a flow; returns the cookie secret.
pub async fn start<S: FlowState>(
    store: &dyn EphemeralStore,
    state: &S,
) -> Result<String, EphemeralError> {
    let secret = random::token();
    save(store, &secret, state).await?;
    Ok(secret)
}

pub async fn save<S: FlowState>(
    store: &dyn EphemeralStore,
    secret: &str,
    state: &S,
) -> Result<(), EphemeralError> {
    let bytes =
        serde_json::to_vec(state).map_err(|e| EphemeralError::Unavailable(e.to_string()))?;
    store.put(&key(S::KIND, secret), &bytes, TTL).await
}

/// The flow's state, or `None` when unknown or expired (the user starts again).
pub async fn load<S: FlowState>(
    store: &dyn EphemeralStore,
    secret: &str,
) -> Result<Option<S>, EphemeralError> {
    Ok(store
        .get(&key(S::KIND, secret))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Ends the flow; its state can no longer be used (single completion: of two concurrent
/// completions, exactly one gets `true`).
pub async fn finish<S: FlowState>(
    store: &dyn EphemeralStore,
    secret: &str,
) -> Result<bool, EphemeralError> {
    Ok(store.take(&key(S::KIND, secret)).await?.is_some())
}
