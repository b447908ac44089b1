//! Unguessable values: codes, tokens, session ids, CSRF tokens. `rand`'s thread RNG is a
//! CSPRNG seeded from the OS. Also the keyed hash (`MacKey`) of values the server hands out and
//! checks later.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `n` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}

/// 256 random bits, base64url without padding (43 characters).
pub fn token() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// Hex SHA-256: how codes, refresh tokens and client secrets are looked up and stored.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A secret key for HMAC-SHA256 tags: values the server hands out and later checks (CSRF
/// tokens), without storing them. Its `Debug` is redacted.
pub struct MacKey([u8; 32]);

impl MacKey {
    pub fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    /// HMAC-SHA256 of `label`, a zero byte, then `data`. The label keeps the tags of different
    /// purposes apart (a tag made for one can never pass as another's).
    pub fn raw(&self, label: &str, data: &[u8]) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// [`raw`](Self::raw), base64url without padding (43 characters).
    pub fn tag(&self, label: &str, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.raw(label, data))
    }
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::MacKey;

    #[test]
    fn tags_depend_on_key_label_and_data() {
        let key = MacKey::new([7; 32]);
        let tag = key.tag("csrf", b"secret");
        assert_eq!(tag.len(), 43);
        assert_eq!(tag, key.tag("csrf", b"secret"));
        assert_ne!(tag, key.tag("csrf", b"secreT"));
        assert_ne!(tag, key.tag("other", b"secret"));
        assert_ne!(tag, MacKey::new([8; 32]).tag("csrf", b"secret"));
        // The label and the data cannot be shifted into each other.
        assert_ne!(key.tag("ab", b"c"), key.tag("a", b"bc"));
    }
}
