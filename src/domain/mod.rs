//! Validated newtypes and rules, pure: no I/O, no framework types.

mod account;
mod bhxh;
mod complaint;
mod credential;
mod email;
mod id_number;
mod names;
mod password_policy;
mod phone;
mod provinces;
mod role;
mod tax_code;
mod trust;

pub use account::{Account, AccountStatus, Ial, SubjectType};
pub use bhxh::{BhxhCode, BhxhCodeError};
pub use complaint::{Complaint, ComplaintAction, ComplaintStatus};
pub use credential::{CredentialKind, CredentialSummary};
pub use email::{Email, EmailError};
pub use id_number::{Gender, IdKind, IdNumber, IdNumberError};
pub use names::{fold_name, normalize_name, valid_name};
pub use password_policy::{PasswordError, PasswordPolicy};
pub use phone::{PhoneNumber, PhoneNumberError};
pub use provinces::{PROVINCES, province_name};
pub use role::{Role, RoleGrant};
pub use tax_code::{TaxCode, TaxCodeError};
pub use trust::TrustSet;
