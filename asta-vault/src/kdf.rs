//! Argon2id passphrase stretching with enforced lower (on create) and upper
//! (on read) bounds.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::KEY_LEN;

/// OWASP's minimum Argon2id memory cost, in KiB (19 MiB).
pub const OWASP_MIN_MEMORY_KIB: u32 = 19_456;
/// OWASP's minimum Argon2id iteration count at that memory cost.
pub const OWASP_MIN_ITERATIONS: u32 = 2;
/// Largest memory cost accepted from a file, in KiB (256 MiB).
pub const MAX_MEMORY_KIB: u32 = 262_144;
/// Largest iteration count accepted from a file.
pub const MAX_ITERATIONS: u32 = 10;
/// Largest parallelism accepted from a file.
pub const MAX_PARALLELISM: u32 = 8;
/// Largest total work (memory KiB × iterations) accepted from a file, so a
/// crafted header cannot combine maximal memory with maximal passes (1 GiB·pass).
pub const MAX_WORK_KIB_PASSES: u64 = 1_048_576;
/// Length of the random salt stored beside the parameters.
pub(crate) const SALT_LEN: usize = 16;

/// Argon2id cost parameters.
///
/// [`Argon2Params::default`] is OWASP's minimum (m = 19456 KiB, t = 2, p = 1).
/// [`Argon2Params::new`] refuses anything weaker; parameters read from a file
/// are checked against the upper bounds (`MAX_*`) before any work is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    m_kib: u32,
    /// Iterations.
    t: u32,
    /// Lanes.
    p: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            m_kib: OWASP_MIN_MEMORY_KIB,
            t: OWASP_MIN_ITERATIONS,
            p: 1,
        }
    }
}

/// Why a set of Argon2id parameters was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Argon2id parameters m={m_kib} KiB, t={t}, p={p} refused: {reason}")]
pub struct Argon2ParamsError {
    m_kib: u32,
    t: u32,
    p: u32,
    reason: &'static str,
}

impl Argon2Params {
    /// Parameters at least as strong as OWASP's minimum and within the read bounds.
    pub fn new(m_kib: u32, t: u32, p: u32) -> Result<Self, Argon2ParamsError> {
        let params = Self { m_kib, t, p };
        if m_kib < OWASP_MIN_MEMORY_KIB || t < OWASP_MIN_ITERATIONS || p < 1 {
            return Err(params.refuse("below OWASP's minimum (m >= 19456 KiB, t >= 2, p >= 1)"));
        }
        params
            .check_bounds()
            .map_err(|reason| params.refuse(reason))?;
        Ok(params)
    }

    /// Weak parameters for tests and benchmarks only: skips the OWASP minimum
    /// (but not the upper bounds or Argon2's own validity rules).
    ///
    /// Never use this for a real vault: a passphrase stretched with these
    /// costs can be brute-forced quickly.
    pub fn dangerous_weak_for_tests(m_kib: u32, t: u32, p: u32) -> Result<Self, Argon2ParamsError> {
        Self::from_untrusted(m_kib, t, p)
    }

    /// Parameters read from a file: only the upper bounds (and Argon2's own
    /// validity rules) apply, checked before any work is done.
    pub(crate) fn from_untrusted(m_kib: u32, t: u32, p: u32) -> Result<Self, Argon2ParamsError> {
        let params = Self { m_kib, t, p };
        params
            .check_bounds()
            .map_err(|reason| params.refuse(reason))?;
        Ok(params)
    }

    /// Memory cost in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.m_kib
    }

    /// Iterations.
    pub fn iterations(&self) -> u32 {
        self.t
    }

    /// Parallelism (lanes).
    pub fn parallelism(&self) -> u32 {
        self.p
    }

    /// `true` when these parameters meet OWASP's minimum.
    pub fn meets_owasp_minimum(&self) -> bool {
        self.m_kib >= OWASP_MIN_MEMORY_KIB && self.t >= OWASP_MIN_ITERATIONS && self.p >= 1
    }

    fn refuse(&self, reason: &'static str) -> Argon2ParamsError {
        Argon2ParamsError {
            m_kib: self.m_kib,
            t: self.t,
            p: self.p,
            reason,
        }
    }

    /// The upper bounds (and Argon2's own lower limits), applied to anything
    /// read from a file before any work is done.
    pub(crate) fn check_bounds(&self) -> Result<(), &'static str> {
        if self.p < 1 || self.p > MAX_PARALLELISM {
            return Err("parallelism must be between 1 and 8");
        }
        if self.t < 1 || self.t > MAX_ITERATIONS {
            return Err("iterations must be between 1 and 10");
        }
        if self.m_kib > MAX_MEMORY_KIB {
            return Err("memory cost above 262144 KiB (256 MiB)");
        }
        if u64::from(self.m_kib) < 8 * u64::from(self.p) {
            return Err("memory cost below 8 KiB per lane");
        }
        if u64::from(self.m_kib) * u64::from(self.t) > MAX_WORK_KIB_PASSES {
            return Err("memory x iterations above 1048576 KiB-passes");
        }
        Ok(())
    }

    /// Stretches `passphrase` with `salt` into a 32-byte key.
    pub(crate) fn derive(
        &self,
        passphrase: &SecretString,
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, &'static str> {
        self.check_bounds()?;
        let params = Params::new(self.m_kib, self.t, self.p, Some(KEY_LEN))
            .map_err(|_| "Argon2 rejected the parameters")?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        argon
            .hash_password_into(passphrase.expose_secret().as_bytes(), salt, out.as_mut())
            .map_err(|_| "Argon2 failed")?;
        Ok(out)
    }
}

impl fmt::Display for Argon2Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Argon2id m={} KiB, t={}, p={}",
            self.m_kib, self.t, self.p
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_owasp_minimum() {
        let p = Argon2Params::default();
        assert_eq!(
            (p.memory_kib(), p.iterations(), p.parallelism()),
            (19_456, 2, 1)
        );
        assert!(p.meets_owasp_minimum());
        assert_eq!(Argon2Params::new(19_456, 2, 1), Ok(p));
    }

    #[test]
    fn weak_params_need_the_dangerous_constructor() {
        assert!(Argon2Params::new(8, 1, 1).is_err());
        assert!(Argon2Params::new(19_456, 1, 1).is_err());
        let weak = Argon2Params::dangerous_weak_for_tests(8, 1, 1).unwrap();
        assert!(!weak.meets_owasp_minimum());
    }

    #[test]
    fn upper_bounds_are_enforced() {
        for (m, t, p) in [
            (MAX_MEMORY_KIB + 1, 1, 1),
            (1024, MAX_ITERATIONS + 1, 1),
            (1024, 1, MAX_PARALLELISM + 1),
            (MAX_MEMORY_KIB, 5, 1),
            (8, 1, 2),
            (8, 0, 1),
            (8, 1, 0),
        ] {
            let params = Argon2Params { m_kib: m, t, p };
            assert!(params.check_bounds().is_err(), "{m} {t} {p}");
            assert!(Argon2Params::dangerous_weak_for_tests(m, t, p).is_err());
        }
    }

    #[test]
    fn derivation_depends_on_salt_and_passphrase() {
        let params = Argon2Params::dangerous_weak_for_tests(8, 1, 1).unwrap();
        let a = params
            .derive(&SecretString::from("pass"), b"saltsaltsaltsalt")
            .unwrap();
        let b = params
            .derive(&SecretString::from("pass"), b"saltsaltsaltsal2")
            .unwrap();
        let c = params
            .derive(&SecretString::from("pasS"), b"saltsaltsaltsalt")
            .unwrap();
        assert_ne!(a.as_ref(), b.as_ref());
        assert_ne!(a.as_ref(), c.as_ref());
    }
}
