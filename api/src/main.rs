//! The `linkwell` binary.

fn main() -> std::process::ExitCode {
    linkwell_api::cli::run()
}
