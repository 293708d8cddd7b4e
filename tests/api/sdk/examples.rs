//! `examples/c` compiled with `-Wall -Werror` and run, and `examples/python` run, against a real
//! server.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Sdk, shared_library};
use crate::client_api::machine;
use crate::with_sdk;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &mut Command) -> (i32, String) {
    let out = program.output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), printed)
}

fn library_dir() -> PathBuf {
    shared_library().parent().unwrap().to_path_buf()
}

fn example_args(sdk: &Sdk, program: &mut Command, dir: &Path) {
    program
        .arg(&sdk.market.app.address)
        .arg(dir)
        .arg(sdk.keys_file());
}

with_sdk!(
    the_c_example_builds_cleanly_and_runs,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKEXAMPLEC1", 1).await;
        let binary = sdk.dirs.path().join("license_check");
        let (code, printed) = run(Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(repo().join("crates/koolicense-client/include"))
            .arg(repo().join("examples/c/license_check.c"))
            .arg("-L")
            .arg(library_dir())
            .args(["-lkoolicense_client", "-o"])
            .arg(&binary));
        assert_eq!(code, 0, "{printed}");

        let dir = sdk.dir("c");
        let mut first = Command::new(&binary);
        example_args(&sdk, &mut first, &dir);
        first
            .args(["PLSDKEXAMPLEC1", &machine(1)])
            .env("LD_LIBRARY_PATH", library_dir());
        let (code, printed) = run(&mut first);
        assert_eq!(code, 0, "{printed}");
        assert!(
            printed.contains("kl_activate KL_OK: Licensed."),
            "{printed}"
        );
        assert!(printed.contains("kl_is_genuine KL_OK"), "{printed}");
        assert!(printed.contains("license {\"v\":1,"), "{printed}");

        // Started again, without a code: the stored license is enough.
        let mut again = Command::new(&binary);
        example_args(&sdk, &mut again, &dir);
        again
            .args(["", &machine(1)])
            .env("LD_LIBRARY_PATH", library_dir());
        let (code, printed) = run(&mut again);
        assert_eq!(code, 0, "{printed}");
        assert!(!printed.contains("kl_activate"), "{printed}");
        assert!(printed.contains("kl_is_genuine KL_OK"), "{printed}");
        // Another machine's fingerprint: the license is not for it.
        let mut elsewhere = Command::new(&binary);
        example_args(&sdk, &mut elsewhere, &dir);
        elsewhere
            .args(["", &machine(9)])
            .env("LD_LIBRARY_PATH", library_dir());
        let (code, printed) = run(&mut elsewhere);
        assert_eq!(code, 7, "{printed}");
        assert!(
            printed.contains("kl_is_genuine KL_FINGERPRINT_MISMATCH"),
            "{printed}"
        );
    }
);

with_sdk!(
    the_python_example_runs_through_ctypes,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKEXAMPLEP1", 1).await;
        let mut program = Command::new("python3");
        program.arg(repo().join("examples/python/license_check.py"));
        example_args(&sdk, &mut program, &sdk.dir("python"));
        program
            .args(["PLSDKEXAMPLEP1", &machine(2)])
            .env("KOOLICENSE_CLIENT_LIB", shared_library());
        let (code, printed) = run(&mut program);
        assert_eq!(code, 0, "{printed}");
        assert!(printed.contains("kl_activate KL_OK"), "{printed}");
        assert!(printed.contains("kl_is_genuine KL_OK"), "{printed}");
        assert!(printed.contains("license {\"v\":1,"), "{printed}");
        assert_eq!(sdk.market.live("PLSDKEXAMPLEP1"), 1);
    }
);
