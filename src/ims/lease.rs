//! The refresh lease: a short note where instances share the token, "instance
//! X asks IMS until T", so that other instances keep their valid token instead
//! of asking too. It is advice, not a lock: a duplicate refresh is harmless, so
//! a lost race, a stale lease or a broken store only costs an extra IMS call.
//!
//! The value is `<expires_ms>:<owner as 16 hex digits>`: no token, no secret.

/// Long enough for one IMS attempt (10 s) and the writes after it.
pub const LEASE_MS: u64 = 15_000;
/// A lease further ahead than this is not believed, so a wrong clock or a
/// stray writer cannot hold refreshes back for long.
const MAX_AHEAD_MS: u64 = 2 * LEASE_MS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub expires_ms: u64,
    pub owner: u64,
}

impl Lease {
    pub fn new(now_ms: u64, owner: u64) -> Self {
        Lease {
            expires_ms: now_ms.saturating_add(LEASE_MS),
            owner,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        format!("{}:{:016x}", self.expires_ms, self.owner).into_bytes()
    }

    /// `None` for anything that is not a lease: empty, torn, foreign.
    pub fn parse(value: &[u8]) -> Option<Lease> {
        let text = std::str::from_utf8(value).ok()?;
        let (expires, owner) = text.split_once(':')?;
        if expires.is_empty()
            || expires.len() > 20
            || !expires.bytes().all(|b| b.is_ascii_digit())
            || owner.len() != 16
            || !owner.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        Some(Lease {
            expires_ms: expires.parse().ok()?,
            owner: u64::from_str_radix(owner, 16).ok()?,
        })
    }

    /// Until when this lease holds `me` back; `None` when it is ours, expired
    /// or not believable, so `me` may take it.
    pub fn holds_back(&self, me: u64, now_ms: u64) -> Option<u64> {
        (self.owner != me
            && self.expires_ms > now_ms
            && self.expires_ms <= now_ms.saturating_add(MAX_AHEAD_MS))
        .then_some(self.expires_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shape() {
        let l = Lease::new(1_700_000_000_000, 0xdead_beef);
        assert_eq!(l.expires_ms, 1_700_000_015_000);
        assert_eq!(l.encode(), b"1700000015000:00000000deadbeef");
        assert_eq!(Lease::parse(&l.encode()), Some(l));
    }

    #[test]
    fn anything_else_is_not_a_lease() {
        for bad in [
            &b""[..],
            b"1700000015000",
            b"1700000015000:",
            b"1700000015000:deadbeef",
            b":00000000deadbeef",
            b"-1:00000000deadbeef",
            b"17e3:00000000deadbeef",
            b"1700000015000:00000000deadbeeg",
            b"99999999999999999999999:00000000deadbeef",
            b"\xff\xfe",
        ] {
            assert_eq!(Lease::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn holds_back_others_until_it_expires_plus_minus_one_second() {
        let now = 1_000_000;
        let l = Lease::new(now, 1);
        assert_eq!(l.holds_back(2, now), Some(now + LEASE_MS));
        assert_eq!(
            l.holds_back(2, now + LEASE_MS - 1_000),
            Some(now + LEASE_MS)
        );
        assert_eq!(l.holds_back(2, now + LEASE_MS), None);
        assert_eq!(l.holds_back(2, now + LEASE_MS + 1_000), None);
        // Its owner is never held back by it.
        assert_eq!(l.holds_back(1, now), None);
    }

    #[test]
    fn a_lease_too_far_ahead_is_not_believed() {
        let now = 1_000_000;
        let far = Lease {
            expires_ms: now + MAX_AHEAD_MS + 1_000,
            owner: 1,
        };
        assert_eq!(far.holds_back(2, now), None);
        let edge = Lease {
            expires_ms: now + MAX_AHEAD_MS,
            owner: 1,
        };
        assert_eq!(edge.holds_back(2, now), Some(now + MAX_AHEAD_MS));
    }
}
