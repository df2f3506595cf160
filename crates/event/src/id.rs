//! Identifiers shared by every crate: tenants and events.

use crate::error::EventError;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::time::Timestamp;

/// The tenant an event, alert or token belongs to.
///
/// A short name (`[a-z0-9][a-z0-9_-]{0,63}`), used as a directory name by the store, so the
/// syntax is strict: no path separators, no dots, no upper case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Validates `name` as a tenant id.
    pub fn new(name: &str) -> Result<TenantId, EventError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if valid {
            Ok(TenantId(name.into()))
        } else {
            Err(EventError::TenantId {
                input: name.to_owned(),
            })
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::new(s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

/// A time-ordered event id in the ULID layout: 48 bits of milliseconds since the epoch, then
/// 80 random bits, rendered as 26 Crockford base32 characters.
///
/// Sorting ids sorts events by the time they were assigned (the receive time), which the
/// store uses for idempotent re-ingest and cursors.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(u128);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl EventId {
    /// From the raw 128 bits.
    pub const fn from_u128(v: u128) -> EventId {
        EventId(v)
    }

    /// The raw 128 bits.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// The millisecond timestamp part.
    pub fn millis(self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 26];
        for (i, byte) in out.iter_mut().enumerate() {
            let shift = 125 - 5 * i as u32;
            *byte = CROCKFORD[((self.0 >> shift) & 0x1f) as usize];
        }
        // Every byte comes from the ASCII alphabet above.
        f.write_str(std::str::from_utf8(&out).unwrap_or_default())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl FromStr for EventId {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || EventError::EventId {
            input: s.chars().take(40).collect(),
        };
        if s.len() != 26 {
            return Err(err());
        }
        let mut v: u128 = 0;
        for (i, b) in s.bytes().enumerate() {
            let digit = match b.to_ascii_uppercase() {
                c @ b'0'..=b'9' => c - b'0',
                b'O' => 0,
                b'I' | b'L' => 1,
                c => CROCKFORD.iter().position(|x| *x == c).ok_or_else(err)? as u8,
            };
            // The first character carries only 3 bits (26 × 5 = 130 > 128).
            if i == 0 && digit > 7 {
                return Err(err());
            }
            v = (v << 5) | u128::from(digit);
        }
        Ok(EventId(v))
    }
}

/// Mints [`EventId`]s that are strictly increasing within one generator, even within one
/// millisecond (the random part is incremented, as in monotonic ULID).
#[derive(Debug)]
pub struct EventIdGenerator {
    last: u128,
    state: u64,
}

impl Default for EventIdGenerator {
    fn default() -> Self {
        EventIdGenerator::new()
    }
}

impl EventIdGenerator {
    /// A generator seeded from the operating system's random source.
    pub fn new() -> EventIdGenerator {
        let mut seed = [0u8; 8];
        // Without OS randomness ids stay unique per generator (monotonic) and only lose
        // unpredictability; fall back to the clock rather than fail.
        if getrandom::fill(&mut seed).is_err() {
            seed = (Timestamp::now().as_nanos() as u64).to_le_bytes();
        }
        EventIdGenerator {
            last: 0,
            state: u64::from_le_bytes(seed) | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: fast, and good enough for the random half of an id.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An id for an event assigned at `at`.
    pub fn next_at(&mut self, at: Timestamp) -> EventId {
        let millis = (at.as_millis().max(0) as u128) & ((1 << 48) - 1);
        let random = (u128::from(self.next_random()) << 16 | u128::from(self.next_random() as u16))
            & ((1 << 80) - 1);
        let candidate = millis << 80 | random;
        let id = if candidate > self.last {
            candidate
        } else {
            self.last + 1
        };
        self.last = id;
        EventId(id)
    }

    /// An id for an event assigned now.
    pub fn next_now(&mut self) -> EventId {
        self.next_at(Timestamp::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_strict() {
        assert!(TenantId::new("acme-prod_1").is_ok());
        for bad in ["", "Acme", "../x", "a.b", "-x", &"a".repeat(65)] {
            assert!(TenantId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_ids_are_monotonic_and_round_trip() {
        let mut g = EventIdGenerator::new();
        let t = Timestamp::from_nanos(1_700_000_000_000_000_000);
        let ids: Vec<_> = (0..1000).map(|_| g.next_at(t)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for id in &ids {
            let text = id.to_string();
            assert_eq!(text.len(), 26);
            assert_eq!(text.parse::<EventId>().unwrap(), *id);
            assert_eq!(id.millis(), 1_700_000_000_000);
        }
        assert!("8ZZZZZZZZZZZZZZZZZZZZZZZZZ".parse::<EventId>().is_err());
        assert!("short".parse::<EventId>().is_err());
    }
}
