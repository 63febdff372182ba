//! The `mt` command: parse arguments, run one subcommand, print any error, exit.

mod cli;

fn main() {
    let args = cli::parse_env();
    let code = match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mt: {}", cli::output::escaped(&err.to_string()));
            err.exit_code()
        }
    };
    std::process::exit(code);
}
