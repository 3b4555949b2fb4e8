//! Binding rows as column arrays: one statement writes any number of rows through `unnest`.

use sqlx::{Postgres, postgres::PgArguments, query::Query};

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
