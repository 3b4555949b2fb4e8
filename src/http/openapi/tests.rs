use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

fn served() -> Vec<Endpoint> {
    super::super::endpoints()
}

fn as_json() -> Value {
    serde_json::to_value(document(&served())).expect("serializes")
}

/// Every (method, path) under `paths`.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[test]
fn the_document_lists_exactly_the_endpoints_the_router_serves() {
    let served: BTreeSet<(String, String)> = served()
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    let documented = documented(&as_json());
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    let stale: Vec<_> = documented.difference(&served).collect();
    assert!(stale.is_empty(), "documented but not served: {stale:?}");
}

#[test]
fn the_operation_table_describes_exactly_the_endpoints_served() {
    let served: BTreeSet<Endpoint> = served().into_iter().collect();
    let described: BTreeSet<Endpoint> = OPERATIONS
        .iter()
        .map(|op| Endpoint {
            method: op.method,
            path: op.path,
        })
        .collect();
    assert_eq!(
        described.len(),
        OPERATIONS.len(),
        "an endpoint is described twice"
    );
    let undescribed: Vec<_> = served.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "served but not in OPERATIONS: {undescribed:?}"
    );
    let stale: Vec<_> = described.difference(&served).collect();
    assert!(stale.is_empty(), "in OPERATIONS but not served: {stale:?}");
}

#[test]
fn an_endpoint_missing_from_the_table_is_still_documented_admin_only() {
    let unknown = Endpoint {
        method: "POST",
        path: "/api/v1/things/{id}",
    };
    let doc = serde_json::to_value(document(&[unknown])).unwrap();
    let op = &doc["paths"]["/api/v1/things/{id}"]["post"];
    assert_eq!(op["summary"], "Undescribed endpoint");
    assert_eq!(op["x-roles"], serde_json::json!(["admin"]));
    assert_eq!(op["parameters"][0]["name"], "id");
}

#[test]
fn security_follows_the_policy() {
    let doc = as_json();
    for rule in POLICY {
        let op = &doc["paths"][rule.path][rule.method.to_lowercase()];
        match rule.access {
            Access::Open => {
                assert!(
                    op.get("security").is_none(),
                    "{} {}",
                    rule.method,
                    rule.path
                );
            }
            Access::Roles(roles) => {
                assert_eq!(
                    op["security"][0][API_KEY],
                    serde_json::json!([]),
                    "{rule:?}"
                );
                let listed: Vec<&str> = op["x-roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap())
                    .collect();
                let expected: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                assert_eq!(listed, expected, "{rule:?}");
            }
        }
    }
}

#[test]
fn every_path_parameter_is_declared() {
    let doc = as_json();
    for endpoint in served() {
        let op = &doc["paths"][endpoint.path][endpoint.method.to_lowercase()];
        for name in path_parameters(endpoint.path) {
            let declared = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true);
            assert!(declared, "{name} of {} {}", endpoint.method, endpoint.path);
        }
    }
}

/// Every `$ref` anywhere in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_in_the_components() {
    let doc = as_json();
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}

#[test]
fn the_document_is_openapi_3_1_and_reads_back_as_one() {
    let text = document(&served()).to_json().unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "leadrouter");
    let parsed: OpenApi = serde_json::from_str(&text).expect("utoipa reads it back");
    assert_eq!(
        parsed.paths.paths.len(),
        doc["paths"].as_object().unwrap().len()
    );
    let problem = &doc["components"]["schemas"][PROBLEM];
    for member in ["type", "title", "status", "detail"] {
        assert!(
            problem["required"]
                .as_array()
                .unwrap()
                .contains(&member.into())
        );
    }
    let types = doc["x-problem-types"].as_object().unwrap();
    assert_eq!(types.len(), ProblemType::ALL.len());
    assert_eq!(
        types["https://leadrouter.dev/problems/validation"]["status"],
        422
    );
}

#[test]
fn error_responses_refer_to_the_problem_schema() {
    let doc = as_json();
    let reject = &doc["paths"]["/api/v1/leads/{id}/reject"]["post"]["responses"];
    for code in ["401", "403", "404", "409", "422", "503"] {
        assert!(reject[code]["$ref"].is_string(), "{code}: {reject:#}");
    }
    let validation = &doc["components"]["responses"]["Validation"];
    assert_eq!(
        validation["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    let health = &doc["paths"]["/healthz"]["get"]["responses"];
    assert!(health.get("401").is_none() && health.get("503").is_none());
}

#[test]
fn no_two_types_share_a_schema_name() {
    let mut components = Components::new();
    for op in OPERATIONS {
        for body in op.request.into_iter().chain([op.response]) {
            body.content(&mut components);
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    for (name, schema) in components {
        let schema = serde_json::to_value(schema).unwrap();
        if let Some(before) = seen.insert(name.clone(), schema.clone()) {
            assert_eq!(
                before, schema,
                "two types are named {name}: rename one (`#[schema(as = ...)]`)"
            );
        }
    }
    assert!(
        !seen.contains_key(PROBLEM),
        "{PROBLEM} is the problem schema's name"
    );
}

#[test]
fn operation_ids_are_unique_identifiers() {
    let doc = as_json();
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{id}"
            );
            assert!(ids.insert(id.clone()), "{id} twice");
        }
    }
    assert!(ids.contains("post_api_v1_leads_id_reject"), "{ids:?}");
}
