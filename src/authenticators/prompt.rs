//! What a step asks of the browser next. Every method fits one of five shapes; `http/` knows
//! how to show each shape, so a new method brings a template, not a handler.

use serde_json::Value;

/// The five shapes of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// A form to fill in (password, OTP, "choose another phone").
    Form(Form),
    /// A server challenge handed to something on the user's side, which returns it signed
    /// (WebAuthn; the local signing agent of a USB token).
    Ceremony(Ceremony),
    /// A push is outstanding (SIM signature, remote signature): the page shows a code and a
    /// countdown and polls until it is done, expired or refused.
    Pending(Pending),
    /// Leave for an upstream identity provider and come back on the method's callback (VNeID).
    Redirect(Redirect),
    /// An officer acts for a citizen (counter); the citizen finishes on their own phone.
    Assisted(Assisted),
}

/// Which form.
#[derive(Debug, Clone, PartialEq)]
pub enum Form {
    /// The login page's ID number + password form.
    LoginPage,
    /// The one OTP screen (masked phone, resend, other phone).
    OtpPage,
    /// The method's own page (`login_{method}` in the theme) with these values.
    MethodPage(Value),
}

/// A challenge for the page to hand over.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceremony {
    /// What the page's script passes on (e.g. WebAuthn request options), as JSON.
    pub options: Value,
    /// Unix seconds after which the answer is refused.
    pub expires_at: i64,
    /// Origins the page's script may fetch from besides ours (the local signing agent): added
    /// to this page's CSP `connect-src`.
    pub connect_to: Vec<String>,
}

/// An outstanding push.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Shown on the page and on the phone, so the user can tell the two belong together.
    pub display_code: String,
    pub expires_at: i64,
    /// How often the page asks again.
    pub poll_every_ms: u32,
}

/// A trip to an upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    pub url: String,
}

/// Work an officer started for a citizen.
#[derive(Debug, Clone, PartialEq)]
pub struct Assisted {
    /// The masked phone the citizen's one-time link went to.
    pub sent_to: String,
    pub expires_at: i64,
}
