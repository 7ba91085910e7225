#[global_allocator]
static ALLOC: kinship::alloc::HugePages = kinship::alloc::HugePages;

fn main() -> std::process::ExitCode {
    kinship::cli::main()
}
