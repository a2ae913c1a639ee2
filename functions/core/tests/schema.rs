//! The published JSON Schema (schema/environment-spec.schema.json) is generated from the spec types;
//! this test fails when it is stale. Regenerate with UPDATE_SCHEMA=1 cargo test -p provisioner-core.

use provisioner_core::EnvironmentSpec;

#[test]
fn published_schema_matches_the_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schema/environment-spec.schema.json");
    let generated = serde_json::to_string_pretty(&EnvironmentSpec::json_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        published, generated,
        "schema is stale: run UPDATE_SCHEMA=1 cargo test -p provisioner-core"
    );
    // Editors autocomplete from it: the fields and the string forms CloudFormation sends are there.
    assert!(generated.contains("\"desiredCount\"") && generated.contains("\"vpcCidr\""));
}
