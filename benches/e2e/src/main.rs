//! End-to-end HTTP benchmark: an axum server on 127.0.0.1 with and without steadfast's
//! server-side layers or tower-http's timeouts, and a hyper client with and without
//! steadfast's client-side layers or another crate's.
//!
//! ```sh
//! steadfast-e2e server MODE PORT            # serve until killed
//! steadfast-e2e client MODE URL SECS CONNS  # drive load, print a result line
//! steadfast-e2e modes server|client         # list the modes, one a line
//! ```
//!
//! The server modes are in [`server::MODES`], the client modes in [`client::MODES`].
//! `benches/e2e.sh` runs the comparison in requests per second: the servers under `wrk` (from
//! the distribution's packages), and the clients against the bare server. The client prints
//! `requests_per_second p50_us p99_us errors requests` on one line.
//! `benches/e2e-callgrind.sh` counts the instructions each process runs per request under
//! callgrind and prints the comparison table.

use std::time::Duration;

use steadfast::BoxError;

mod client;
mod server;

fn usage() -> ! {
    eprintln!(
        "usage: steadfast-e2e server {} PORT\n       steadfast-e2e client {} URL SECS CONNS\n       steadfast-e2e modes server|client",
        server::MODES.join("|"),
        client::MODES.join("|"),
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["server", mode, port] if server::MODES.contains(mode) => {
            server::server(mode, port.parse()?).await
        }
        ["client", mode, url, secs, conns] if client::MODES.contains(mode) => {
            client::client(
                mode,
                url,
                Duration::from_secs(secs.parse()?),
                conns.parse()?,
            )
            .await
        }
        ["modes", "server"] => {
            println!("{}", server::MODES.join("\n"));
            Ok(())
        }
        ["modes", "client"] => {
            println!("{}", client::MODES.join("\n"));
            Ok(())
        }
        _ => usage(),
    }
}
