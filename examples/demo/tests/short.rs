//! The demo binary in short mode: exits 0, prints the summary, writes both pictures.

use std::process::Command;

#[test]
fn short_demo_exits_zero_and_writes_both_pictures() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_depin-demo"))
        .args(["--short", "--quiet", "--out"])
        .arg(dir.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for network in ["== wireless:", "== storage:", "== energy:", "== mapping:"] {
        assert!(
            stdout.contains(network),
            "{network} missing from:\n{stdout}"
        );
    }
    assert!(stdout.contains("every pool paid exactly (sum of payouts == pool): yes"));
    assert!(stdout.contains("repeated claim refused"));
    // the mapping network's own policy is reported by reason like the built-in ones
    assert!(stdout.contains("mapping/impossible_speed"), "{stdout}");
    for picture in ["wireless-map.svg", "reward-distribution.svg"] {
        let path = dir.path().join(picture);
        let svg = std::fs::read_to_string(&path)?;
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{picture}"
        );
        assert!(
            stdout.contains(&path.display().to_string()),
            "path of {picture} printed"
        );
    }
    let map = std::fs::read_to_string(dir.path().join("wireless-map.svg"))?;
    assert!(
        map.contains("rejected: impossible_signal"),
        "spoofer links marked"
    );
    assert!(
        map.contains("rejected: collusion_ring"),
        "ring links marked"
    );
    assert!(dir
        .path()
        .join("ledgers")
        .join("depin-demo-wireless.ledger")
        .exists());
    // every network went through a real oracle (by default), whose stores are kept
    assert!(stdout.contains("served by a real oracle: heartbeat frames and proofs over HTTP"));
    assert!(stdout.contains("served by a real oracle: meters over HTTP, chargers over MQTT"));
    assert!(stdout.contains(
        "served by a real oracle: captures and routes over HTTP and MQTT, each with its gossip topic"
    ));
    assert!(stdout.contains(
        "served by a real oracle: beacons and witnesses over HTTP and MQTT, witnesses chosen at its epoch close"
    ));
    assert!(!stdout.contains("not served"), "{stdout}");
    for network in ["wireless", "storage", "energy", "mapping"] {
        let store = dir
            .path()
            .join("oracle")
            .join(format!("depin-demo-{network}.oracle.sqlite"));
        assert!(std::fs::metadata(&store)?.len() > 0, "{}", store.display());
    }
    Ok(())
}

/// `--in-process` runs the same four networks without an oracle, with the same roots.
#[test]
fn in_process_and_served_demos_publish_the_same_roots() -> Result<(), Box<dyn std::error::Error>> {
    let run = |extra: &[&str]| -> Result<String, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let out = Command::new(env!("CARGO_BIN_EXE_depin-demo"))
            .args([
                "--short",
                "--quiet",
                "--networks",
                "wireless,storage,energy,mapping",
                "--out",
            ])
            .arg(dir.path())
            .args(extra)
            .output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let roots = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.trim_start().starts_with("chain: root"))
            .map(|l| l.split_whitespace().nth(2).unwrap_or_default().to_string())
            .collect()
    };
    let served = run(&[])?;
    let local = run(&["--in-process"])?;
    assert!(!local.contains("served by a real oracle"));
    assert_eq!(roots(&served).len(), 8, "{served}");
    assert_eq!(roots(&served), roots(&local));
    Ok(())
}

#[test]
fn bad_flags_are_refused_with_usage() -> Result<(), Box<dyn std::error::Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_depin-demo"))
        .args(["--backend", "evm"])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rpc-url"));
    Ok(())
}

#[test]
fn cosmos_without_a_node_says_so_clearly() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_depin-demo"))
        .args([
            "--backend",
            "cosmos",
            "--networks",
            "energy",
            "--short",
            "--quiet",
            "--rpc-url",
            "http://127.0.0.1:9",
            "--chain-id",
            "testing",
            "--prefix",
            "wasm",
            "--registry-contract",
            "wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq",
            "--distributor-contract",
            "wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq",
            "--private-key",
            "0101010101010101010101010101010101010101010101010101010101010101",
            "--out",
        ])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--features cosmos") || stderr.contains("needs a running node"),
        "{stderr}"
    );
    Ok(())
}
