//! The README's walk-throughs, run as written: a newcomer pastes them into one shell, so every
//! variable they use must be set by an earlier line and every answer must be what it says.

use std::process::Command;

use serde_json::Value;
use uuid::Uuid;

use crate::cli::{database_url, linkwell};
use crate::support::TestApp;

/// The shell blocks from "A first referral with curl" up to the roles table, in order.
fn walk_through() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## A first referral with curl")
        .expect("README has its first-referral section");
    let end = start
        + readme[start..]
            .find("\n## Roles")
            .expect("README has its roles");
    let mut script = String::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a closed code block");
        script.push_str(&body[..close]);
        script.push('\n');
        rest = &body[close + 4..];
    }
    script
}

#[tokio::test]
async fn the_readme_walk_through_runs_as_written() {
    let app = TestApp::spawn().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let script: String = walk_through()
        .lines()
        // The test has built the binary and started the server already.
        .filter(|line| !line.starts_with("cargo build") && !line.starts_with("linkwell &"))
        .map(|line| line.replace("localhost:8080", &host) + "\n")
        .collect();
    assert!(script.contains("ID=$("), "the walk-through sets $ID");
    let exe = linkwell().get_program().to_owned();
    let bin_dir = std::path::Path::new(&exe).parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let database = database_url(&app);
    let key_file = app.key_file.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            // -u: a variable the README never set fails here, not in a reader's shell.
            .arg(format!(
                "set -eu\n{script}\nprintf '\\nID=%s CONN=%s\\n' \"$ID\" \"$CONN\"\n"
            ))
            .env("PATH", path)
            .env("LINKWELL_SIGNING_KEY_FILE", key_file)
            .env("DATABASE_URL", database)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let ids = stdout.lines().last().unwrap();
    let id_of = |name: &str| -> Uuid {
        let value = ids
            .split(' ')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap();
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} is {value:?}: {stdout}\n{stderr}"))
    };
    let (referral, connection) = (id_of("ID"), id_of("CONN"));

    // Every step did what the README says it does.
    let admin = app.admin();
    let read = app.get(&format!("/v1/referrals/{referral}"), &admin).await;
    assert_eq!(read.body["status"], "active", "{}", read.text);
    assert!(!read.body["first_contact_at"].is_null());
    let conn = app
        .get(&format!("/v1/connections/{connection}"), &admin)
        .await;
    assert_eq!(
        (&conn.body["status"], &conn.body["outcome"]),
        (&Value::from("completed"), &Value::from("got_help")),
        "{}",
        conn.text
    );
    let outcomes = app
        .get(&format!("/v1/referrals/{referral}/outcomes"), &admin)
        .await;
    assert_eq!(outcomes.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        outcomes.body["change"]["swemwbs"]["meaningful_improvement"],
        true
    );
    let plan = app
        .get(&format!("/v1/referrals/{referral}/plan"), &admin)
        .await;
    assert_eq!(plan.body["version"], 1, "{}", plan.text);
    assert!(
        stdout.contains("\"reference\":\"LW-"),
        "the self-referral answered its reference: {stdout}"
    );
}
