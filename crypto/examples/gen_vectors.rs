//! Rewrites the known-answer vector files: `cargo run --example gen_vectors`
//! (optionally with an output directory; default `vectors/` next to Cargo.toml).

#[path = "../src/test_rng.rs"]
mod test_rng;
#[path = "../tests/support/vectors.rs"]
mod vectors;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors"));
    std::fs::create_dir_all(&dir)?;
    for (name, json) in vectors::all() {
        let path = dir.join(name);
        std::fs::write(&path, json)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
