//! The `casebridge` binary: parses the command line and hands over to [`casebridge::cli`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    casebridge::cli::main().await
}
