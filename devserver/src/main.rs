//! `musubi-devserver` command line: binds, prints `listening on http://HOST:PORT`, serves.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use musubi_devserver::{ServerConfig, WireMode};

/// Reference server for musubi-wasm tests and demos: Phoenix Channels v2 + test channels.
#[derive(Debug, Parser)]
#[command(name = "musubi-devserver", version)]
struct Cli {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind (0 picks a free port; the real one is printed).
    #[arg(long, default_value_t = 4000)]
    port: u16,
    /// Drop a socket that sends no frame for this long.
    #[arg(long, default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Mount the fault-injection endpoints under /_test/.
    #[arg(long)]
    test_endpoints: bool,
    /// Serve this directory at / (index.html for directories).
    #[arg(long, value_name = "PATH")]
    static_dir: Option<PathBuf>,
    /// Musubi wire modes on musubi:* topics: `connection` (0.6.1, one `musubi:connection` channel
    /// per socket), `per-root` (0.12+, one `musubi:connection:<module>:<id>` channel per root) or
    /// `both` (per-root for topics of that form, the connection channel for the rest).
    #[arg(long, value_enum, default_value_t = Wire::Both)]
    wire: Wire,
    /// Fail an upload whose sub-channel gets no chunk for this long (`chunk_timeout`).
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    upload_chunk_timeout_ms: u64,
}

/// The values of `--wire`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Wire {
    Connection,
    PerRoot,
    Both,
}

impl From<Wire> for WireMode {
    fn from(wire: Wire) -> WireMode {
        match wire {
            Wire::Connection => WireMode::Connection,
            Wire::PerRoot => WireMode::PerRoot,
            Wire::Both => WireMode::Both,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = ServerConfig {
        idle_timeout: Duration::from_millis(cli.idle_timeout_ms),
        test_endpoints: cli.test_endpoints,
        static_dir: cli.static_dir,
        wire: cli.wire.into(),
        upload_chunk_timeout: Duration::from_millis(cli.upload_chunk_timeout_ms),
    };
    let listener = match tokio::net::TcpListener::bind((cli.host.as_str(), cli.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("musubi-devserver: cannot bind {}:{}: {error}", cli.host, cli.port);
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(error) => {
            eprintln!("musubi-devserver: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "listening on http://{address}").and_then(|()| stdout.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    tokio::select! {
        served = musubi_devserver::serve(listener, config) => match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("musubi-devserver: {error}");
                ExitCode::FAILURE
            }
        },
        // Either signal ends `main` normally, so the runtime drops the server's state and with
        // it the upload directory.
        () = shutdown_signal() => ExitCode::SUCCESS,
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
