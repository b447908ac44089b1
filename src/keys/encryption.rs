//! Encryption at rest of private signing keys: AES-256-GCM (OpenSSL) under a key-encryption
//! key from configuration.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Associated data binds ciphertexts to their purpose.
const AAD: &[u8] = b"xacthuc signing key v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyEncryptionError {
    #[error("the key-encryption key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("a signing key could not be decrypted: wrong key-encryption key or corrupt row")]
    Decrypt,
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

pub struct KeyEncryptionKey([u8; 32]);

impl KeyEncryptionKey {
    pub fn from_base64(secret: &SecretString) -> Result<Self, KeyEncryptionError> {
        let bytes = STANDARD
            .decode(secret.expose_secret().trim())
            .map_err(|_| KeyEncryptionError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyEncryptionError::BadKey)?;
        Ok(Self(key))
    }

    /// A key for another purpose, derived from this one (HMAC-SHA256 of the purpose), so an
    /// operator keeps one secret and the derived key reveals nothing about this one.
    pub fn derive(&self, purpose: &str) -> crate::random::MacKey {
        crate::random::MacKey::new(crate::random::MacKey::new(self.0).raw(purpose, b""))
    }

    /// A fresh random key, base64-encoded (for `xacthuc key generate-kek` and development).
    pub fn generate_base64() -> SecretString {
        SecretString::from(STANDARD.encode(crate::random::bytes::<32>()))
    }

    /// Another AES key for another purpose (HMAC-SHA256 of the purpose, as [`derive`](Self::derive)).
    pub fn derive_key(&self, purpose: &str) -> KeyEncryptionKey {
        KeyEncryptionKey(crate::random::MacKey::new(self.0).raw(purpose, b""))
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, KeyEncryptionError> {
        self.seal(AAD, plaintext)
    }

    pub fn decrypt(&self, encoded: &str) -> Result<Vec<u8>, KeyEncryptionError> {
        self.open(AAD, encoded)
    }

    /// AES-256-GCM of `plaintext` bound to `aad`: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, KeyEncryptionError> {
        let nonce = crate::random::bytes::<NONCE_LEN>();
        let mut tag = [0u8; TAG_LEN];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(&nonce),
            aad,
            plaintext,
            &mut tag,
        )
        .map_err(|e| KeyEncryptionError::Encrypt(e.to_string()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, aad: &[u8], encoded: &str) -> Result<Vec<u8>, KeyEncryptionError> {
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| KeyEncryptionError::Decrypt)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(KeyEncryptionError::Decrypt);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(Cipher::aes_256_gcm(), &self.0, Some(nonce), aad, ct, tag)
            .map_err(|_| KeyEncryptionError::Decrypt)
    }
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(REDACTED)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_tamper_detection() {
        let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).unwrap();
        let sealed = kek.encrypt(b"-----BEGIN PRIVATE KEY-----").unwrap();
        assert_eq!(
            kek.decrypt(&sealed).unwrap(),
            b"-----BEGIN PRIVATE KEY-----"
        );

        let other = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).unwrap();
        assert!(
            other.decrypt(&sealed).is_err(),
            "another key must not decrypt"
        );

        let mut raw = STANDARD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(
            kek.decrypt(&STANDARD.encode(raw)).is_err(),
            "tampering must be detected"
        );
    }

    #[test]
    fn rejects_short_keys() {
        let short = SecretString::from(STANDARD.encode([0u8; 16]));
        assert!(KeyEncryptionKey::from_base64(&short).is_err());
    }
}
