//! Contracts with clients: the OpenAPI documents are snapshots (drift fails here; after
//! an intended change run the suite with `UPDATE_SNAPSHOTS=1`), and every binary
//! documents its configuration in `--help`.

use std::{fs, process::Command};

use e2e::harness::{binary, repo_root};

fn check_openapi_snapshot(service: &str) {
    let output = Command::new(binary(service))
        .arg("openapi")
        .output()
        .expect("running the binary");
    assert!(output.status.success(), "{service} openapi");
    let document = String::from_utf8(output.stdout).expect("UTF-8");
    let path = repo_root()
        .join("docs/openapi")
        .join(format!("{service}.json"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::create_dir_all(path.parent().expect("parent")).expect("creating docs/openapi");
        fs::write(&path, &document).expect("writing the snapshot");
        return;
    }
    let snapshot = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        snapshot == document,
        "the OpenAPI document of {service} differs from {}; if intended, rerun with UPDATE_SNAPSHOTS=1",
        path.display()
    );
}

#[test]
fn command_api_openapi_matches_its_snapshot() {
    check_openapi_snapshot("command-api");
}

#[test]
fn query_api_openapi_matches_its_snapshot() {
    check_openapi_snapshot("query-api");
}

#[test]
fn every_binary_documents_its_configuration() {
    for (service, expected) in [
        (
            "command-api",
            &[
                "DATABASE_URL",
                "KAFKA_BROKERS",
                "COMMAND_API_LISTEN",
                "ARGON2_MEMORY_KIB",
            ][..],
        ),
        ("query-api", &["DATABASE_URL", "QUERY_API_LISTEN"][..]),
        (
            "consumers",
            &[
                "DATABASE_URL",
                "KAFKA_BROKERS",
                "CONSUMER_GROUPS",
                "CONSUMER_MAX_ATTEMPTS",
            ][..],
        ),
    ] {
        let output = Command::new(binary(service))
            .arg("--help")
            .output()
            .expect("running --help");
        assert!(output.status.success(), "{service} --help");
        let help = String::from_utf8_lossy(&output.stdout);
        for variable in expected {
            assert!(
                help.contains(variable),
                "{service} --help mentions {variable}"
            );
        }
    }
}
