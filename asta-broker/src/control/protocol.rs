//! The control protocol: one bounded JSON object per line, each way.
//!
//! A request names its command in `cmd` and may carry only the fields that
//! command takes; anything else is refused before anything is done:
//!
//! | `cmd`     | fields                           | needs TOTP |
//! |-----------|----------------------------------|------------|
//! | `status`  | none                             | no         |
//! | `halt`    | `reason`, `operator` (optional)  | no         |
//! | `flatten` | `totp`, `reason`, `operator`     | yes        |
//! | `reset`   | `totp`, `operator`               | yes        |
//! | `sync`    | none                             | no         |
//!
//! The answer is one line: `{"ok":true,"cmd":...,"result":{...}}` or
//! `{"ok":false,"cmd":...,"error":{"code":...,"message":...,"reference":...}}`.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The longest request line the server reads, newline included (4 KiB).
/// A longer line is refused and the connection closed.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024;

/// The longest answer line a [`ControlClient`](crate::ControlClient) reads
/// (1 MiB): a status with many positions stays well below it.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The longest `reason` accepted, in characters.
pub const MAX_CONTROL_REASON_CHARS: usize = 200;

/// A command for the session that owns an account.
///
/// Its `Debug` never shows a TOTP code.
#[derive(Clone)]
#[non_exhaustive]
pub enum ControlRequest {
    /// The session's state: trading state, breakers, P&L against the
    /// limit, rate usage, open orders, unknown outcomes, halt marker.
    Status,
    /// Halt and cancel every open order (no TOTP: it only removes risk).
    Halt {
        /// Why (recorded).
        reason: String,
        /// A label the operator gave (recorded beside the peer's real uid
        /// and user name, which is what the session trusts).
        operator: Option<String>,
    },
    /// Close every open position at market: needs a TOTP code.
    Flatten {
        /// The operator's current TOTP code.
        totp: SecretString,
        /// Why (recorded).
        reason: String,
        /// A label the operator gave (recorded).
        operator: Option<String>,
    },
    /// Leave HALTED (and remove a halt marker): needs a TOTP code.
    Reset {
        /// The operator's current TOTP code.
        totp: SecretString,
        /// A label the operator gave (recorded).
        operator: Option<String>,
    },
    /// Pull fills, marks and unknown outcomes from the broker now.
    Sync,
}

impl fmt::Debug for ControlRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status => f.write_str("Status"),
            Self::Halt { reason, operator } => f
                .debug_struct("Halt")
                .field("reason", reason)
                .field("operator", operator)
                .finish(),
            Self::Flatten {
                reason, operator, ..
            } => f
                .debug_struct("Flatten")
                .field("totp", &"<redacted>")
                .field("reason", reason)
                .field("operator", operator)
                .finish(),
            Self::Reset { operator, .. } => f
                .debug_struct("Reset")
                .field("totp", &"<redacted>")
                .field("operator", operator)
                .finish(),
            Self::Sync => f.write_str("Sync"),
        }
    }
}

/// Which command a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ControlCommand {
    /// [`ControlRequest::Status`].
    Status,
    /// [`ControlRequest::Halt`].
    Halt,
    /// [`ControlRequest::Flatten`].
    Flatten,
    /// [`ControlRequest::Reset`].
    Reset,
    /// [`ControlRequest::Sync`].
    Sync,
}

impl ControlCommand {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Halt => "halt",
            Self::Flatten => "flatten",
            Self::Reset => "reset",
            Self::Sync => "sync",
        }
    }
}

impl fmt::Display for ControlCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request line was refused before anything was done. The messages
/// never echo a value from the request (a TOTP code may be in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The line is longer than [`MAX_REQUEST_BYTES`].
    #[error("request longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The line is not UTF-8.
    #[error("request is not UTF-8")]
    NotUtf8,
    /// The line is not one JSON object of the expected shape.
    #[error(
        "malformed request ({problem}); expected one JSON object per line with \"cmd\" one of status, halt, flatten, reset, sync"
    )]
    Malformed {
        /// What is wrong, without the request's values.
        problem: String,
    },
    /// A field the command does not take.
    #[error("{cmd} does not take the field \"{field}\"")]
    FieldNotAllowed {
        /// The command.
        cmd: ControlCommand,
        /// The field.
        field: &'static str,
    },
    /// A field the command needs.
    #[error("{cmd} needs the field \"{field}\"")]
    FieldMissing {
        /// The command.
        cmd: ControlCommand,
        /// The field.
        field: &'static str,
    },
    /// A field's value is unusable.
    #[error("invalid {field}: {problem}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong and what is expected.
        problem: &'static str,
    },
}

/// The wire shape, before the per-command checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    cmd: ControlCommand,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    totp: Option<SecretString>,
}

impl ControlRequest {
    /// The command it names.
    pub fn command(&self) -> ControlCommand {
        match self {
            Self::Status => ControlCommand::Status,
            Self::Halt { .. } => ControlCommand::Halt,
            Self::Flatten { .. } => ControlCommand::Flatten,
            Self::Reset { .. } => ControlCommand::Reset,
            Self::Sync => ControlCommand::Sync,
        }
    }

    /// Parses one request line (without or with its newline).
    ///
    /// ```
    /// use asta_broker::{ControlCommand, ControlRequest};
    /// let halt = ControlRequest::parse(br#"{"cmd":"halt","reason":"runaway"}"#)?;
    /// assert_eq!(halt.command(), ControlCommand::Halt);
    /// // Unknown fields and fields a command does not take are refused.
    /// assert!(ControlRequest::parse(br#"{"cmd":"status","force":true}"#).is_err());
    /// assert!(ControlRequest::parse(br#"{"cmd":"status","totp":"123456"}"#).is_err());
    /// # Ok::<(), asta_broker::ProtocolError>(())
    /// ```
    pub fn parse(line: &[u8]) -> Result<Self, ProtocolError> {
        if line.len() > MAX_REQUEST_BYTES {
            return Err(ProtocolError::TooLong {
                max: MAX_REQUEST_BYTES,
            });
        }
        let text = std::str::from_utf8(line).map_err(|_| ProtocolError::NotUtf8)?;
        if !text.trim_start().starts_with('{') {
            // serde would also take `["halt"]` for the struct.
            return Err(ProtocolError::Malformed {
                problem: "not a JSON object".to_owned(),
            });
        }
        let wire: Wire =
            serde_json::from_str(text.trim_end_matches(['\n', '\r'])).map_err(|e| {
                ProtocolError::Malformed {
                    problem: describe(&e),
                }
            })?;
        let cmd = wire.cmd;
        let reason = wire.reason.map(|r| check_reason(&r)).transpose()?;
        let operator = wire.operator.map(|o| check_operator(&o)).transpose()?;
        let refuse = |field| ProtocolError::FieldNotAllowed { cmd, field };
        let missing = |field| ProtocolError::FieldMissing { cmd, field };
        match cmd {
            ControlCommand::Status | ControlCommand::Sync => {
                if wire.totp.is_some() {
                    return Err(refuse("totp"));
                }
                if reason.is_some() {
                    return Err(refuse("reason"));
                }
                if operator.is_some() {
                    return Err(refuse("operator"));
                }
                Ok(if cmd == ControlCommand::Status {
                    Self::Status
                } else {
                    Self::Sync
                })
            }
            ControlCommand::Halt => {
                if wire.totp.is_some() {
                    // Halting never asks a question: a code here is a
                    // client bug, and it must not end up anywhere.
                    return Err(refuse("totp"));
                }
                Ok(Self::Halt {
                    reason: reason.unwrap_or_else(|| "operator halt".to_owned()),
                    operator,
                })
            }
            ControlCommand::Flatten => {
                let totp = wire.totp.ok_or_else(|| missing("totp"))?;
                check_totp(&totp)?;
                Ok(Self::Flatten {
                    totp,
                    reason: reason.unwrap_or_else(|| "operator flatten".to_owned()),
                    operator,
                })
            }
            ControlCommand::Reset => {
                if reason.is_some() {
                    return Err(refuse("reason"));
                }
                let totp = wire.totp.ok_or_else(|| missing("totp"))?;
                check_totp(&totp)?;
                Ok(Self::Reset { totp, operator })
            }
        }
    }

    /// The request as one line, newline included. The buffer holds the
    /// TOTP code for `flatten` and `reset` and is wiped on drop.
    pub fn to_line(&self) -> Zeroizing<Vec<u8>> {
        let mut object = serde_json::Map::new();
        object.insert("cmd".into(), json!(self.command().as_str()));
        let (reason, operator, totp) = match self {
            Self::Status | Self::Sync => (None, None, None),
            Self::Halt { reason, operator } => (Some(reason), operator.as_ref(), None),
            Self::Flatten {
                totp,
                reason,
                operator,
            } => (Some(reason), operator.as_ref(), Some(totp)),
            Self::Reset { totp, operator } => (None, operator.as_ref(), Some(totp)),
        };
        if let Some(reason) = reason {
            object.insert("reason".into(), json!(reason));
        }
        if let Some(operator) = operator {
            object.insert("operator".into(), json!(operator));
        }
        let mut line = Zeroizing::new(
            serde_json::to_vec(&Value::Object(object)).unwrap_or_else(|_| b"{}".to_vec()),
        );
        if let Some(totp) = totp {
            // A TOTP code is digits only (checked on both sides), so it
            // needs no JSON escaping; spliced in so that no `Value` holds it.
            if line.last() == Some(&b'}') {
                line.pop();
                line.extend_from_slice(b",\"totp\":\"");
                line.extend_from_slice(totp.expose_secret().as_bytes());
                line.extend_from_slice(b"\"}");
            }
        }
        line.push(b'\n');
        line
    }
}

/// serde's own message can quote a value (`invalid type: integer 123456`),
/// so only the category, the position and an unknown field's name are kept.
fn describe(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = error.to_string();
    let kind = match error.classify() {
        Category::Io => "unreadable",
        Category::Syntax => "not valid JSON",
        Category::Eof => "incomplete JSON",
        Category::Data => {
            if let Some(rest) = text.strip_prefix("unknown field `") {
                // Named only when it is plainly a field name: letters and
                // `_` (a pasted code or key is never quoted back).
                let field: String = rest.chars().take_while(|c| *c != '`').collect();
                let plain = !field.is_empty()
                    && field.len() <= 32
                    && field.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
                return if plain {
                    format!("unknown field \"{field}\"")
                } else {
                    "an unknown field".to_owned()
                };
            }
            if text.starts_with("unknown variant") {
                return "unknown cmd".to_owned();
            }
            if text.starts_with("missing field `cmd`") {
                return "no cmd".to_owned();
            }
            "a field has the wrong type or the line is not an object"
        }
    };
    format!("{kind} at column {}", error.column())
}

fn check_reason(reason: &str) -> Result<String, ProtocolError> {
    if reason.chars().count() > MAX_CONTROL_REASON_CHARS {
        return Err(ProtocolError::InvalidField {
            field: "reason",
            problem: "longer than 200 characters",
        });
    }
    if reason.chars().any(char::is_control) {
        return Err(ProtocolError::InvalidField {
            field: "reason",
            problem: "control characters are not allowed",
        });
    }
    Ok(reason.to_owned())
}

fn check_operator(operator: &str) -> Result<String, ProtocolError> {
    let valid = !operator.is_empty()
        && operator.len() <= 64
        && operator
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if valid {
        Ok(operator.to_owned())
    } else {
        Err(ProtocolError::InvalidField {
            field: "operator",
            problem: "expected 1 to 64 of A-Z a-z 0-9 . _ - @",
        })
    }
}

fn check_totp(code: &SecretString) -> Result<(), ProtocolError> {
    let code = code.expose_secret();
    if (6..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ProtocolError::InvalidField {
            field: "totp",
            problem: "expected 6 to 8 digits",
        })
    }
}

/// A refusal or failure the session sent back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ControlFailure {
    /// The public error code (`PERMISSION_DENIED`, `INVALID_INPUT`, ...).
    pub code: String,
    /// What was wrong (bounded, sanitized; never a secret).
    pub message: String,
    /// The session's audit reference holding the detail, if any.
    #[serde(default)]
    pub reference: Option<String>,
}

impl fmt::Display for ControlFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(reference) = &self.reference {
            write!(f, " (ref {reference})")?;
        }
        Ok(())
    }
}

/// One answer line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ControlResponse {
    /// Whether the session did what was asked.
    pub ok: bool,
    /// The command answered (absent when the request was unreadable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<ControlCommand>,
    /// The command's result when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// What went wrong when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ControlFailure>,
}

impl ControlResponse {
    pub(crate) fn success(cmd: ControlCommand, result: Value) -> Self {
        Self {
            ok: true,
            cmd: Some(cmd),
            result: Some(result),
            error: None,
        }
    }

    pub(crate) fn failure(cmd: Option<ControlCommand>, failure: ControlFailure) -> Self {
        Self {
            ok: false,
            cmd,
            result: None,
            error: Some(failure),
        }
    }

    /// The answer as one line, newline included.
    pub(crate) fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"ok":false,"error":{"code":"INTERNAL_ERROR","message":"unencodable answer"}}"#
                .to_vec()
        });
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const CANARY: &str = "93817264";

    #[test]
    fn every_command_parses_and_round_trips() {
        let cases: [(&str, ControlCommand); 5] = [
            (r#"{"cmd":"status"}"#, ControlCommand::Status),
            (
                r#"{"cmd":"halt","reason":"x","operator":"alice"}"#,
                ControlCommand::Halt,
            ),
            (
                r#"{"cmd":"flatten","totp":"123456","reason":"y"}"#,
                ControlCommand::Flatten,
            ),
            (
                r#"{"cmd":"reset","totp":"12345678"}"#,
                ControlCommand::Reset,
            ),
            ("{\"cmd\":\"sync\"}\n", ControlCommand::Sync),
        ];
        for (line, cmd) in cases {
            let request = ControlRequest::parse(line.as_bytes()).unwrap();
            assert_eq!(request.command(), cmd, "{line}");
            let again = ControlRequest::parse(&request.to_line()).unwrap();
            assert_eq!(again.command(), cmd);
            assert_eq!(format!("{again:?}"), format!("{request:?}"));
        }
    }

    #[test]
    fn bad_requests_get_typed_errors_that_never_echo_a_value() {
        use ProtocolError as E;
        type Check = fn(&ProtocolError) -> bool;
        let long = format!(r#"{{"cmd":"halt","reason":"{}"}}"#, "a".repeat(5000));
        let table: Vec<(String, Check)> = vec![
            (long, |e| matches!(e, E::TooLong { .. })),
            ("\u{0}\u{1}".into(), |e| matches!(e, E::Malformed { .. })),
            ("".into(), |e| matches!(e, E::Malformed { .. })),
            ("[]".into(), |e| matches!(e, E::Malformed { .. })),
            (r#"["halt"]"#.into(), |e| matches!(e, E::Malformed { .. })),
            ("{".into(), |e| matches!(e, E::Malformed { .. })),
            (
                r#"{"cmd":"explode"}"#.into(),
                |e| matches!(e, E::Malformed { problem } if problem.contains("unknown cmd")),
            ),
            (
                r#"{"reason":"x"}"#.into(),
                |e| matches!(e, E::Malformed { problem } if problem.contains("no cmd")),
            ),
            (
                r#"{"cmd":"status","force":1}"#.into(),
                |e| matches!(e, E::Malformed { problem } if problem.contains("\"force\"")),
            ),
            (r#"{"cmd":"status","totp":"123456"}"#.into(), |e| {
                matches!(e, E::FieldNotAllowed { field: "totp", .. })
            }),
            (r#"{"cmd":"halt","totp":"123456"}"#.into(), |e| {
                matches!(e, E::FieldNotAllowed { field: "totp", .. })
            }),
            (
                r#"{"cmd":"reset","reason":"r","totp":"123456"}"#.into(),
                |e| {
                    matches!(
                        e,
                        E::FieldNotAllowed {
                            field: "reason",
                            ..
                        }
                    )
                },
            ),
            (r#"{"cmd":"flatten"}"#.into(), |e| {
                matches!(e, E::FieldMissing { field: "totp", .. })
            }),
            (r#"{"cmd":"reset","totp":"12ab56"}"#.into(), |e| {
                matches!(e, E::InvalidField { field: "totp", .. })
            }),
            (r#"{"cmd":"halt","operator":"a b"}"#.into(), |e| {
                matches!(
                    e,
                    E::InvalidField {
                        field: "operator",
                        ..
                    }
                )
            }),
            (r#"{"cmd":"halt","reason":"a\nb"}"#.into(), |e| {
                matches!(
                    e,
                    E::InvalidField {
                        field: "reason",
                        ..
                    }
                )
            }),
        ];
        for (line, expected) in table {
            let error = ControlRequest::parse(line.as_bytes()).unwrap_err();
            assert!(expected(&error), "{line:?} gave {error:?}");
        }
        // A code of the wrong type or shape is never quoted back.
        for line in [
            format!(r#"{{"cmd":"reset","totp":{CANARY}}}"#),
            format!(r#"{{"cmd":"reset","totp":"{CANARY}x"}}"#),
            format!(r#"{{"cmd":"halt","totp":"{CANARY}"}}"#),
            format!(r#"{{"cmd":"{CANARY}"}}"#),
            format!(r#"{{"cmd":"reset","totp":"{CANARY}","x{CANARY}":1}}"#),
        ] {
            let error = ControlRequest::parse(line.as_bytes()).unwrap_err();
            assert!(!error.to_string().contains(CANARY), "{error}");
        }
        let request =
            ControlRequest::parse(format!(r#"{{"cmd":"reset","totp":"{CANARY}"}}"#).as_bytes())
                .unwrap();
        assert!(!format!("{request:?}").contains(CANARY));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = ControlRequest::parse(&bytes);
        }

        #[test]
        fn halt_reasons_round_trip(reason in "[ -~]{0,200}") {
            let request = ControlRequest::Halt { reason: reason.clone(), operator: None };
            match ControlRequest::parse(&request.to_line()) {
                Ok(ControlRequest::Halt { reason: back, .. }) => proptest::prop_assert_eq!(back, reason),
                other => proptest::prop_assert!(false, "{:?}", other),
            }
        }
    }
}
