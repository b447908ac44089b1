//! Authentication methods, one module each. Issue 3 adds the OTP and registration methods.

pub mod captcha;
pub mod otp;
pub mod password;
