// SPDX-License-Identifier: GPL-2.0
//! The command line of the programs.

use std::process::ExitCode;

/// What `parse` made of the command line, or how the program ends: `--help` (which `parse`
/// reports as an empty error) prints `usage` and succeeds; another error is printed with the
/// usage, and the program ends with `bad`.
pub fn parsed<T>(
    prog: &str,
    usage: &str,
    bad: u8,
    parse: Result<T, String>,
) -> Result<T, ExitCode> {
    match parse {
        Ok(o) => Ok(o),
        Err(msg) if msg.is_empty() => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        Err(msg) => {
            eprintln!("{prog}: {msg}\n{usage}");
            Err(ExitCode::from(bad))
        }
    }
}
