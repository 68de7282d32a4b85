//! Reading secrets from the operator: a hidden prompt on a terminal, one
//! line of standard input otherwise. Never from the command line.

use std::io::{BufRead, IsTerminal};

use secrecy::SecretString;
use zeroize::Zeroizing;

/// The longest secret line accepted from standard input.
const MAX_SECRET_LEN: usize = 64 * 1024;

/// Reads one secret: hidden prompt when standard input is a terminal, else
/// the first line of standard input (without its line ending).
pub fn read_secret(prompt: &str) -> std::io::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let value = Zeroizing::new(rpassword::prompt_password(prompt)?);
        return Ok(SecretString::from(value.as_str()));
    }
    read_secret_line(&mut std::io::stdin().lock())
}

/// Reads the first line of `reader` as a secret (for non-interactive use).
pub fn read_secret_line<R: BufRead>(reader: &mut R) -> std::io::Result<SecretString> {
    let mut line = Zeroizing::new(Vec::new());
    let limit = u64::try_from(MAX_SECRET_LEN).unwrap_or(u64::MAX) + 1;
    std::io::Read::take(&mut *reader, limit).read_until(b'\n', &mut line)?;
    if line.len() > MAX_SECRET_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the secret on standard input is longer than 64 KiB",
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    if line.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no secret given on standard input",
        ));
    }
    let text = std::str::from_utf8(&line).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "the secret is not UTF-8")
    })?;
    Ok(SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn one_line_without_its_ending() {
        let secret = read_secret_line(&mut "hunter2\r\nsecond line\n".as_bytes()).unwrap();
        assert_eq!(secret.expose_secret(), "hunter2");
        assert!(read_secret_line(&mut "".as_bytes()).is_err());
        assert!(read_secret_line(&mut "\n".as_bytes()).is_err());
        assert!(read_secret_line(&mut vec![b'a'; MAX_SECRET_LEN + 1].as_slice()).is_err());
    }
}
