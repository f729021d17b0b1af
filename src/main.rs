//! The `tokenbroker` binary: everything lives in the library so tests and the binary share it.

use std::process::ExitCode;

#[cfg(all(feature = "mimalloc", feature = "jemalloc"))]
compile_error!("features `jemalloc` (a default) and `mimalloc` both choose the allocator: add --no-default-features");

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Without its background thread jemalloc purges freed pages only when the process
    // allocates again: an idle broker would keep the memory of a burst of connections.
    #[cfg(feature = "jemalloc")]
    if let Err(err) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!("jemalloc background thread not started: {err}");
    }
    tokenbroker::cli::run().await
}
