use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The log subscriber is installed by `cli::run` once the configuration ([log]) is read.
    match xacthuc::cli::run(xacthuc::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
