//! The committed C header is what cbindgen makes of `src/ffi.rs` today: CI fails when it is
//! stale. `KOOLICENSE_WRITE_HEADER=1 cargo test -p koolicense-client --test header` rewrites it.

use std::path::Path;

#[test]
fn the_committed_header_is_generated_from_the_source() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cbindgen.toml: {e}"));
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen: {e}"))
        .write(&mut generated);
    let path = crate_dir.join("include/koolicense.h");
    if std::env::var_os("KOOLICENSE_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run KOOLICENSE_WRITE_HEADER=1 cargo test -p koolicense-client --test header",
        path.display()
    );
}
