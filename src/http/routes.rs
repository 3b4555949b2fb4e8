//! A router that remembers its endpoints. axum cannot list a router's routes, and the access
//! policy must cover exactly what is served, so every area registers its routes through
//! [`Routes`] and a test compares the two lists.

use axum::{
    Router,
    handler::Handler,
    routing::{self, MethodRouter},
};

use crate::app::AppState;

/// One endpoint: a method and the route path as registered (`/api/v1/leads/{id}`), which is
/// also what `MatchedPath` reports for a request to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
}

/// The routes of one area (or of the whole API, once merged), with their endpoints listed.
#[derive(Default)]
#[must_use]
pub struct Routes {
    router: Router<AppState>,
    endpoints: Vec<Endpoint>,
}

impl Routes {
    /// Serves `GET path` (and `HEAD path`) with `handler`.
    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("GET", path, routing::get(handler))
    }

    /// Serves `POST path` with `handler`.
    pub fn post<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("POST", path, routing::post(handler))
    }

    /// Serves `PATCH path` with `handler`.
    pub fn patch<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("PATCH", path, routing::patch(handler))
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        route: MethodRouter<AppState>,
    ) -> Self {
        // axum merges a second method on a known path into the same route.
        self.router = self.router.route(path, route);
        self.endpoints.push(Endpoint { method, path });
        self
    }

    /// These routes and `other`'s.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.endpoints.extend(other.endpoints);
        self
    }

    /// Every endpoint registered, in registration order.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The axum router.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
