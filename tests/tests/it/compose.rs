//! `docker-compose.yml` cannot run on a machine without Docker, so this checks what it
//! declares: the same services as the local stack, healthchecks, and the environment
//! variables the binaries read.

use serde_yaml::Value;

use e2e::harness::repo_root;

#[test]
fn compose_file_declares_the_whole_topology() {
    let text = std::fs::read_to_string(repo_root().join("docker-compose.yml"))
        .expect("reading docker-compose.yml");
    let compose: Value = serde_yaml::from_str(&text).expect("docker-compose.yml is YAML");
    let services = compose["services"].as_mapping().expect("a services map");
    let service = |name: &str| {
        services
            .get(Value::from(name))
            .unwrap_or_else(|| panic!("docker-compose.yml lacks the {name} service"))
    };

    for name in [
        "postgres",
        "redis",
        "kafka",
        "elasticsearch",
        "command-api",
        "query-api",
        "consumers",
    ] {
        assert!(
            service(name)["healthcheck"]["test"].is_sequence()
                || service(name)["healthcheck"]["test"].is_string(),
            "{name} has a healthcheck"
        );
    }
    let kafka_env = format!("{:?}", service("kafka")["environment"]);
    assert!(
        kafka_env.contains("KAFKA_PROCESS_ROLES"),
        "Kafka runs in KRaft mode"
    );

    let env_of = |name: &str| -> Vec<String> {
        match &service(name)["environment"] {
            Value::Mapping(map) => map
                .keys()
                .filter_map(|key| key.as_str().map(str::to_owned))
                .collect(),
            Value::Sequence(list) => list
                .iter()
                .filter_map(|item| item.as_str()?.split('=').next().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    for (name, variables) in [
        (
            "command-api",
            &[
                "DATABASE_URL",
                "KAFKA_BROKERS",
                "COMMAND_API_LISTEN",
                "LOG_FORMAT",
            ][..],
        ),
        (
            "query-api",
            &["DATABASE_URL", "QUERY_API_LISTEN", "LOG_FORMAT"][..],
        ),
        (
            "consumers",
            &[
                "DATABASE_URL",
                "KAFKA_BROKERS",
                "CONSUMERS_LISTEN",
                "CONSUMER_GROUPS",
            ][..],
        ),
    ] {
        let declared = env_of(name);
        for variable in variables {
            assert!(
                declared.iter().any(|d| d == variable),
                "{name} sets {variable}"
            );
        }
        let depends = format!("{:?}", service(name)["depends_on"]);
        assert!(
            depends.contains("service_healthy"),
            "{name} waits for healthy dependencies"
        );
    }
}
