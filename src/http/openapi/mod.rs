//! `GET /openapi.json`: the OpenAPI 3.1 document of the service, built from what the code
//! serves. Its paths come from the route registry (`http::endpoints()`), so a served route
//! cannot be missing from it; its security from the access policy (`policy::POLICY`); its
//! summaries, parameters and bodies from [`operations::OPERATIONS`]; its schemas from the
//! serde types the handlers use (`utoipa::ToSchema`).

mod operation;
mod operations;
mod schemas;

use std::{collections::BTreeSet, sync::LazyLock};

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    ResponseBuilder, Responses,
    content::ContentBuilder,
    extensions::ExtensionsBuilder,
    path::{HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn},
    request_body::{RequestBody, RequestBodyBuilder},
    security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme},
};

use self::{
    operation::Operation,
    operations::OPERATIONS,
    schemas::{Components, PROBLEM},
};
use super::{
    Endpoint,
    policy::{Access, POLICY},
    routes::Routes,
};
use crate::problem_types::ProblemType;

/// The name of the API-key security scheme.
pub const API_KEY: &str = "api_key";

/// The route path of the document.
pub const PATH: &str = "/openapi.json";

/// `GET /openapi.json`.
pub fn router() -> Routes {
    Routes::default().get(PATH, serve)
}

/// The document, built once: it depends on the code only.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document(&super::endpoints())
        .to_json()
        .expect("an OpenAPI document serializes")
});

async fn serve() -> Response {
    let mut response = DOCUMENT.as_str().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The document of the `served` endpoints.
pub fn document(served: &[Endpoint]) -> OpenApi {
    let mut components: Components = Vec::new();
    let mut paths = Paths::new();
    for endpoint in served {
        let described = OPERATIONS
            .iter()
            .find(|op| op.method == endpoint.method && op.path == endpoint.path);
        let operation = operation(endpoint, described, &mut components);
        paths.add_path_operation(endpoint.path, vec![method(endpoint.method)], operation);
    }
    let mut built = ComponentsBuilder::new()
        .security_scheme(
            API_KEY,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`lr_…`) minted with POST /api/v1/api-keys, sent as \
                         `Authorization: Bearer <key>`. Its role decides what it may call \
                         (`x-roles` on each operation).",
                    ))
                    .build(),
            ),
        )
        .schema(PROBLEM, schemas::problem());
    for kind in ProblemType::ALL {
        built = built.response(
            schemas::response_name(kind),
            schemas::problem_response(kind),
        );
    }
    for (name, schema) in components {
        built = built.schema(name, schema);
    }
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("leadrouter")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(env!("CARGO_PKG_DESCRIPTION")))
                .build(),
        )
        .paths(paths)
        .components(Some(built.build()))
        .build();
    doc.extensions = Some(
        ExtensionsBuilder::new()
            .add("x-problem-types", problem_types())
            .build(),
    );
    doc
}

/// Every problem type URI with its status, title and meaning.
fn problem_types() -> Value {
    let types: serde_json::Map<String, Value> = ProblemType::ALL
        .iter()
        .map(|kind| {
            let entry = json!({
                "status": kind.status().as_u16(),
                "title": kind.status().canonical_reason(),
                "meaning": kind.meaning(),
            });
            (kind.uri(), entry)
        })
        .collect();
    Value::Object(types)
}

fn method(method: &str) -> HttpMethod {
    match method {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PATCH" => HttpMethod::Patch,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        other => unreachable!("the route registry serves no {other}"),
    }
}

/// Who may call `endpoint`, as the auth layer decides it.
fn access(endpoint: &Endpoint) -> Option<Access> {
    POLICY
        .iter()
        .find(|rule| rule.method == endpoint.method && rule.path == endpoint.path)
        .map(|rule| rule.access)
}

/// `post_api_v1_leads_id_reject`: method and path as one identifier, which client
/// generators turn into method names.
fn operation_id(endpoint: &Endpoint) -> String {
    let words = endpoint
        .path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty());
    std::iter::once(endpoint.method.to_lowercase())
        .chain(words.map(str::to_owned))
        .collect::<Vec<_>>()
        .join("_")
}

/// The `{name}` segments of a route path.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn operation(
    endpoint: &Endpoint,
    described: Option<&Operation>,
    components: &mut Components,
) -> utoipa::openapi::path::Operation {
    let summary = described.map_or("Undescribed endpoint", |op| op.summary);
    let access = access(endpoint);
    let builder = OperationBuilder::new()
        .summary(Some(summary))
        .operation_id(Some(operation_id(endpoint)))
        .parameters(Some(parameters(endpoint, described)).filter(|all| !all.is_empty()))
        .request_body(described.and_then(|op| request_body(op, components)));
    secured(builder, access)
        .responses(responses(endpoint, described, access, components))
        .build()
}

/// The path parameters of `endpoint`, then its query parameters: strings all, since the
/// handlers parse them and name the parameter in a 422 when one is wrong.
fn parameters(endpoint: &Endpoint, described: Option<&Operation>) -> Vec<Parameter> {
    let path = path_parameters(endpoint.path).map(|name| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(schemas::free_string()))
            .build()
    });
    let query = described.map_or(&[][..], |op| op.query);
    let query = query.iter().map(|(name, description)| {
        ParameterBuilder::new()
            .name(*name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(*description))
            .schema(Some(schemas::free_string()))
            .build()
    });
    path.chain(query).collect()
}

fn request_body(op: &Operation, components: &mut Components) -> Option<RequestBody> {
    let mut request = RequestBodyBuilder::new();
    for (media_type, schema) in op.request?.content(components) {
        request = request.content(
            media_type,
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    }
    let required = if op.body_optional {
        Required::False
    } else {
        Required::True
    };
    Some(request.required(Some(required)).build())
}

/// The operation with the security the auth layer applies: none for an open endpoint, else
/// an API key of one of the listed roles.
fn secured(builder: OperationBuilder, access: Option<Access>) -> OperationBuilder {
    let roles: Vec<&str> = match access {
        Some(Access::Open) => return builder,
        Some(Access::Roles(roles)) => roles.iter().map(|role| role.as_str()).collect(),
        // Not in the policy: the auth layer lets only admin call it (fail closed).
        None => vec!["admin"],
    };
    builder
        .security(SecurityRequirement::new(API_KEY, Vec::<String>::new()))
        .description(Some(format!("Roles: {}.", roles.join(", "))))
        .extensions(Some(ExtensionsBuilder::new().add("x-roles", roles).build()))
}

fn responses(
    endpoint: &Endpoint,
    described: Option<&Operation>,
    access: Option<Access>,
    components: &mut Components,
) -> Responses {
    let mut responses = Responses::new();
    let (status, body) = described.map_or((200, None), |op| (op.status, Some(op.response)));
    let mut success = ResponseBuilder::new().description("Success.");
    if let Some(body) = body {
        for (media_type, schema) in body.content(components) {
            success = success.content(
                media_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            );
        }
    }
    responses
        .responses
        .insert(status.to_string(), RefOr::T(success.build()));
    for code in errors_of(endpoint, described, access) {
        let kind = ProblemType::ALL
            .into_iter()
            .find(|kind| kind.status().as_u16() == code)
            .expect("every listed error status has a problem type");
        let reference = Ref::new(format!(
            "#/components/responses/{}",
            schemas::response_name(kind)
        ));
        responses
            .responses
            .insert(code.to_string(), RefOr::Ref(reference));
    }
    responses
}

/// The error statuses an operation may answer: those of its kind (keyed, with a body, with
/// parameters, reading the store) and its own.
fn errors_of(
    endpoint: &Endpoint,
    described: Option<&Operation>,
    access: Option<Access>,
) -> BTreeSet<u16> {
    // The timeout layer and a bug can end any request.
    let mut codes = BTreeSet::from([408, 500]);
    if !matches!(access, Some(Access::Open)) {
        codes.extend([401, 403]);
    }
    if let Some(body) = described.and_then(|op| op.request) {
        codes.extend([413, 415]);
        if body.is_json() {
            codes.extend([400, 422]);
        }
    }
    if path_parameters(endpoint.path).next().is_some() {
        codes.extend([404, 422]);
    }
    if described.is_some_and(|op| !op.query.is_empty()) {
        codes.insert(422);
    }
    if described.is_none_or(|op| op.stored) {
        codes.insert(503);
    }
    codes.extend(described.map_or(&[][..], |op| op.errors));
    codes
}

#[cfg(test)]
mod tests;
