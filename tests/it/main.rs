//! The one integration-test binary. Each test spawns its own server on port 0 with its own
//! database: SQLite + in-memory store by default, PostgreSQL + Redis when DATABASE_URL and
//! REDIS_URL are set.

mod admin_support;
mod helpers;

mod admin;
mod admin_clients;
mod admin_clients_browser;
mod admin_hostile;
mod authorize_errors;
mod bad_input;
mod browser;
mod client_secrets;
mod code_flow;
mod complaints;
mod complaints_browser;
mod concurrent_writes;
mod config_defaults;
mod connectors;
mod counter;
mod counter_browser;
mod ephemeral_store;
mod federation;
mod federation_browser;
mod ial3_browser;
mod ial3_registration;
mod keys;
mod limits;
mod logout;
mod otp_captcha;
mod pairwise;
mod passkey;
mod passkey_browser;
mod pki;
mod portal_origin_browser;
mod production;
mod profile;
mod push_browser;
mod push_endings_browser;
mod registration;
mod remote_signature;
mod remote_signature_browser;
mod resources;
mod session_end;
mod sim_signature;
mod staff_roles;
mod theme;
mod token_endpoint;
mod upgrade;
mod upgrade_browser;
mod usb_refusals_browser;
mod usb_registration;
mod usb_registration_browser;
mod usb_token;
mod usb_token_browser;
