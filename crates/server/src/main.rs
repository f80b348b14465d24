//! `push-server`: one hub, seven push transports. See `pushbench_server::cli` for the flags.

use clap::Parser;

/// mimalloc rather than the system allocator: hyper allocates for every request it serves, and
/// with glibc's malloc, allocating and freeing took 11% of push-server's CPU on long polls at
/// 200 subscribers × 100 messages/s.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One hub, seven push transports: short-poll, long-poll, xhr-stream, iframe, sse, websocket on
/// the HTTP port, raw TCP on its own.
#[derive(Debug, Parser)]
#[command(name = "push-server", version)]
struct Cli {
    #[command(flatten)]
    args: pushbench_server::cli::Args,
}

fn main() -> anyhow::Result<()> {
    let args = Cli::parse().args;
    pushbench_server::cli::init_logging();
    args.runtime()?.block_on(pushbench_server::cli::serve(args))
}
