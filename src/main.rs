//! The `synod` binary: the command line is built from the catalog in `synod::cli`, which parses
//! and dispatches; this file only chooses the allocator.

use mimalloc::MiMalloc;
use std::process::ExitCode;

/// The checker allocates and frees a few small blocks per state; mimalloc does that markedly
/// faster than glibc's allocator (see docs/decisions.md).
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
    synod::cli::main(std::env::args_os())
}
