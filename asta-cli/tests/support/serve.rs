//! A sandbox project made by `asta init` and a running `asta serve`, for
//! the tests that drive the gateway (serve, the Python SDK, the console).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asta_vault::{Totp, TotpConfig};
use chrono::Utc;

use super::{asta, asta_with_stdin, enrolled_secret, ok};

// ------------------------------------------------------------- the project

/// Test settings appended to the `asta init` configuration: an exact
/// account-wide rate limit of 5 orders a second, no rejection breaker in
/// the way, any port.
pub const TEST_RISK: &str = "
[risk.rate_limits]
max_modifications_per_order = 10
[risk.rate_limits.account]
per_second = 5
per_minute = 500
per_day = 5000
[risk.rate_limits.strategy]
per_second = 5
per_minute = 500
per_day = 5000
[risk.rate_limits.segment]
per_second = 5
per_minute = 500
per_day = 5000
[risk.breakers]
max_rejections = 1000
";

/// A project directory made by `asta init`, with the test settings and an
/// enrolled operator TOTP.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub secret: String,
    last_step: Mutex<u64>,
}

impl Project {
    /// `asta init` with the test's settings, and an enrolled operator TOTP.
    pub fn new(listen: &str, extra: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ok(asta(d, &["init"]));
        let path = d.join("asta.toml");
        let config = std::fs::read_to_string(&path).unwrap();
        assert!(config.contains("[serve]") && config.contains("always_open = true"));
        let config = config
            .replace(
                "listen = \"127.0.0.1:5010\"",
                &format!("listen = \"{listen}\""),
            )
            .replace("request_timeout_secs = 10", "request_timeout_secs = 4");
        std::fs::write(&path, format!("{config}{TEST_RISK}{extra}")).unwrap();
        let secret = enrolled_secret(&ok(asta(d, &["totp", "enroll"])));
        Project {
            dir,
            secret,
            last_step: Mutex::new(0),
        }
    }

    /// The project directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A TOTP code the vault has not seen: the earliest step after the
    /// last one used that stays within the accepted skew (one step either
    /// side) for at least ten more seconds, so a loaded machine still
    /// checks it in time.
    pub fn fresh_code(&self) -> String {
        let totp = Totp::from_base32(
            &secrecy::SecretString::from(self.secret.as_str()),
            TotpConfig::default(),
        )
        .unwrap();
        let mut last = self.last_step.lock().unwrap();
        loop {
            let now = u64::try_from(Utc::now().timestamp()).unwrap();
            let current = now / 30;
            let left_in_step = 30 - now % 30;
            let earliest = if left_in_step >= 10 {
                current - 1
            } else {
                current
            };
            let step = (*last + 1).max(earliest);
            if step <= current + 1 {
                *last = step;
                let at = chrono::DateTime::from_timestamp(i64::try_from(step * 30).unwrap() + 1, 0)
                    .unwrap();
                return totp.code_at(at).unwrap().as_str().to_owned();
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Serves over TLS: writes the certificate and key (DER) as
    /// `tls/cert.pem` and `tls/key.pem` and turns on the configuration's
    /// commented-out `tls_cert` and `tls_key`.
    pub fn use_tls(&self, cert_der: &[u8], key_der: &[u8]) {
        let d = self.path();
        std::fs::create_dir_all(d.join("tls")).unwrap();
        std::fs::write(d.join("tls/cert.pem"), pem("CERTIFICATE", cert_der)).unwrap();
        std::fs::write(d.join("tls/key.pem"), pem("PRIVATE KEY", key_der)).unwrap();
        let path = d.join("asta.toml");
        let config = std::fs::read_to_string(&path)
            .unwrap()
            .replace(
                "# tls_cert = \"tls/cert.pem\"",
                "tls_cert = \"tls/cert.pem\"",
            )
            .replace("# tls_key = \"tls/key.pem\"", "tls_key = \"tls/key.pem\"");
        std::fs::write(&path, config).unwrap();
    }

    /// Issues a client key and returns its value.
    pub fn issue(&self, name: &str, scope: &str, strategy: Option<&str>) -> String {
        let mut args = vec!["keys", "issue", name, "--scope", scope];
        if let Some(strategy) = strategy {
            args.extend(["--strategy", strategy]);
        }
        let stdin = if scope == "read" {
            String::new()
        } else {
            format!("{}\n", self.fresh_code())
        };
        let out = ok(asta_with_stdin(self.path(), &args, &stdin));
        out.split_whitespace()
            .find(|w| w.starts_with("asta_ck_"))
            .unwrap_or_else(|| panic!("no key in {out}"))
            .to_owned()
    }
}

/// DER as PEM text with the given label, 64 characters a line.
pub fn pem(label: &str, der: &[u8]) -> String {
    let text = data_encoding::BASE64.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A client builder that trusts only the certificate `cert_der` and sends
/// `name` to `addr`.
pub fn https_trusting(cert_der: &[u8], name: &str, addr: SocketAddr) -> reqwest::ClientBuilder {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der.to_vec()))
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .resolve(name, addr)
}

// -------------------------------------------------------------- the server

/// A running `asta serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: Receiver<String>,
    /// Everything the server printed on standard output so far.
    pub stdout_seen: Arc<Mutex<String>>,
    stderr_seen: Arc<Mutex<String>>,
}

impl Server {
    /// `asta serve` in `dir` with an empty standard input.
    pub fn start(dir: &Path) -> Server {
        Server::start_with_stdin(dir, "")
    }

    /// `asta serve` with `stdin` on its standard input (a live session's
    /// TOTP code, as a service manager would pass it).
    pub fn start_with_stdin(dir: &Path, stdin: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_asta"))
            .current_dir(dir)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        let stdout_seen = Arc::new(Mutex::new(String::new()));
        let stderr_seen = Arc::new(Mutex::new(String::new()));
        let (tx, stdout) = channel();
        let out = child.stdout.take().unwrap();
        let seen = Arc::clone(&stdout_seen);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                seen.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let seen = Arc::clone(&stderr_seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    return;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let first = stdout
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                std::thread::sleep(Duration::from_millis(300));
                panic!("asta serve did not start: {}", stderr_seen.lock().unwrap())
            });
        let url = first
            .strip_prefix("asta serve: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let addr = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .parse()
            .unwrap();
        let server = Server {
            child,
            addr,
            stdout,
            stdout_seen,
            stderr_seen,
        };
        // The rest of the banner.
        for _ in 0..2 {
            let _ = server.stdout.recv_timeout(Duration::from_secs(10));
        }
        server
    }

    /// The URL of an OpenAlgo v1 endpoint on this server.
    pub fn url(&self, endpoint: &str) -> String {
        format!("http://{}/api/v1/{endpoint}", self.addr)
    }

    /// Everything the server printed on standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr_seen.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status and everything printed.
    pub fn stop(mut self) -> (std::process::ExitStatus, String, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "asta serve did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(200));
        let out = self.stdout_seen.lock().unwrap().clone();
        let err = self.stderr();
        (exit, out, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
