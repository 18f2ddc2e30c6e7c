//! `cargo run -p ml-bricks --release [-- --port N]`: the Machine Learning with Bricks web app
//! on 127.0.0.1, with the hub simulated. Prints the URL to open.

use anyhow::Context;
use clap::Parser;

/// The Machine Learning with Bricks web app, with a simulated LEGO hub.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    println!("Machine Learning with Bricks: open http://{addr}/ (Ctrl-C stops)");
    ml_bricks::server::serve(listener)
        .await
        .context("the server stopped")
}
