//! The bodies an operation takes and answers, as schemas of the document, and the problem
//! schema every error response refers to.

use std::borrow::Cow;

use utoipa::{
    ToSchema,
    openapi::{
        Ref, RefOr, ResponseBuilder,
        content::ContentBuilder,
        response::Response,
        schema::{
            AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
            SchemaType, Type,
        },
    },
};

use crate::{
    error::PROBLEM_JSON,
    problem_types::{self, BASE, ProblemType},
};

/// The named schemas an operation needs, as the document's components collect them.
pub type Components = Vec<(String, RefOr<Schema>)>;

/// Puts a type's schema, and every schema it refers to, in `components`; returns a
/// reference to it. Kept as a function pointer so the operation table can be a `const`.
pub type Named = fn(&mut Components) -> RefOr<Schema>;

/// [`Named`] for `T`, whose schema is derived from the serde type the handler uses, so the
/// document follows the code.
pub fn named<T: ToSchema>(components: &mut Components) -> RefOr<Schema> {
    let name: Cow<'static, str> = T::name();
    components.push((name.to_string(), T::schema()));
    T::schemas(components);
    Ref::from_schema_name(name).into()
}

/// What a request or response carries.
#[derive(Clone, Copy)]
pub enum Body {
    /// One object of a named schema.
    One(Named),
    /// A JSON array of a named schema.
    List(Named),
    /// One page of a list: `items` of a named schema, `total`, `limit`, `offset`.
    Page(Named),
    /// One object of a named schema, or an array of them (a batch).
    OneOrMany(Named),
    /// A JSON array of a named schema, or the same rows as CSV (`text/csv`) described in
    /// words.
    ListOrCsv { item: Named, csv: &'static str },
    /// A JSON object not described field by field here (vendor payloads, reports whose shape
    /// follows the configuration); the text says what it holds.
    Free(&'static str),
    /// A body in another media type than JSON.
    Media {
        media_type: &'static str,
        description: &'static str,
    },
}

impl Body {
    /// The media types and schemas of this body, its schemas added to `components`.
    pub fn content(self, components: &mut Components) -> Vec<(&'static str, RefOr<Schema>)> {
        if let Body::ListOrCsv { item, csv } = self {
            let text = text(csv);
            return vec![
                ("application/json", list_of(item(components))),
                ("text/csv", text),
            ];
        }
        vec![self.one_content(components)]
    }

    fn one_content(self, components: &mut Components) -> (&'static str, RefOr<Schema>) {
        let json = "application/json";
        match self {
            Body::One(named) => (json, named(components)),
            Body::List(named) => (json, list_of(named(components))),
            Body::Page(named) => (json, page_of(named(components))),
            Body::OneOrMany(named) => {
                let one = named(components);
                let either = OneOfBuilder::new()
                    .item(one.clone())
                    .item(list_of(one))
                    .description(Some("One object, or an array of them (a batch)."));
                (json, Schema::OneOf(either.build()).into())
            }
            Body::Free(description) => (json, free_form(description)),
            Body::Media {
                media_type,
                description,
            } => (media_type, text(description)),
            Body::ListOrCsv { item, .. } => (json, list_of(item(components))),
        }
    }

    /// Whether this is a JSON body, which a request may get wrong in the ways of a JSON
    /// body (malformed, invalid fields).
    pub fn is_json(self) -> bool {
        !matches!(self, Body::Media { .. })
    }
}

/// A text body other than JSON, described in words.
fn text(description: &str) -> RefOr<Schema> {
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description));
    Schema::Object(text.build()).into()
}

fn list_of(item: RefOr<Schema>) -> RefOr<Schema> {
    Schema::Array(ArrayBuilder::new().items(item).build()).into()
}

fn page_of(item: RefOr<Schema>) -> RefOr<Schema> {
    let integer = || ObjectBuilder::new().schema_type(Type::Integer);
    let page = ObjectBuilder::new()
        .description(Some("One page of a list, with the total across pages."))
        .property("items", list_of(item))
        .property("total", integer())
        .property("limit", integer())
        .property("offset", integer())
        .required("items")
        .required("total")
        .required("limit")
        .required("offset");
    Schema::Object(page.build()).into()
}

/// Any JSON object, described in words.
pub fn free_form(description: &str) -> RefOr<Schema> {
    let object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .description(Some(description));
    Schema::Object(object.build()).into()
}

/// A string parameter (path and query parameters are parsed by the handlers, which name
/// the parameter in a 422 when it is wrong).
pub fn free_string() -> RefOr<Schema> {
    Schema::Object(ObjectBuilder::new().schema_type(Type::String).build()).into()
}

/// The name of the problem schema in the components.
pub const PROBLEM: &str = "Problem";

/// The RFC 9457 problem body of every error, with the `type` URIs it may carry.
pub fn problem() -> Schema {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let mut uris: Vec<String> = ProblemType::ALL.iter().map(|t| t.uri()).collect();
    uris.push(problem_types::ABOUT_BLANK.to_owned());
    let type_ = string()
        .format(Some(SchemaFormat::Custom("uri".to_owned())))
        .enum_values(Some(uris))
        .description(Some(format!(
            "The kind of problem: a stable URI under {BASE} (see `x-problem-types` at the \
             document root), or `about:blank` for an error the service has no type of its own \
             for."
        )));
    let field_error = ObjectBuilder::new()
        .property(
            "field",
            string().description(Some(
                "A JSON path such as `[3].lead.email`, or a query or path parameter.",
            )),
        )
        .property("detail", string())
        .required("field")
        .required("detail");
    let errors = ArrayBuilder::new().items(field_error).description(Some(
        "On a validation problem: every invalid field (RFC 9457 extension member).",
    ));
    let object = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .description(Some(
            "An error (RFC 9457, `application/problem+json`). Further extension members may \
             appear, e.g. the scores and thresholds of a refused accept.",
        ))
        .property("type", type_)
        .property("title", string().description(Some("The status phrase.")))
        .property("status", ObjectBuilder::new().schema_type(Type::Integer))
        .property(
            "detail",
            string().description(Some("What went wrong, for a person to read.")),
        )
        .property("errors", errors)
        .required("type")
        .required("title")
        .required("status")
        .required("detail")
        .additional_properties(Some(AdditionalProperties::FreeForm(true)));
    Schema::Object(object.build())
}

/// The name of `kind`'s response in the components (`Validation`, `NotFound`...).
pub fn response_name(kind: ProblemType) -> String {
    kind.slug()
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// The response of a problem of `kind`: its meaning, and a problem body.
pub fn problem_response(kind: ProblemType) -> Response {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(PROBLEM)))
        .build();
    ResponseBuilder::new()
        .description(format!("{}: {}", kind.uri(), kind.meaning()))
        .content(PROBLEM_JSON, body)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_names_are_the_slugs_in_pascal_case() {
        assert_eq!(response_name(ProblemType::NotFound), "NotFound");
        assert_eq!(
            response_name(ProblemType::UnsupportedMediaType),
            "UnsupportedMediaType"
        );
    }
}
