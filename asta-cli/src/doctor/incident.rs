//! The incident response plan is where the operator will look for it.

use super::CheckResult;
use crate::commands::init::INCIDENT_RESPONSE_PATH;
use crate::config::Config;

/// PASS when `docs/incident-response.md` is next to the configuration and
/// names every scenario of the plan; FAIL otherwise.
pub fn check_incident_response(config: &Config) -> CheckResult {
    const ID: &str = "incident-response";
    let path = config.base_dir.join(INCIDENT_RESPONSE_PATH);
    let fix = format!(
        "copy the plan shipped with asta (asta-cli/docs/incident-response.md) to {} and adapt it; `asta init` writes it",
        path.display()
    );
    let Ok(text) = std::fs::read_to_string(&path) else {
        return CheckResult::fail(
            ID,
            format!("no incident response plan at {}", path.display()),
            fix,
        );
    };
    let lower = text.to_lowercase();
    let missing: Vec<&str> = [
        "breaker",
        "leaked",
        "verification",
        "hangs",
        "session expired",
    ]
    .into_iter()
    .filter(|topic| !lower.contains(topic))
    .collect();
    if missing.is_empty() {
        CheckResult::pass(ID, format!("{} covers every scenario", path.display()))
    } else {
        CheckResult::fail(
            ID,
            format!("{} does not cover: {}", path.display(), missing.join(", ")),
            fix,
        )
    }
}
