//! `push-server`: one hub, seven push transports. See `pushbench_server::cli` for the flags.

use clap::Parser;

/// One hub, seven push transports: short-poll, long-poll, xhr-stream, iframe, sse, websocket on
/// the HTTP port, raw TCP on its own.
#[derive(Debug, Parser)]
#[command(name = "push-server", version)]
struct Cli {
    #[command(flatten)]
    args: pushbench_server::cli::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pushbench_server::cli::init_logging();
    pushbench_server::cli::serve(Cli::parse().args).await
}
