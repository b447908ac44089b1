//! Subject identifiers (OIDC Core §8): the one place that says what `sub` a client sees.
//!
//! A `public` client sees the account id. A `pairwise` client sees
//! base64url(SHA-256(sector ‖ 0 ‖ account id ‖ 0 ‖ salt)), where the sector is the host of its
//! `sector_identifier_uri`, or else of its redirect URIs (§8.1), and the salt is derived from the
//! key-encryption key. Nothing is stored per account: **changing the key-encryption key changes
//! every pairwise `sub`**, and every pairwise portal would then see its citizens as new people.
//! (The zero bytes keep the parts apart, so no two different inputs make the same string.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::client::{Client, SubjectIdentifierType, is_loopback};
use crate::keys::{KeyEncryptionError, KeyEncryptionKey};

/// Associated data of a sealed account id, so it cannot pass for anything else.
const ACCOUNT_AAD: &[u8] = b"xacthuc access token account v1";

/// The claim of an access token that carries its account id, sealed, when `sub` is pairwise:
/// userinfo needs the account, and the portal, who can read the token, must not learn it.
pub const SEALED_ACCOUNT_CLAIM: &str = "xacthuc_account";

/// The largest sector identifier document we read.
const MAX_SECTOR_DOCUMENT: usize = 64 * 1024;

/// The per-deployment secrets behind pairwise subjects, derived from the key-encryption key
/// (every node computes the same).
pub struct SubjectKeys {
    salt: [u8; 32],
    seal: KeyEncryptionKey,
}

impl SubjectKeys {
    pub fn derive(kek: &KeyEncryptionKey) -> Self {
        Self {
            salt: kek.derive("xacthuc pairwise salt v1").raw("salt", b""),
            seal: kek.derive_key("xacthuc access token account v1"),
        }
    }

    /// The account id, encrypted for ourselves (AES-256-GCM).
    pub fn seal_account(&self, account_id: &str) -> Result<String, KeyEncryptionError> {
        self.seal.seal(ACCOUNT_AAD, account_id.as_bytes())
    }

    /// The account id of a value from [`seal_account`](Self::seal_account); `None` if it was
    /// not made by this deployment.
    pub fn open_account(&self, sealed: &str) -> Option<String> {
        let bytes = self.seal.open(ACCOUNT_AAD, sealed).ok()?;
        String::from_utf8(bytes).ok()
    }
}

impl std::fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKeys(redacted)")
    }
}

/// The `sub` that `client` sees for `account_id`.
pub fn for_client(client: &Client, account_id: &str, keys: &SubjectKeys) -> String {
    match client.subject_type {
        SubjectIdentifierType::Public => account_id.to_string(),
        SubjectIdentifierType::Pairwise => {
            // Registration refuses a pairwise client without a sector; a row that lost it
            // still gets a value of its own rather than the account id.
            let sector = sector(client).unwrap_or_else(|| format!("client:{}", client.client_id));
            pairwise(&sector, account_id, keys)
        }
    }
}

fn pairwise(sector: &str, account_id: &str, keys: &SubjectKeys) -> String {
    let mut h = Sha256::new();
    h.update(sector.as_bytes());
    h.update([0]);
    h.update(account_id.as_bytes());
    h.update([0]);
    h.update(keys.salt);
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The client's sector (§8.1): the host of its `sector_identifier_uri`, else the one host of
/// its redirect URIs; `None` when there is no such host.
pub fn sector(client: &Client) -> Option<String> {
    if let Some(uri) = &client.sector_identifier_uri {
        return host_of(uri);
    }
    let mut hosts = client.redirect_uris.iter().map(|u| host_of(u));
    let first = hosts.next()??;
    hosts
        .all(|h| h.as_deref() == Some(first.as_str()))
        .then_some(first)
}

fn host_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    url.host_str().map(|h| h.to_ascii_lowercase())
}

/// The rules a registration meets without fetching anything: a sector identifier only for a
/// pairwise client, https; a pairwise client without one has its redirect URIs on one host.
pub fn check_registration(client: &Client) -> Result<(), String> {
    if let Some(uri) = &client.sector_identifier_uri {
        if client.subject_type != SubjectIdentifierType::Pairwise {
            return Err("a sector_identifier_uri is only for a pairwise client".into());
        }
        let url = url::Url::parse(uri).map_err(|e| format!("{uri}: {e}"))?;
        // As for redirect URIs, plain http only to this machine (development and tests).
        let allowed = match url.scheme() {
            "https" => url.has_host(),
            "http" => is_loopback(&url),
            _ => false,
        };
        if !allowed {
            return Err(format!(
                "{uri}: a sector_identifier_uri must be https (plain http only to 127.0.0.1, [::1] or localhost)"
            ));
        }
    }
    if client.subject_type == SubjectIdentifierType::Pairwise && sector(client).is_none() {
        return Err(
            "a pairwise client whose redirect URIs are not all on one host needs a \
             sector_identifier_uri listing them (OIDC Core 8.1)"
                .into(),
        );
    }
    Ok(())
}

/// OIDC Core §8.1: the document at the client's `sector_identifier_uri` is a JSON array of
/// URIs that holds every redirect URI of the client. `Ok` for a client without one.
pub async fn check_sector_identifier(
    http: &reqwest::Client,
    client: &Client,
) -> Result<(), String> {
    let Some(uri) = &client.sector_identifier_uri else {
        return Ok(());
    };
    let resp = http
        .get(uri)
        .send()
        .await
        .map_err(|e| format!("{uri}: the sector identifier could not be fetched: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "{uri}: the sector identifier could not be fetched: HTTP {}",
            resp.status()
        ));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("{uri}: the sector identifier could not be read: {e}"))?;
    if body.len() > MAX_SECTOR_DOCUMENT {
        return Err(format!(
            "{uri}: the sector identifier is larger than 64 KiB"
        ));
    }
    let listed: Vec<String> = serde_json::from_slice(&body)
        .map_err(|_| format!("{uri}: the sector identifier is not a JSON array of URIs"))?;
    let missing: Vec<&str> = client
        .redirect_uris
        .iter()
        .filter(|r| !listed.contains(r))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{uri}: the sector identifier does not list the redirect URI(s) {}",
            missing.join(", ")
        ));
    }
    Ok(())
}
