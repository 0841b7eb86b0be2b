//! Signed, expiring upload tokens (PROTOCOL.md §3.3): what a `musubi_upload:<ref>` join must
//! present.
//!
//! A token is `base64url(payload) + "." + base64url(mac)` (no padding), where `payload` is the
//! JSON of [`Claims`] and `mac` is HMAC-SHA256 of the payload bytes under the server's random
//! secret ([`Signer::random`], one per server). Verification checks the MAC in constant time
//! (`hmac`'s `verify_slice`) before it reads the payload, then the age: a token older than
//! [`MAX_AGE`] is refused. The caller passes the time in (milliseconds since the Unix epoch), so
//! expiry is tested without waiting.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Tokens older than this are refused.
pub const MAX_AGE: Duration = Duration::from_secs(600);

type HmacSha256 = Hmac<Sha256>;

/// Which page an entry belongs to (the page key's parts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PageName {
    /// The root store's module.
    pub module: String,
    /// The client's plain root id.
    pub root_id: String,
    /// The page's params key.
    pub params: String,
}

/// What a token says about the entry it admits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The owning page.
    pub page: PageName,
    /// The declaring store.
    pub store_id: Vec<String>,
    /// The upload's name.
    pub upload: String,
    /// The entry's ref (must equal the topic's).
    pub entry_ref: String,
    /// The upload's max file size.
    pub max_file_size: u64,
    /// The size the client announced.
    pub client_size: u64,
    /// The upload's chunk size.
    pub chunk_size: u64,
    /// The server's chunk timeout, in milliseconds.
    pub chunk_timeout_ms: u64,
    /// When the token was issued, in milliseconds since the Unix epoch.
    pub issued_at_ms: u64,
}

/// Why a token was refused (the join reply is `unauthorized` in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not two base64url parts, or a payload that is not claims.
    Malformed,
    /// The MAC does not match (forged or signed by another server).
    Forged,
    /// Older than [`MAX_AGE`].
    Expired,
}

/// Signs and verifies tokens with one secret.
pub struct Signer {
    /// As long as SHA-256's block, so it is HMAC's key as is.
    secret: [u8; 64],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer with a fresh random secret.
    pub fn random() -> Self {
        Signer { secret: rand::random() }
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new(GenericArray::from_slice(&self.secret))
    }

    /// The token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        // Plain strings and numbers: serializing cannot fail.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The claims of a genuine token issued at most [`MAX_AGE`] before `now_ms`.
    pub fn verify(&self, token: &str, now_ms: u64) -> Result<Claims, TokenError> {
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| TokenError::Forged)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        let max_age = u64::try_from(MAX_AGE.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(claims.issued_at_ms) > max_age {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const ISSUED: u64 = 1_700_000_000_000;

    fn claims() -> Claims {
        Claims {
            page: PageName { module: "Demo.ProfileStore".into(), root_id: "p".into(), params: String::new() },
            store_id: vec![],
            upload: "avatar".into(),
            entry_ref: "u_AAAAAAAAAAA".into(),
            max_file_size: 5_000_000,
            client_size: 100,
            chunk_size: 64_000,
            chunk_timeout_ms: 10_000,
            issued_at_ms: ISSUED,
        }
    }

    #[test]
    fn a_token_round_trips_until_it_expires() {
        let signer = Signer::random();
        let token = signer.sign(&claims());
        assert_eq!(token.matches('.').count(), 1);
        assert_eq!(signer.verify(&token, ISSUED).unwrap(), claims());
        assert_eq!(signer.verify(&token, ISSUED + 600_000).unwrap(), claims());
        assert_eq!(signer.verify(&token, ISSUED + 600_001), Err(TokenError::Expired));
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let signer = Signer::random();
        let token = signer.sign(&claims());
        assert_eq!(Signer::random().verify(&token, ISSUED), Err(TokenError::Forged));
        let (payload, tag) = token.split_once('.').unwrap();
        // Another payload under the original MAC (e.g. a larger max_file_size).
        let mut bigger = claims();
        bigger.max_file_size = u64::MAX;
        let other_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&bigger).unwrap());
        assert_eq!(signer.verify(&format!("{other_payload}.{tag}"), ISSUED), Err(TokenError::Forged));
        assert_eq!(signer.verify(&format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])), ISSUED), Err(TokenError::Forged));
        assert_eq!(signer.verify(payload, ISSUED), Err(TokenError::Malformed));
        assert_eq!(signer.verify("a.b.c", ISSUED), Err(TokenError::Malformed));
        assert_eq!(signer.verify("", ISSUED), Err(TokenError::Malformed));
    }
}
