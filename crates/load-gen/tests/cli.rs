//! The `load-gen` binary: scenario errors are clear and name file, line and field.

use std::process::Command;

fn validate(name: &str, text: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("pushbench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_load-gen"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GOOD: &str = "description = \"d\"\ntransports = [\"sse\"]\nclients = 2\nrate = 1\nmessage_size = 8\nduration = \"1s\"\n";

#[test]
fn every_shipped_scenario_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_load-gen"))
        .arg("validate")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches(": ok").count(),
        files.len()
    );
}

#[test]
fn mistakes_name_file_line_and_field() {
    let (code, out, _) = validate("good.toml", GOOD);
    assert_eq!(code, 0);
    assert!(out.contains("good.toml: ok"));
    let cases = [
        (
            GOOD.replace("clients = 2", "clients = 0"),
            ":3: field `clients`: expected at least 1, got 0",
        ),
        (
            GOOD.replace("\"sse\"", "\"websockets\""),
            ":2: field `transports`: unknown transport \"websockets\"",
        ),
        (
            GOOD.replace("\"1s\"", "\"1\""),
            ":6: field `duration`: \"1\" is not a duration",
        ),
        (
            format!("{GOOD}colour = \"blue\"\n"),
            ":7: field `colour`: unknown field",
        ),
        (
            GOOD.replace("rate = 1", "rate = \"fast\""),
            ":4: field `rate`",
        ),
        (
            GOOD.replace("clients = 2\n", ""),
            "field `clients`: missing required field",
        ),
    ];
    for (text, want) in cases {
        let (code, _, err) = validate("bad.toml", &text);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}
