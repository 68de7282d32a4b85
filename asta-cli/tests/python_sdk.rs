//! The official OpenAlgo Python SDK (`openalgo` from PyPI) drives a sandbox
//! `asta serve`: place, modify, cancel, order status, order book, position
//! book, funds and a smart order answer as the SDK expects; a refused order
//! comes back as an OpenAlgo error; a wrong key gets 403.
//!
//! The test makes its own virtualenv under the target directory and
//! installs the pinned SDK (`tests/sdk/requirements.txt`) into it once; the
//! steps themselves are in `tests/sdk/openalgo_sdk_check.py`. Only a
//! machine without `python3` skips it, loudly; a failed install fails it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::serve::{Project, Server};

/// The SDK version the requirements pin (checked after the install).
const SDK_VERSION: &str = "1.0.47";

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn must(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A virtualenv with the pinned SDK, made once per target directory; `None`
/// when the machine has no `python3`.
fn venv_python() -> Option<PathBuf> {
    if Command::new("python3").arg("--version").output().is_err() {
        return None;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openalgo-sdk-venv");
    let python = venv.join("bin/python");
    let check = format!(
        "import importlib.metadata as m, sys; sys.exit(m.version('openalgo') != '{SDK_VERSION}')"
    );
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", &check])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        must(
            "python3 -m venv",
            &run(Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv)),
        );
        must(
            "pip install of the OpenAlgo SDK (needs PyPI)",
            &run(Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--only-binary=:all:",
                    "-r",
                ])
                .arg(sdk_dir().join("requirements.txt"))),
        );
        must(
            "the pinned SDK version",
            &run(Command::new(&python).args(["-c", &check])),
        );
    }
    Some(python)
}

#[test]
fn the_openalgo_python_sdk_trades_through_asta_serve() {
    let Some(python) = venv_python() else {
        eprintln!(
            "\n!!! SKIPPED the OpenAlgo Python SDK test: python3 is missing on this machine !!!\n"
        );
        return;
    };
    let project = Project::new("127.0.0.1:0", "");
    let key = project.issue("sdk-client", "trade", Some("sdk"));
    let server = Server::start(project.path());
    let host = format!("http://{}", server.addr);

    let output = run(Command::new(&python)
        .arg(sdk_dir().join("openalgo_sdk_check.py"))
        .args([host.as_str(), key.as_str(), "sdk"])
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    let steps = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{steps}");
    must("the SDK steps", &output);
    for step in [
        "placeorder",
        "orderstatus",
        "modifyorder",
        "orderbook",
        "cancelorder",
        "placeorder market",
        "positionbook",
        "funds",
        "placesmartorder",
        "refused order",
        "wrong key",
        "analyzer toggle refused",
        "analyzer status",
    ] {
        assert!(
            steps.lines().any(|l| l == format!("ok {step}")),
            "step {step} did not pass:\n{steps}"
        );
    }

    let (exit, out, err) = server.stop();
    assert!(exit.success(), "asta serve did not stop cleanly: {err}");
    assert!(
        !out.contains(&key) && !err.contains(&key),
        "the client key reached the server's output"
    );
}
