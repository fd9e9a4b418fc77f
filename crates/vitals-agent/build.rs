//! Build script: records the commit the agent is built from, for `vitals --version` and
//! the `vitals_build_info` metric ([`build::COMMIT`](src/lib.rs)). `VITALS_COMMIT` (for builds outside a git checkout,
//! such as a container build) wins over `git rev-parse`; with neither it is `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=VITALS_COMMIT");
    let from_env = std::env::var("VITALS_COMMIT").ok().filter(|c| !c.trim().is_empty());
    let commit = from_env.or_else(|| {
        let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
        // Rebuild when HEAD moves: HEAD itself and the branch it points at.
        for path in [Some("HEAD".to_string()), git(&["symbolic-ref", "-q", "HEAD"])]
            .into_iter()
            .flatten()
        {
            if let Some(file) = git(&["rev-parse", "--git-path", &path])
                && std::path::Path::new(&file).exists()
            {
                println!("cargo:rerun-if-changed={file}");
            }
        }
        Some(commit)
    });
    println!(
        "cargo:rustc-env=VITALS_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
