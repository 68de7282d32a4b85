//! Headless Chromium driven over the DevTools protocol, for the console's
//! browser tests: a small WebSocket client (text frames out, masked; any
//! frames in) over a loopback TCP stream, no extra crates and nothing from
//! the internet.
//!
//! The browser is the distribution's `chromium` (`.ci/run` installs it);
//! `ASTA_CHROMIUM` names another binary. A missing browser is a test
//! failure that says so, never a silent skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the browser is looked for, in order.
const CANDIDATES: &[&str] = &[
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
];

/// A running headless Chromium with its own profile, killed on drop.
pub(crate) struct Chromium {
    child: Child,
    port: u16,
    browser_path: String,
    _profile: tempfile::TempDir,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("ASTA_CHROMIUM") {
        let path = PathBuf::from(path);
        if !path.exists() {
            return Err(format!(
                "Chromium is not installed at ASTA_CHROMIUM={}, so the console's browser test \
                 cannot run. Install the distribution's package (`apt-get install -y chromium`; \
                 .ci/run does this when it is missing) or point ASTA_CHROMIUM at a Chromium binary.",
                path.display()
            ));
        }
        return Ok(path);
    }
    CANDIDATES
        .iter()
        .map(Path::new)
        .find(|path| path.exists())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            "Chromium is not installed, so the console's browser test cannot run. \
             Install the distribution's package (`apt-get install -y chromium`; .ci/run does \
             this when it is missing) or set ASTA_CHROMIUM to a Chromium binary."
                .to_owned()
        })
}

impl Chromium {
    /// Starts the browser headless on a fresh profile; the DevTools port
    /// is read from the profile's `DevToolsActivePort`.
    pub(crate) fn launch() -> Result<Self, String> {
        let binary = find_binary()?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let log = std::fs::File::create(profile.path().join("chromium.log"))
            .map_err(|e| e.to_string())?;
        let child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("Chromium ({}) did not start: {e}", binary.display()))?;
        let mut chromium = Chromium {
            child,
            port: 0,
            browser_path: String::new(),
            _profile: profile,
        };
        let active = chromium._profile.path().join("DevToolsActivePort");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    chromium.port = port.trim().parse().map_err(|_| "bad DevTools port")?;
                    chromium.browser_path = path.trim().to_owned();
                    return Ok(chromium);
                }
            }
            if let Ok(Some(status)) = chromium.child.try_wait() {
                let log = std::fs::read_to_string(chromium._profile.path().join("chromium.log"))
                    .unwrap_or_default();
                return Err(format!(
                    "Chromium exited ({status}) before DevTools was up:\n{log}"
                ));
            }
            if std::time::Instant::now() > deadline {
                return Err("Chromium's DevTools did not come up within 30 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new tab (1280 px wide), attached.
    pub(crate) async fn new_page(&self) -> Result<Page, String> {
        let mut cdp = Cdp::connect(self.port, &self.browser_path).await?;
        let target = cdp
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let target_id = target["targetId"].as_str().ok_or("no targetId")?.to_owned();
        let attached = cdp
            .call(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        cdp.session = attached["sessionId"].as_str().map(str::to_owned);
        let mut page = Page { cdp };
        page.cdp.call("Page.enable", json!({})).await?;
        page.cdp
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await?;
        Ok(page)
    }
}

/// One tab.
pub(crate) struct Page {
    cdp: Cdp,
}

impl Page {
    /// Starts loading `url`.
    pub(crate) async fn goto(&mut self, url: &str) -> Result<(), String> {
        let reply = self.cdp.call("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = reply.get("errorText") {
            return Err(format!("navigation to {url} failed: {error}"));
        }
        Ok(())
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns
    /// its value.
    pub(crate) async fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let reply = self
            .cdp
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(format!("{expression} threw: {details}"));
        }
        Ok(reply["result"]["value"].clone())
    }

    /// Polls `condition` (a JS expression) until it is `true`; the time it
    /// took.
    pub(crate) async fn wait_for(
        &mut self,
        condition: &str,
        timeout: Duration,
    ) -> Result<Duration, String> {
        let start = std::time::Instant::now();
        loop {
            // A navigation in progress can destroy the context: try again.
            if let Ok(Value::Bool(true)) = self.eval(condition).await {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                let url = self.eval("location.href").await.unwrap_or_default();
                let text = self
                    .eval("document.body ? document.body.innerText.slice(0, 400) : ''")
                    .await
                    .unwrap_or_default();
                return Err(format!(
                    "`{condition}` still not true after {timeout:?} (at {url}; the page says {text})"
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Opens the console at `base` and waits (up to 10 s) for its sign-in
    /// form.
    pub(crate) async fn open_sign_in(&mut self, base: &str) -> Result<Duration, String> {
        self.goto(base).await?;
        self.wait_for(
            "!!document.getElementById('sign-in')",
            Duration::from_secs(10),
        )
        .await
    }

    /// Fills the sign-in form with an admin key and a TOTP code and
    /// submits it.
    pub(crate) async fn submit_sign_in(&mut self, key: &str, code: &str) -> Result<Value, String> {
        self.eval(&format!(
            "document.getElementById('key').value = '{key}';\
             document.getElementById('totp').value = '{code}';\
             document.getElementById('sign-in').click(); true"
        ))
        .await
    }

    /// Saves a PNG of the whole page (`full`) or of the 1280x1000 viewport.
    pub(crate) async fn screenshot(&mut self, path: &Path, full: bool) -> Result<(), String> {
        // Headless Chromium now and then answers "Cannot take screenshot
        // with 0 width" while it lays the page out again: try a few times.
        let mut attempt = 0;
        let reply = loop {
            attempt += 1;
            match self
                .cdp
                .call(
                    "Page.captureScreenshot",
                    json!({"format": "png", "captureBeyondViewport": full}),
                )
                .await
            {
                Ok(reply) => break reply,
                Err(problem) if attempt < 10 && problem.contains("0 width") => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(problem) => return Err(problem),
            }
        };
        let data = reply["data"].as_str().ok_or("no screenshot data")?;
        let png = data_encoding::BASE64
            .decode(data.as_bytes())
            .map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| e.to_string())
    }
}

/// A DevTools connection: JSON commands with ids, answers matched by id,
/// events skipped.
struct Cdp {
    stream: TcpStream,
    next_id: u64,
    session: Option<String>,
}

impl Cdp {
    async fn connect(port: u16, path: &str) -> Result<Self, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("DevTools connect: {e}"))?;
        let handshake = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream
            .write_all(handshake.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            stream
                .read_exact(&mut byte)
                .await
                .map_err(|e| format!("DevTools handshake: {e}"))?;
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        if !head.starts_with("HTTP/1.1 101") {
            return Err(format!("DevTools refused the WebSocket: {head}"));
        }
        Ok(Cdp {
            stream,
            next_id: 1,
            session: None,
        })
    }

    async fn send_text(&mut self, text: &str) -> Result<(), String> {
        let payload = text.as_bytes();
        let mask = [0x5a, 0x1c, 0x93, 0x27];
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | u8::try_from(n).unwrap_or(0)),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend(u16::try_from(n).unwrap_or(0).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend(u64::try_from(n).unwrap_or(0).to_be_bytes());
            }
        }
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| format!("DevTools send: {e}"))
    }

    async fn read_message(&mut self) -> Result<String, String> {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream
                .read_exact(&mut head)
                .await
                .map_err(|e| format!("DevTools read: {e}"))?;
            let fin = head[0] & 0x80 != 0;
            let opcode = head[0] & 0x0f;
            let masked = head[1] & 0x80 != 0;
            let mut len = u64::from(head[1] & 0x7f);
            if len == 126 {
                let mut ext = [0u8; 2];
                self.stream
                    .read_exact(&mut ext)
                    .await
                    .map_err(|e| e.to_string())?;
                len = u64::from(u16::from_be_bytes(ext));
            } else if len == 127 {
                let mut ext = [0u8; 8];
                self.stream
                    .read_exact(&mut ext)
                    .await
                    .map_err(|e| e.to_string())?;
                len = u64::from_be_bytes(ext);
            }
            let mut mask = [0u8; 4];
            if masked {
                self.stream
                    .read_exact(&mut mask)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let mut payload = vec![0u8; usize::try_from(len).map_err(|e| e.to_string())?];
            self.stream
                .read_exact(&mut payload)
                .await
                .map_err(|e| e.to_string())?;
            if masked {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
            }
            match opcode {
                0x8 => return Err("DevTools closed the connection".to_owned()),
                0x9 => {
                    // Ping: answer with a pong carrying the same payload.
                    let mut pong = vec![0x8a, 0x80 | u8::try_from(payload.len()).unwrap_or(0)];
                    pong.extend([0, 0, 0, 0]);
                    pong.extend(&payload);
                    self.stream
                        .write_all(&pong)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                0xa => {}
                _ => {
                    message.extend(payload);
                    if fin {
                        return String::from_utf8(message).map_err(|e| e.to_string());
                    }
                }
            }
        }
    }

    /// Sends a command (on the attached page, if any) and waits for its
    /// answer, skipping events.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            command["sessionId"] = json!(session);
        }
        self.send_text(&command.to_string()).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let text = tokio::time::timeout_at(deadline, self.read_message())
                .await
                .map_err(|_| format!("no answer to {method} within 30 s"))??;
            let message: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if message["id"].as_u64() == Some(id) {
                if let Some(error) = message.get("error") {
                    return Err(format!("{method} failed: {error}"));
                }
                return Ok(message["result"].clone());
            }
        }
    }
}
