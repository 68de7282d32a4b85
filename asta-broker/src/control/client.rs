//! The operator's side of the control socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{ControlRequest, ControlResponse, MAX_RESPONSE_BYTES};

/// How long [`ControlClient`] waits for an answer by default: a session
/// that takes longer than this to answer `status` counts as hung.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends requests to the session listening on a control socket.
#[derive(Debug, Clone)]
pub struct ControlClient {
    socket: PathBuf,
    timeout: Duration,
}

/// Why no answer came from the session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlClientError {
    /// Nobody listens: no socket file, or a socket nobody accepts on.
    #[error("no session listens on {path}")]
    NotListening {
        /// The socket.
        path: PathBuf,
    },
    /// Connected (or connecting), but no complete answer within the timeout:
    /// the session is hung, stopped or overloaded.
    #[error("the session on {path} did not answer within {waited:?}")]
    NoAnswer {
        /// The socket.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The exchange failed half-way (the session closed the connection).
    #[error("control connection to {path} failed: {detail}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The cause.
        detail: String,
    },
    /// The answer is not a control answer.
    #[error("the session's answer is unreadable: {detail}")]
    BadAnswer {
        /// What is wrong.
        detail: String,
    },
}

impl ControlClient {
    /// A client for the session on `socket`, waiting
    /// [`DEFAULT_ANSWER_TIMEOUT`] for answers.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            timeout: DEFAULT_ANSWER_TIMEOUT,
        }
    }

    /// Waits `timeout` for an answer instead.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Sends `request` and reads the session's one-line answer, all within
    /// the timeout.
    ///
    /// # Errors
    ///
    /// [`ControlClientError`]: nobody listens, no answer in time, the
    /// connection failed, or the answer is unreadable. A refusal by the
    /// session is an `Ok` answer with `ok: false`.
    pub async fn send(
        &self,
        request: &ControlRequest,
    ) -> Result<ControlResponse, ControlClientError> {
        let line = request.to_line();
        match tokio::time::timeout(self.timeout, self.exchange(&line)).await {
            Ok(result) => result,
            Err(_) => Err(ControlClientError::NoAnswer {
                path: self.socket.clone(),
                waited: self.timeout,
            }),
        }
    }

    async fn exchange(&self, line: &[u8]) -> Result<ControlResponse, ControlClientError> {
        let mut stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ControlClientError::NotListening {
                        path: self.socket.clone(),
                    }
                }
                _ => self.io(&e),
            })?;
        stream.write_all(line).await.map_err(|e| self.io(&e))?;
        let mut reader = BufReader::new(stream);
        let mut answer = Vec::new();
        let limit = u64::try_from(MAX_RESPONSE_BYTES).unwrap_or(u64::MAX) + 1;
        (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut answer)
            .await
            .map_err(|e| self.io(&e))?;
        if answer.len() > MAX_RESPONSE_BYTES {
            return Err(ControlClientError::BadAnswer {
                detail: format!("longer than {MAX_RESPONSE_BYTES} bytes"),
            });
        }
        if answer.last() != Some(&b'\n') {
            return Err(ControlClientError::Io {
                path: self.socket.clone(),
                detail: "the session closed the connection without a complete answer".to_owned(),
            });
        }
        serde_json::from_slice(&answer).map_err(|e| ControlClientError::BadAnswer {
            detail: format!("not a control answer at column {}", e.column()),
        })
    }

    fn io(&self, error: &std::io::Error) -> ControlClientError {
        ControlClientError::Io {
            path: self.socket.clone(),
            detail: error.to_string(),
        }
    }
}
