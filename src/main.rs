//! The `synod` binary: the command line is built from the catalog in `synod::cli`, which parses
//! and dispatches; this file only chooses the allocator and
//! how it gets memory.

use mimalloc::MiMalloc;
use std::process::ExitCode;

/// The checker allocates and frees a few small blocks per state; mimalloc does that markedly
/// faster than glibc's allocator (see docs/decisions.md).
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
    no_transparent_huge_pages();
    synod::cli::main(std::env::args_os())
}

/// Turns transparent huge pages off for this process (mimalloc, built with `no_thp`, no longer
/// asks for them; this also covers kernels that hand them out unasked). Each first touch of a
/// huge page stalled the touching thread for about 30 ms on a 2-core VM: a load thread
/// recording its history stalled every client with it, and the checker ran 7% slower (see
/// docs/decisions.md).
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
