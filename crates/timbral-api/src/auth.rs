//! Signed listener tokens for the stateful routes (`POST /feedback`,
//! `GET /profile`, `POST /recs` without a history): who the listener is
//! comes from the token alone, never from the request, so no request can
//! name another listener's profile.
//!
//! A token is `base64url(claims JSON) "." base64url(HMAC-SHA256(secret,
//! first part))`, the claims `{"sub": listener, "exp": unix seconds}`: the
//! shape of a JWT's payload and signature without its header, since there
//! is one algorithm. The secret is the Worker's `TOKEN_SECRET`; whoever
//! signs listeners in (the app's back end) holds the same secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Reply;

/// What a token says: the listener and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The listener: their profile's key.
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// The shortest secret accepted, in bytes (HMAC-SHA256's block security
/// wants at least the hash's 32).
pub const MIN_SECRET: usize = 32;
/// The longest listener id, in bytes (it names a KV key and an object;
/// only visible ASCII is accepted).
pub const MAX_SUB: usize = 200;

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// A token for `claims`, signed with `secret`.
pub fn sign(secret: &[u8], claims: &Claims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{payload}.{sig}")
}

fn unauthorized(why: &str) -> Reply {
    Reply::error(401, format!("unauthorized: {why}"))
}

/// The listener an `Authorization: Bearer <token>` header names, if its
/// signature is `secret`'s and it has not expired at `now` (Unix
/// seconds); 401 naming why otherwise. The signature is checked in
/// constant time before anything in the claims is read.
pub fn verify(authorization: Option<&str>, secret: &[u8], now: u64) -> Result<Claims, Reply> {
    if secret.len() < MIN_SECRET {
        return Err(Reply::error(
            500,
            format!(
                "the token secret is {} bytes; it must be at least {MIN_SECRET}",
                secret.len()
            ),
        ));
    }
    let Some(header) = authorization else {
        return Err(unauthorized("no Authorization header (Bearer token)"));
    };
    let Some(token) = header.trim().strip_prefix("Bearer ").map(str::trim) else {
        return Err(unauthorized(
            "the Authorization header is not `Bearer <token>`",
        ));
    };
    let Some((payload, sig)) = token.split_once('.') else {
        return Err(unauthorized("the token is not `claims.signature`"));
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return Err(unauthorized("the token's signature is not base64url"));
    };
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    if m.verify_slice(&sig).is_err() {
        return Err(unauthorized("the token's signature does not match"));
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| unauthorized("the token's claims are not {\"sub\", \"exp\"}"))?;
    // Visible ASCII: it becomes a KV key, an object's name and a header.
    if claims.sub.is_empty()
        || claims.sub.len() > MAX_SUB
        || !claims.sub.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(unauthorized(
            "the token's subject must be 1 to 200 visible ASCII characters",
        ));
    }
    if claims.exp <= now {
        return Err(unauthorized("the token has expired"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn token(sub: &str, exp: u64) -> String {
        sign(
            SECRET,
            &Claims {
                sub: sub.into(),
                exp,
            },
        )
    }

    fn check(header: &str) -> Result<Claims, Reply> {
        verify(Some(header), SECRET, 1_000)
    }

    #[test]
    fn a_signed_token_names_its_listener_until_it_expires() {
        let t = token("ana", 2_000);
        assert_eq!(check(&format!("Bearer {t}")).unwrap().sub, "ana");
        let late = verify(Some(&format!("Bearer {t}")), SECRET, 2_000).unwrap_err();
        assert_eq!(late.status, 401);
        assert!(late.body.contains("expired"), "{}", late.body);
    }

    #[test]
    fn forged_missing_and_malformed_tokens_are_401_naming_why() {
        let t = token("ana", 2_000);
        let (payload, sig) = t.split_once('.').unwrap();
        // Another listener's claims under ana's signature.
        let bob = URL_SAFE_NO_PAD.encode(br#"{"sub":"bob","exp":2000}"#);
        // Signed with another secret.
        let other = sign(
            b"another secret, also thirty-two bytes!",
            &Claims {
                sub: "ana".into(),
                exp: 2_000,
            },
        );
        for (header, why) in [
            (format!("Bearer {bob}.{sig}"), "does not match"),
            (format!("Bearer {other}"), "does not match"),
            (
                format!("Bearer {payload}.{}x", &sig[..sig.len() - 1]),
                "signature",
            ),
            (format!("Bearer {payload}"), "not `claims.signature`"),
            (format!("Basic {t}"), "not `Bearer"),
            ("Bearer .".to_string(), "does not match"),
        ] {
            let r = check(&header).unwrap_err();
            assert_eq!(r.status, 401, "{header}");
            assert!(r.body.contains(why), "{header}: {}", r.body);
        }
        let none = verify(None, SECRET, 1_000).unwrap_err();
        assert_eq!(none.status, 401);
        assert!(none.body.contains("no Authorization"), "{}", none.body);
        // Well signed, but not our claims.
        let mut m = mac(SECRET);
        let odd = URL_SAFE_NO_PAD.encode(br#"{"user":"ana"}"#);
        m.update(odd.as_bytes());
        let odd = format!(
            "{odd}.{}",
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        );
        assert!(check(&format!("Bearer {odd}"))
            .unwrap_err()
            .body
            .contains("claims"));
    }

    #[test]
    fn a_subject_that_cannot_name_a_key_is_refused() {
        for sub in ["", "ana bob", "ana\nx", "ané", &"x".repeat(MAX_SUB + 1)] {
            let r = check(&format!("Bearer {}", token(sub, 2_000))).unwrap_err();
            assert_eq!(r.status, 401, "{sub:?}");
            assert!(r.body.contains("visible ASCII"), "{}", r.body);
        }
        assert!(check(&format!("Bearer {}", token("user:42@example.org", 2_000))).is_ok());
    }

    #[test]
    fn a_short_secret_is_a_server_error_not_a_weak_check() {
        let r = verify(Some("Bearer x.y"), b"short", 0).unwrap_err();
        assert_eq!(r.status, 500);
    }
}
