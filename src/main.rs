fn main() -> std::process::ExitCode {
    kinship::cli::main()
}
