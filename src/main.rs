// See Cargo.toml: measured in the bulk import.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kinship::cli::main()
}
