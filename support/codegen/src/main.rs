//! `cargo run -p codegen`: rewrites every generated file (see the library); `--check` only
//! lists the stale ones and fails if there are any.

use std::process::ExitCode;

fn main() -> ExitCode {
    let root = codegen::repository_root();
    if std::env::args().any(|a| a == "--check") {
        let stale = codegen::stale(&root);
        for line in &stale {
            eprintln!("{line}: run cargo run -p codegen");
        }
        return if stale.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match codegen::write(&root) {
        Ok(written) if written.is_empty() => {
            println!("every generated file is up to date");
            ExitCode::SUCCESS
        }
        Ok(written) => {
            for path in written {
                println!("wrote {path}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
