//! The control server: a Unix socket owned by the session, through which
//! the operator reaches the running guard.

use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use asta_audit::AuditEvent;
use asta_core::{ErrorCode, PublicCode, safe_file};
use asta_risk::TotpVerifier;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::peer::Peer;
use super::protocol::{
    ControlCommand, ControlFailure, ControlRequest, ControlResponse, MAX_REQUEST_BYTES,
    ProtocolError,
};
use crate::error::sanitize_text;
use crate::{Broker, BrokerError, EmergencyReport, Guard};

/// How long a connection may take to send a complete request line.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How many connections are served at once (more wait in the backlog).
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

/// Settings of a [`ControlServer`].
#[derive(Clone)]
#[must_use]
pub struct ControlConfig {
    socket: PathBuf,
    totp: Option<Arc<dyn TotpVerifier + Send + Sync>>,
    expected_uid: u32,
    request_timeout: Duration,
    max_connections: usize,
}

impl fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlConfig")
            .field("socket", &self.socket)
            .field("totp", &self.totp.is_some())
            .field("expected_uid", &self.expected_uid)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl ControlConfig {
    /// A server on the Unix socket `socket` (its directory is created with
    /// mode 0700 and must be private), accepting only this process's
    /// effective uid, without a TOTP verifier (so `flatten` and `reset` are
    /// refused until one is given).
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            totp: None,
            expected_uid: safe_file::current_uid(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// Checks TOTP codes for `flatten` and `reset` (e.g. a
    /// [`VaultTotpVerifier`](crate::VaultTotpVerifier)).
    pub fn totp_verifier(mut self, verifier: Arc<dyn TotpVerifier + Send + Sync>) -> Self {
        self.totp = Some(verifier);
        self
    }

    /// How long a connection may take to send a request line (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How many connections are served at once (default 8, at least 1).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// **Tests only**: accept peers of `uid` instead of this process's own
    /// uid, to prove that a peer of another uid is refused without
    /// switching users. Never set it in a real session.
    pub fn dangerous_expected_uid(mut self, uid: u32) -> Self {
        self.expected_uid = uid;
        self
    }
}

/// Why a [`ControlServer`] did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The socket's directory is missing and cannot be created, or is not
    /// a private directory of this user (mode 0700 expected).
    #[error("control socket directory {path} is unusable: {detail}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What is wrong and what is expected.
        detail: String,
    },
    /// Another session answers on the socket already.
    #[error(
        "another session already listens on {path}; one session owns an account (stop it first)"
    )]
    AlreadyServing {
        /// The socket.
        path: PathBuf,
    },
    /// Something that is not a socket is in the socket's place.
    #[error("{path} exists and is not a socket; remove it or choose another control_socket")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Binding or securing the socket failed.
    #[error("cannot listen on {path}: {detail}")]
    Listen {
        /// The socket.
        path: PathBuf,
        /// The cause.
        detail: String,
    },
}

/// Serves the control protocol for one [`Guard`] on a Unix socket, until
/// dropped or [shut down](Self::shutdown).
///
/// Every connection's peer uid (SO_PEERCRED) is checked against the
/// session's before a byte is read; a stranger is refused and recorded
/// (`SECURITY control_refused`). Requests are bounded lines
/// ([`MAX_REQUEST_BYTES`]) parsed strictly ([`ControlRequest::parse`]);
/// a bad one is answered with a typed error, recorded, and its connection
/// closed, and nothing else happens. Each command is recorded in the
/// session's trail (`SECURITY control_command`) with the peer's uid and
/// user name and the result.
///
/// Commands: `status` ([`Guard::session_status`]), `halt`
/// ([`Guard::halt_and_cancel`]: no TOTP), `flatten` ([`Guard::flatten`]:
/// TOTP), `reset` ([`Guard::reset`]: TOTP, also removes a halt marker),
/// `sync` ([`Guard::sync`]).
pub struct ControlServer {
    socket: PathBuf,
    identity: (u64, u64),
    task: JoinHandle<()>,
}

impl fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlServer")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl ControlServer {
    /// Starts serving `guard` on the configured socket.
    ///
    /// Creates the socket's directory (0700) when missing and refuses one
    /// that is a link, not owned by this user or open to others; replaces
    /// a stale socket file nobody answers on, refuses to start when a
    /// session answers on it; binds and sets the socket to 0600.
    ///
    /// # Errors
    ///
    /// See [`ControlError`]. Must be called inside a tokio runtime.
    pub async fn start<B: Broker + 'static>(
        guard: Arc<Guard<B>>,
        config: ControlConfig,
    ) -> Result<ControlServer, ControlError> {
        let socket = config.socket.clone();
        let dir = safe_file::parent_dir(&socket).to_path_buf();
        safe_file::ensure_private_dir(&dir).map_err(|e| ControlError::Directory {
            path: dir.clone(),
            detail: e.to_string(),
        })?;
        match std::fs::symlink_metadata(&socket) {
            Ok(meta) if meta.file_type().is_socket() => {
                if UnixStream::connect(&socket).await.is_ok() {
                    return Err(ControlError::AlreadyServing { path: socket });
                }
                std::fs::remove_file(&socket).map_err(|e| listen_error(&socket, &e))?;
            }
            Ok(_) => return Err(ControlError::NotASocket { path: socket }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(listen_error(&socket, &e)),
        }
        let listener = UnixListener::bind(&socket).map_err(|e| listen_error(&socket, &e))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| listen_error(&socket, &e))?;
        let meta = std::fs::symlink_metadata(&socket).map_err(|e| listen_error(&socket, &e))?;
        let identity = (meta.dev(), meta.ino());
        let _ = guard
            .audit_log()
            .append_deferred_async(AuditEvent::system(
                "control_server_started",
                json!({"socket": socket.display().to_string(), "uid": config.expected_uid}),
            ))
            .await;
        let shared = Arc::new(Serving {
            guard,
            permits: Arc::new(Semaphore::new(config.max_connections)),
            config,
        });
        let task = tokio::spawn(accept_loop(listener, shared));
        Ok(ControlServer {
            socket,
            identity,
            task,
        })
    }

    /// The socket it listens on.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Stops accepting and removes the socket file (connections being
    /// served finish on their own).
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        // Only our own socket: another session may have replaced it.
        if let Ok(meta) = std::fs::symlink_metadata(&self.socket)
            && (meta.dev(), meta.ino()) == self.identity
        {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

fn listen_error(path: &Path, error: &std::io::Error) -> ControlError {
    ControlError::Listen {
        path: path.to_path_buf(),
        detail: error.to_string(),
    }
}

struct Serving<B> {
    guard: Arc<Guard<B>>,
    permits: Arc<Semaphore>,
    config: ControlConfig,
}

async fn accept_loop<B: Broker + 'static>(listener: UnixListener, shared: Arc<Serving<B>>) {
    loop {
        let Ok(permit) = Arc::clone(&shared.permits).acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    serve(stream, &shared).await;
                    drop(permit);
                });
            }
            Err(error) => {
                tracing::warn!(target: "asta_broker::control", %error, "control accept failed");
                drop(permit);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve<B: Broker + 'static>(stream: UnixStream, shared: &Serving<B>) {
    let guard = &shared.guard;
    // Who is it? Decided before a single byte is read.
    let uid = match stream.peer_cred() {
        Ok(cred) => cred.uid(),
        Err(error) => {
            tracing::warn!(target: "asta_broker::control", %error, "no peer credentials; connection closed");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    if uid != shared.config.expected_uid {
        let event = AuditEvent::security(
            "control_refused",
            json!({"peer_uid": uid, "reason": "peer uid is not the session's uid"}),
        );
        let _ = guard.audit_log().append_deferred_async(event).await;
        let answer = ControlResponse::failure(
            None,
            failure(
                ErrorCode::PermissionDenied,
                "this session accepts control requests only from its own user",
            ),
        );
        let _ = write.write_all(&answer.to_line()).await;
        return;
    }
    let peer = Peer::from_uid(uid);
    let mut reader = BufReader::new(read);
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(256));
    loop {
        line.clear();
        let limit = u64::try_from(MAX_REQUEST_BYTES).unwrap_or(u64::MAX) + 1;
        let read = tokio::time::timeout(
            shared.config.request_timeout,
            (&mut reader).take(limit).read_until(b'\n', &mut line),
        )
        .await;
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => return, // I/O error or idle too long
        };
        if n == 0 {
            return;
        }
        let parsed = if line.len() > MAX_REQUEST_BYTES {
            Err(ProtocolError::TooLong {
                max: MAX_REQUEST_BYTES,
            })
        } else {
            ControlRequest::parse(&line)
        };
        let request = match parsed {
            Ok(request) => request,
            Err(error) => {
                let event = AuditEvent::security(
                    "control_refused",
                    json!({"peer_uid": peer.uid, "user": peer.user, "bytes": line.len(), "reason": error.to_string()}),
                )
                .with_actor(peer.user.clone());
                let _ = guard.audit_log().append_deferred_async(event).await;
                let answer = ControlResponse::failure(
                    None,
                    failure(ErrorCode::InvalidInput, &error.to_string()),
                );
                let _ = write.write_all(&answer.to_line()).await;
                // A bad line may be one of many; never try to resynchronise.
                return;
            }
        };
        let answer = dispatch(guard, shared.config.totp.as_deref(), &peer, request).await;
        if write.write_all(&answer.to_line()).await.is_err() {
            return;
        }
    }
}

/// Runs one command and records it with who asked and what came of it.
async fn dispatch<B: Broker + 'static>(
    guard: &Guard<B>,
    totp: Option<&(dyn TotpVerifier + Send + Sync)>,
    peer: &Peer,
    request: ControlRequest,
) -> ControlResponse {
    let cmd = request.command();
    let (label, reason) = match &request {
        ControlRequest::Halt { reason, operator }
        | ControlRequest::Flatten {
            reason, operator, ..
        } => (operator.clone(), Some(reason.clone())),
        ControlRequest::Reset { operator, .. } => (operator.clone(), None),
        ControlRequest::Status | ControlRequest::Sync => (None, None),
    };
    let by = match &label {
        Some(label) if label != &peer.user => {
            format!("{} uid {} (operator {label})", peer.user, peer.uid)
        }
        _ => format!("{} uid {}", peer.user, peer.uid),
    };
    let outcome: Result<(Value, Value), BrokerError> = match request {
        ControlRequest::Status => {
            let status = guard.session_status();
            let summary = json!({"trading_state": status.trading_state.to_string()});
            Ok((serde_json::to_value(&status).unwrap_or_default(), summary))
        }
        ControlRequest::Halt { reason, .. } => {
            let report = guard
                .halt_and_cancel(&format!("{reason} (by {by} via the control socket)"))
                .await;
            Ok(report_values(&report))
        }
        ControlRequest::Flatten { totp: code, reason, .. } => match totp {
            Some(verifier) => guard
                .flatten(&peer.user, code.expose_secret(), verifier, &reason)
                .await
                .map(|report| report_values(&report)),
            None => Err(BrokerError::Refused {
                code: ErrorCode::PermissionDenied,
                reason: "this session has no TOTP verifier: flatten is refused; close positions another way".to_owned(),
                reference: asta_core::ErrorReference::generate(),
            }),
        },
        ControlRequest::Reset { totp: code, .. } => match totp {
            Some(verifier) => guard
                .reset(&peer.user, code.expose_secret(), verifier)
                .await
                .map(|()| {
                    let state = json!({"trading_state": guard.trading_state().to_string()});
                    (state.clone(), state)
                }),
            None => Err(BrokerError::Refused {
                code: ErrorCode::PermissionDenied,
                reason: "this session has no TOTP verifier: reset is refused".to_owned(),
                reference: asta_core::ErrorReference::generate(),
            }),
        },
        ControlRequest::Sync => {
            let report = guard.sync().await;
            let failures: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
            let mut value = serde_json::to_value(&report).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("failures".into(), json!(failures));
            }
            Ok((value.clone(), value))
        }
    };
    let (response, result) = match outcome {
        Ok((value, summary)) => (
            ControlResponse::success(cmd, value),
            json!({"ok": true, "result": summary}),
        ),
        Err(error) => {
            let shown = ControlFailure {
                code: error.public_code().as_str().to_owned(),
                message: sanitize_text(&error.to_string(), 400),
                reference: error.reference().map(ToString::to_string),
            };
            let result = json!({"ok": false, "code": shown.code, "reason": shown.message, "reference": shown.reference});
            (ControlResponse::failure(Some(cmd), shown), result)
        }
    };
    let event = AuditEvent::security(
        "control_command",
        json!({
            "cmd": cmd.as_str(),
            "uid": peer.uid,
            "user": peer.user,
            "operator": label,
            "reason": reason,
            "result": result,
        }),
    )
    .with_actor(peer.user.clone());
    // Status and sync are frequent and change nothing: recorded with the
    // next group commit. The others are durable before the answer.
    let recorded = if matches!(cmd, ControlCommand::Status | ControlCommand::Sync) {
        guard
            .audit_log()
            .append_deferred_async(event)
            .await
            .map(drop)
    } else {
        guard.audit_log().append_async(event).await.map(drop)
    };
    if let Err(error) = recorded {
        guard.on_audit_failure(&error).await;
    }
    response
}

fn report_values(report: &EmergencyReport) -> (Value, Value) {
    let value = serde_json::to_value(report).unwrap_or_default();
    let summary = json!({
        "complete": report.is_complete(),
        "halted": report.halted,
        "cancelled": report.cancelled.len(),
        "closed": report.closed.len() as u64 + report.closed_unnamed,
        "failures": report.failures.len(),
    });
    (value, summary)
}

fn failure(code: ErrorCode, message: &str) -> ControlFailure {
    ControlFailure {
        code: code.as_str().to_owned(),
        message: sanitize_text(message, 400),
        reference: None,
    }
}
