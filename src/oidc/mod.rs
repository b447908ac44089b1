//! Protocol rules, no axum and no SQL: authorize checks, grants (one file per grant type),
//! client authentication, claims, acr policy, tokens, sessions, logout.

pub mod acr;
pub mod authorize;
pub mod claims;
pub mod client;
pub mod client_auth;
pub mod client_cache;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod interaction;
pub mod jwks_uri;
pub mod logout;
pub mod params;
pub mod revocation;
pub mod session;
pub mod subject;
pub mod tokens;
pub mod userinfo;
