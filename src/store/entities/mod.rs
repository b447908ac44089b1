//! sea-orm entities, one per table of the `migrations` crate.

pub mod account;
pub mod account_level;
pub mod account_role;
pub mod audit_event;
pub mod client;
pub mod complaint;
pub mod consent;
pub mod counter_link;
pub mod credential;
pub mod phone;
pub mod refresh_token;
pub mod signing_key;
pub mod trust_anchor;
