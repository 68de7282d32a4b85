//! Who is on the other end of a control connection: the uid the kernel
//! reports (SO_PEERCRED) and that uid's user name.

use std::io::Read;

/// The operator behind a control connection, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peer {
    /// The connecting process's uid (SO_PEERCRED).
    pub uid: u32,
    /// The uid's user name from `/etc/passwd`, or `uid-N` when it has none
    /// (or one that is not a valid operator name).
    pub user: String,
}

impl Peer {
    /// The peer with uid `uid`, its user name looked up.
    pub fn from_uid(uid: u32) -> Self {
        Self {
            uid,
            user: user_name(uid).unwrap_or_else(|| format!("uid-{uid}")),
        }
    }
}

/// The largest `/etc/passwd` read (it is a small file; a huge one is not
/// trusted to be one).
const MAX_PASSWD_BYTES: u64 = 4 * 1024 * 1024;

/// The name of `uid` in `/etc/passwd`, if it has a valid operator name.
fn user_name(uid: u32) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open("/etc/passwd")
        .ok()?
        .take(MAX_PASSWD_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    name_in_passwd(&text, uid)
}

fn name_in_passwd(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let line_uid: u32 = fields.next()?.parse().ok()?;
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
        (line_uid == uid && valid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_passwd_and_odd_ones_are_not_trusted() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n\
                      alice:x:1000:1000::/home/alice:/bin/sh\n\
                      bad name:x:1001:1001::/:/bin/sh\n\
                      broken line\n";
        assert_eq!(name_in_passwd(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in_passwd(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(name_in_passwd(passwd, 1001), None);
        assert_eq!(name_in_passwd(passwd, 4242), None);
        assert_eq!(
            Peer::from_uid(u32::MAX - 7).user,
            format!("uid-{}", u32::MAX - 7)
        );
    }
}
