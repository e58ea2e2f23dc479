//! Running the independent JavaScript checks of `contracts/js` from the integration tests
//! (shared by `tests/evm.rs` and `tests/cosmos.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The workspace root (`contracts/` lives there).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Runs `contracts/js/<script>` with `input` as JSON on stdin and returns the JSON it prints.
/// Fails the test, with `how_to` as the instruction, when node or the npm packages are missing.
pub(crate) fn run_js(script: &str, input: &Value, how_to: &str) -> Value {
    assert!(
        repo_root().join("contracts/node_modules").exists(),
        "contracts/node_modules is missing: {how_to}"
    );
    let mut child = Command::new("node")
        .arg(repo_root().join("contracts/js").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): {how_to}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to node");
    let out = child.wait_with_output().expect("node exits");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}
