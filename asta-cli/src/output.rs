//! Writing to standard output without panicking when the reader goes away.
//!
//! `println!` panics on a closed pipe (`asta audit tail | head`). Commands
//! print through [`say!`](crate::say) instead: a closed pipe ends the process
//! quietly, as it does for other Unix tools, once whatever the command had to
//! make durable is already on disk.

use std::io::Write;

/// Writes one line to standard output; exits quietly if the pipe is closed.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(error) = result {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(i32::from(crate::failure::EXIT_INTERNAL));
    }
}

/// `println!` that survives a closed pipe (see the module docs).
#[macro_export]
macro_rules! say {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// Prints `value` as pretty JSON (for `--json`) and succeeds.
pub fn json(value: &serde_json::Value) -> crate::failure::CommandResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::failure::Failure::internal("report a bug", e))?;
    line(format_args!("{text}"));
    Ok(crate::failure::EXIT_OK)
}
