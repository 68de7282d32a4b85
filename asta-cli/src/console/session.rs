//! Console sessions: random cookies kept by their hash, each with its CSRF
//! token and idle deadline.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "asta_console";

/// The most sessions kept at once; the least recently used goes first.
const MAX_SESSIONS: usize = 64;

/// 32 random bytes, base64url without padding; `None` if the system's
/// random source fails (the caller refuses the sign-in).
pub(crate) fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(data_encoding::BASE64URL_NOPAD.encode(&bytes))
}

fn hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

/// Equality that takes the same time wherever the texts differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct Session {
    operator: String,
    csrf: String,
    last_seen: Instant,
    flash: Option<String>,
}

/// A signed-in operator, as a request sees it.
#[derive(Clone)]
pub(crate) struct Active {
    /// The admin key's name.
    pub(crate) operator: String,
    /// The session's CSRF token (rendered into its forms only).
    pub(crate) csrf: String,
    /// The hash of the session's cookie (to address it again).
    key: [u8; 32],
}

impl fmt::Debug for Active {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Active")
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

/// What a presented cookie is.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A live session (its idle deadline moved on).
    Active(Active),
    /// A session that was idle too long (now removed).
    Expired {
        /// Who it belonged to.
        operator: String,
    },
    /// No cookie, or one that names no session.
    Missing,
}

/// The table of sessions.
#[derive(Default)]
pub(crate) struct Sessions {
    by_hash: HashMap<[u8; 32], Session>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("count", &self.by_hash.len())
            .finish()
    }
}

impl Sessions {
    /// Starts a session for `operator`; returns its cookie value, or `None`
    /// if no random token could be made.
    pub(crate) fn create(&mut self, operator: &str, idle: Duration) -> Option<String> {
        let now = Instant::now();
        self.by_hash
            .retain(|_, s| now.saturating_duration_since(s.last_seen) < idle);
        while self.by_hash.len() >= MAX_SESSIONS {
            let oldest = self
                .by_hash
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k);
            match oldest {
                Some(key) => self.by_hash.remove(&key),
                None => break,
            };
        }
        let token = random_token()?;
        let csrf = random_token()?;
        self.by_hash.insert(
            hash(&token),
            Session {
                operator: operator.to_owned(),
                csrf,
                last_seen: now,
                flash: None,
            },
        );
        Some(token)
    }

    /// Looks up the session of a cookie value, expiring it when idle too
    /// long and otherwise moving its deadline on.
    pub(crate) fn lookup(&mut self, token: Option<&str>, idle: Duration) -> Lookup {
        self.find(token, idle, true)
    }

    /// Like [`lookup`](Self::lookup) without moving the idle deadline on
    /// (for the page's own background refreshes: a page left open is idle).
    pub(crate) fn peek(&mut self, token: Option<&str>, idle: Duration) -> Lookup {
        self.find(token, idle, false)
    }

    fn find(&mut self, token: Option<&str>, idle: Duration, touch: bool) -> Lookup {
        let Some(token) = token else {
            return Lookup::Missing;
        };
        let key = hash(token);
        let now = Instant::now();
        let Some(session) = self.by_hash.get_mut(&key) else {
            return Lookup::Missing;
        };
        if now.saturating_duration_since(session.last_seen) >= idle {
            let operator = session.operator.clone();
            self.by_hash.remove(&key);
            return Lookup::Expired { operator };
        }
        if touch {
            session.last_seen = now;
        }
        Lookup::Active(Active {
            operator: session.operator.clone(),
            csrf: session.csrf.clone(),
            key,
        })
    }

    /// Whether `active` is still live, without moving its deadline on (a
    /// page left open on the live tail is still idle); an expired session
    /// is removed.
    pub(crate) fn still_active(&mut self, active: &Active, idle: Duration) -> bool {
        let live = self
            .by_hash
            .get(&active.key)
            .is_some_and(|s| s.last_seen.elapsed() < idle);
        if !live {
            self.by_hash.remove(&active.key);
        }
        live
    }

    /// Ends a session.
    pub(crate) fn remove(&mut self, active: &Active) {
        self.by_hash.remove(&active.key);
    }

    /// Leaves a one-time message for the session's next page.
    pub(crate) fn set_flash(&mut self, active: &Active, message: String) {
        if let Some(session) = self.by_hash.get_mut(&active.key) {
            session.flash = Some(message);
        }
    }

    /// Takes the session's one-time message.
    pub(crate) fn take_flash(&mut self, active: &Active) -> Option<String> {
        self.by_hash
            .get_mut(&active.key)
            .and_then(|session| session.flash.take())
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// The `Set-Cookie` value that starts a session.
pub(crate) fn set_cookie(token: &str, path: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that ends one.
pub(crate) fn clear_cookie(path: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_expires_when_idle_and_lives_while_used() {
        let mut sessions = Sessions::default();
        let idle = Duration::from_millis(200);
        let token = sessions.create("ops", idle).unwrap_or_default();
        assert!(matches!(
            sessions.lookup(Some(&token), idle),
            Lookup::Active(ref a) if a.operator == "ops"
        ));
        assert!(matches!(
            sessions.lookup(Some("not-a-session"), idle),
            Lookup::Missing
        ));
        std::thread::sleep(Duration::from_millis(250));
        assert!(matches!(
            sessions.lookup(Some(&token), idle),
            Lookup::Expired { ref operator } if operator == "ops"
        ));
        // Gone after the first expired look.
        assert!(matches!(
            sessions.lookup(Some(&token), idle),
            Lookup::Missing
        ));
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let a = random_token().unwrap_or_default();
        let b = random_token().unwrap_or_default();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
        assert!(!same_secret(&a, &a[..42]));
    }

    #[test]
    fn cookies_are_found_by_name_and_flagged() {
        assert_eq!(
            cookie_value("x=1; asta_console=abc; y=2", COOKIE),
            Some("abc")
        );
        assert_eq!(cookie_value("asta_consolex=abc", COOKIE), None);
        let set = set_cookie("t", "/console", true);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        assert!(set.ends_with("; Secure"));
        assert!(!set_cookie("t", "/console", false).contains("Secure"));
    }

    #[test]
    fn debug_shows_no_token() {
        let mut sessions = Sessions::default();
        let idle = Duration::from_secs(60);
        let token = sessions.create("ops", idle).unwrap_or_default();
        let Lookup::Active(active) = sessions.lookup(Some(&token), idle) else {
            panic!("session missing");
        };
        let shown = format!("{active:?} {sessions:?}");
        assert!(!shown.contains(&token) && !shown.contains(&active.csrf));
    }
}
