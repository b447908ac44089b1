//! Validated newtypes and rules, pure: no I/O, no framework types.

mod account;
mod id_number;

pub use account::{Account, AccountStatus, Ial, SubjectType};
pub use id_number::{IdNumber, IdNumberError};
