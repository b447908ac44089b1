//! `xacthuc-signer`: the command line of the local signing agent (see `docs/signer.md`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use xacthuc_signer::{Agent, Config, DEFAULT_MODULE, DEFAULT_PORT, PinSource};

/// Signs xacthuc login challenges with a USB token, for the login page, on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "xacthuc-signer", version)]
struct Args {
    /// The token's PKCS#11 module.
    #[arg(long, env = "XACTHUC_SIGNER_MODULE", default_value = DEFAULT_MODULE)]
    module: PathBuf,
    /// The port on 127.0.0.1 (0: any free port, printed on the first line of standard output).
    #[arg(long, env = "XACTHUC_SIGNER_PORT", default_value_t = DEFAULT_PORT)]
    port: u16,
    /// An origin whose pages may use the agent (repeatable).
    #[arg(long = "allow-origin", default_values_t = ["http://localhost:8080".to_string()])]
    allow_origin: Vec<String>,
    /// A shell command whose first line of output is the PIN (default: `pinentry`).
    #[arg(long, env = "XACTHUC_SIGNER_PIN_COMMAND")]
    pin_command: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("XACTHUC_SIGNER_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let agent = match Agent::open(Config {
        module: args.module,
        allowed_origins: args.allow_origin,
        pin: PinSource::from_args(args.pin_command),
    }) {
        Ok(agent) => agent,
        Err(e) => {
            eprintln!("xacthuc-signer: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Loopback only: the agent is for the browser on this computer.
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("xacthuc-signer: cannot listen on {address}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => println!("listening on http://{bound}"),
        Err(e) => eprintln!("xacthuc-signer: {e}"),
    }
    tokio::select! {
        served = xacthuc_signer::serve(listener, agent) => {
            if let Err(e) = served {
                eprintln!("xacthuc-signer: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        _ = tokio::signal::ctrl_c() => {}
    }
    std::process::ExitCode::SUCCESS
}
