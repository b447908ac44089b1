//! The names of the methods: a leaf module, so configuration can name methods without
//! depending on what they do.

use serde::{Deserialize, Serialize};

use crate::domain::SubjectType;

/// The methods: a closed set, one module each (see `authenticators`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// ID number + password ("CMT/CCCD").
    Password,
    /// A code by SMS to a verified phone of the account identified by an earlier step.
    SmsOtp,
    /// A WebAuthn passkey ("Đăng nhập bằng passkey").
    Passkey,
    /// A signature certificate on a USB token, through the local signing agent ("USB ký số").
    UsbToken,
    /// A signature by the SIM of the user's phone ("SIM ký số").
    SimSignature,
    /// A remote personal signature approved in the provider's app ("Chữ ký số cá nhân").
    RemoteSignature,
    /// An upstream OpenID provider ("Tài khoản Định danh điện tử cấp bởi Bộ Công an", VNeID).
    Federation,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Self::Password,
        Self::SmsOtp,
        Self::Passkey,
        Self::UsbToken,
        Self::SimSignature,
        Self::RemoteSignature,
        Self::Federation,
    ];

    /// The name in configuration, in URLs (`/login/{name}`), in templates (`login_{name}`,
    /// `enroll_{name}`), in the strings built from it (`login_with_{name}`,
    /// `title_login_{name}`, `login_{name}_for_id`, `credential_{name}_*`) and in the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::SmsOtp => "sms_otp",
            Self::Passkey => "passkey",
            Self::UsbToken => "usb_token",
            Self::SimSignature => "sim_signature",
            Self::RemoteSignature => "remote_signature",
            Self::Federation => "federation",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// A signature method: it checks certificates against the `[pki]` trust anchors.
    pub fn signs(self) -> bool {
        matches!(
            self,
            Self::UsbToken | Self::SimSignature | Self::RemoteSignature
        )
    }

    /// The subjects this method can register, and (citizens) upgrade to the level it proves:
    /// the seeds' table (USB token: citizens, enterprises and state officials; SIM signature:
    /// citizens and enterprises; remote signature: citizens). None for the methods that prove
    /// only an account holder.
    pub fn registers(self) -> &'static [SubjectType] {
        use SubjectType::{Agency, Citizen, Enterprise};
        match self {
            // An upstream's first login creates the account itself (`flow::federation`).
            Self::Password | Self::SmsOtp | Self::Passkey | Self::Federation => &[],
            Self::UsbToken => &[Citizen, Enterprise, Agency],
            Self::SimSignature => &[Citizen, Enterprise],
            Self::RemoteSignature => &[Citizen],
        }
    }
}
