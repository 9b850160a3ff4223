//! API tokens: `weir_<id>_<secret>`, where `id` (12 hex digits) names the
//! token in lists, the audit log and `weir token revoke`, and `secret` is
//! 32 random bytes in hex. Only the SHA-256 of the whole token is stored;
//! a presented token is found by its id and its hash compared in constant
//! time. The secret is random (256 bits), so a fast hash is enough: there
//! is nothing to guess that a slow hash would protect.

use sha2::Digest;

/// The prefix of every API token (ingest device tokens have none).
pub const PREFIX: &str = "weir_";

/// A new token: (id, the token to hand out once).
pub fn generate() -> std::io::Result<(String, String)> {
    let mut bytes = [0u8; 38];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(format!("random: {e}")))?;
    let id = hex(&bytes[..6]);
    let token = format!("{PREFIX}{id}_{}", hex(&bytes[6..]));
    Ok((id, token))
}

/// The id of a presented token, if it has the shape of one.
pub fn id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_digits(id, 12) && hex_digits(secret, 64)).then_some(id)
}

/// The SHA-256 of a token, lowercase hex (what `api_tokens` stores).
pub fn hash(token: &str) -> String {
    hex(&sha2::Sha256::digest(token.as_bytes()))
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_id_and_differ_each_time() -> std::io::Result<()> {
        let (id, token) = generate()?;
        let (other_id, other) = generate()?;
        assert_ne!(token, other);
        assert_ne!(id, other_id);
        assert_eq!(id_of(&token), Some(id.as_str()));
        assert_eq!(token.len(), PREFIX.len() + 12 + 1 + 64);
        assert_eq!(hash(&token).len(), 64);
        assert_ne!(hash(&token), hash(&other));
        Ok(())
    }

    #[test]
    fn malformed_tokens_have_no_id() {
        for bad in [
            "",
            "weir_",
            "weir_abc_def",
            "demo-token",
            "weir_0123456789ab_",
            "weir_0123456789aZ_0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn equality_is_by_every_byte() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
