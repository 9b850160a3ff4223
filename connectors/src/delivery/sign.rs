//! Webhook signatures: `X-Weir-Signature: sha256=<hex>` over
//! `"<X-Weir-Timestamp>.<body>"` with the channel's secret (HMAC-SHA256,
//! RFC 2104), so a receiver knows the request came from weir, unchanged,
//! and recently (it refuses timestamps older than a few minutes: replays).

use sha2::{Digest, Sha256};

/// The header holding the signature.
pub const SIGNATURE_HEADER: &str = "X-Weir-Signature";
/// The header holding the signing time (epoch milliseconds).
pub const TIMESTAMP_HEADER: &str = "X-Weir-Timestamp";

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The `X-Weir-Signature` value of `body` sent at `timestamp_ms`.
pub fn signature(secret: &str, timestamp_ms: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp_ms}.").into_bytes();
    message.extend_from_slice(body);
    let mac = hmac_sha256(secret.as_bytes(), &message);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Whether `header` (an `X-Weir-Signature` value) signs `body` at
/// `timestamp_ms` under `secret` (constant-time comparison).
pub fn verify(secret: &str, timestamp_ms: i64, body: &[u8], header: &str) -> bool {
    let want = signature(secret, timestamp_ms, body);
    want.len() == header.len()
        && want
            .bytes()
            .zip(header.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_signature_covers_the_time_and_every_byte() {
        let sig = signature("s3cret", 1_700_000_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify("s3cret", 1_700_000_000_000, b"{\"a\":1}", &sig));
        assert!(!verify("s3cret", 1_700_000_000_001, b"{\"a\":1}", &sig));
        assert!(!verify("s3cret", 1_700_000_000_000, b"{\"a\":2}", &sig));
        assert!(!verify("other", 1_700_000_000_000, b"{\"a\":1}", &sig));
    }
}
