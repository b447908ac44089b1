//! xacthuc — an OpenID Connect identity provider for Vietnam's public-service portals.
//!
//! Module map (ARCHITECTURE.md has the picture and the invariants):
//! - `config`, `clock`, `random`: typed configuration; the one source of "now"; unguessable values.
//! - `hashing`: Argon2id on a bounded pool of workers (memory bounded, "busy" when full).
//! - `limits`: per-IP ceilings on anonymous work (authorize, registration, recovery).
//! - `domain`: validated newtypes and rules, pure.
//! - `oidc`: protocol rules — authorize checks, grants, client auth, claims, acr, tokens, logout.
//! - `authenticators`: one module per login/registration method.
//! - `connectors`: clients of external systems (carrier, SMS gateway, BHXH, mail gateway), a trait
//!   each.
//! - `keys`: signing keys — generation, encryption at rest, rotation, JWKS.
//! - `stamps`: change stamps in the shared store, so keys and trust anchors reach every node.
//! - `store`: the database (sea-orm) and the ephemeral store (memory / Redis).
//! - `http`: the only place axum appears (besides the sandbox's own small app).
//! - `sandbox`: simulators of external systems and the demo portal.
//! - `admin`: the admin area's rules — who may do what, who is acting, how changes are audited.
//! - `resident`: hands back the memory only start-up used, once the server is up.
//! - `app`: wiring; the only module that knows every other.

pub mod admin;
pub mod app;
pub mod audit;
pub mod authenticators;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod domain;
pub mod flow;
pub mod hashing;
pub mod http;
pub mod keys;
pub mod limits;
pub mod message;
pub mod metrics;
pub mod oidc;
pub mod pki;
pub mod random;
pub mod resident;
pub mod sandbox;
pub mod stamps;
pub mod store;
pub mod telemetry;
