//! Embeds the provider presets: every `connectors/*.toml` becomes an entry of
//! the list `src/connectors/presets.rs` includes, so adding a provider is
//! adding a file. (The `include_dir` crate embeds a folder too, but cargo
//! does not rebuild when a file is added to it; a build script that names
//! the folder is rebuilt then.)

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

fn main() -> Result<(), Box<dyn Error>> {
    let folder = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("connectors");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", folder.display());

    let mut presets = Vec::new();
    for entry in fs::read_dir(&folder)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let name = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .ok_or_else(|| format!("{}: not a UTF-8 file name", path.display()))?
                .to_owned();
            let path = path
                .to_str()
                .ok_or_else(|| format!("{}: not a UTF-8 path", path.display()))?
                .to_owned();
            presets.push((name, path));
        }
    }
    presets.sort();

    // `{:?}` of a str is a Rust string literal, escapes included.
    let mut list = String::from("&[\n");
    for (name, path) in &presets {
        writeln!(list, "    ({name:?}, include_str!({path:?})),")?;
    }
    list.push_str("]\n");
    fs::write(
        PathBuf::from(env::var("OUT_DIR")?).join("connector_presets.rs"),
        list,
    )?;
    Ok(())
}
