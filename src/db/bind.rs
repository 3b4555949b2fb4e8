//! Binding rows as column arrays: one statement writes any number of rows through `unnest`.

use sqlx::{Arguments, Postgres, error::BoxDynError, postgres::PgArguments, query::Query};

/// `unnest($first::type[], ...) as alias(columns)`, with one placeholder per type.
pub(crate) fn unnest(alias: &str, columns: &str, types: &[&str], first: usize) -> String {
    let args: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, ty)| format!("${}::{ty}[]", first + i))
        .collect();
    format!("unnest({}) as {alias}({columns})", args.join(", "))
}

/// One column of `rows`, for binding as an array.
pub(crate) fn column<'r, R, T>(rows: &'r [R], f: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// The `bind` of sqlx's query types, so one binder serves `query` and `query_scalar`.
pub(crate) trait Bind<'q>: Sized {
    fn bind<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>>(self, value: T) -> Self;
}

impl<'q> Bind<'q> for Query<'q, Postgres, PgArguments> {
    fn bind<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>>(self, value: T) -> Self {
        Query::bind(self, value)
    }
}

impl<'q, O> Bind<'q> for sqlx::query::QueryScalar<'q, Postgres, O, PgArguments> {
    fn bind<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>>(self, value: T) -> Self {
        sqlx::query::QueryScalar::bind(self, value)
    }
}

impl<'q, O> Bind<'q> for sqlx::query::QueryAs<'q, Postgres, O, PgArguments> {
    fn bind<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>>(self, value: T) -> Self {
        sqlx::query::QueryAs::bind(self, value)
    }
}

/// Arguments encoded as they are bound, apart from any query, so that a statement's arguments
/// can be made ready before the moment it is sent. The first value that fails to encode is
/// kept, and the statement fails with it when sent.
pub(crate) struct Encoded(Result<PgArguments, BoxDynError>);

impl Default for Encoded {
    fn default() -> Self {
        Encoded(Ok(PgArguments::default()))
    }
}

impl Encoded {
    pub(crate) fn into_result(self) -> Result<PgArguments, BoxDynError> {
        self.0
    }
}

impl<'q> Bind<'q> for Encoded {
    fn bind<T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>>(self, value: T) -> Self {
        Encoded(self.0.and_then(|mut args| {
            args.add(value)?;
            Ok(args)
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use sqlx::types::Json;

    use super::*;

    #[test]
    fn encoded_arguments_hold_every_value_bound() {
        let encoded = Encoded::default()
            .bind(1_i64)
            .bind(vec!["a", "b"])
            .bind(Json(["c"]));
        assert_eq!(encoded.into_result().expect("all encode").len(), 3);
    }

    #[test]
    fn encoded_arguments_keep_the_first_value_that_failed_to_encode() {
        // A JSON object's keys are strings: serializing this map fails.
        let unencodable: HashMap<(i32, i32), i32> = HashMap::from([((1, 2), 3)]);
        let encoded = Encoded::default()
            .bind(1_i64)
            .bind(Json(unencodable))
            .bind("after");
        let error = encoded
            .into_result()
            .expect_err("the map cannot be encoded");
        assert!(
            error.to_string().contains("key must be a string"),
            "{error}"
        );
    }
}
