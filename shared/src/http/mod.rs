//! The HTTP routers of every function, built from one route table. Each route names its
//! function (the Lambda that serves it), its method, its path and who may call it; the table is
//! also what the template check compares `infra/template.yaml` with, and what the OpenAPI
//! document (`openapi`) is generated from: each route carries its [`Doc`].

pub mod accounts;
pub mod audit;
pub mod export;
pub mod extract;
mod guard;
pub mod openapi;
pub mod policies;
pub mod policy_check;
pub mod problem;
pub mod profiles;
pub mod recovery;
pub mod run;
pub mod run_users;
pub mod source;
pub mod team;
pub mod tokens;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::MethodRouter;
#[cfg(feature = "docs")]
use axum::routing::get;

use crate::app::App;
use crate::domain::access::Access;
use crate::refusal::Refusal;

use guard::authorize;
pub(crate) use guard::bearer;
pub use guard::{Ahead, ReadsOf, RequestIds, refuse_query_tokens};
pub use openapi::{Doc, schema};
pub use problem::{ApiError, ApiResult};

/// The `function` of routes that only the local server serves (no Lambda, no template event).
pub const LOCAL: &str = "local";

/// One route of the API.
pub struct Route {
    pub function: &'static str,
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: MethodRouter<App>,
    /// What the OpenAPI document says about it: summary, schemas, errors (nothing without the
    /// `docs` feature).
    pub doc: Doc,
    /// The reads its handler makes first, named by the path's ids: made at the same time as the
    /// caller's token and membership ([`Route::reads_ahead`]).
    pub ahead: Option<Ahead>,
}

impl Route {
    /// What each module's route table builds its routes with: `let route = Route::of(super::ACCOUNTS.name);`
    /// then `route(method, path, access, handler, doc)` for each of `function`'s routes.
    pub fn of(
        function: &'static str,
    ) -> impl Fn(Method, &'static str, Access, MethodRouter<App>, Doc) -> Route {
        move |method, path, access, handler, doc| Route {
            function,
            method,
            path,
            access,
            handler,
            doc,
            ahead: None,
        }
    }

    /// Reads `reads` at the same time as the caller's token and membership, on a profile route
    /// whose token claims its account (issue 14, "Round trips": a write is one read, then one
    /// transaction). The handler takes its context as [`extract::Primed`]: its first reads of
    /// the same items are answered from these, once each. Nothing read ahead reaches a caller
    /// the route refuses; it costs the reads.
    pub fn reads_ahead(mut self, reads: ReadsOf) -> Self {
        self.ahead = Some(Ahead {
            reads,
            by_email: false,
        });
        self
    }

    /// Reads `reads` ahead as [`Route::reads_ahead`] does, named also by the e-mail the JSON
    /// body gives in `email` ([`RequestIds::email`]): for a route that finds what it changes by
    /// an e-mail (an invitation, a run user's login or reset). The body is read first, and
    /// handed on unchanged.
    pub fn reads_ahead_by_email(mut self, reads: ReadsOf) -> Self {
        self.ahead = Some(Ahead {
            reads,
            by_email: true,
        });
        self
    }
}

/// A route's identity, without its handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteInfo {
    pub function: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// One HTTP function: its name in the route table and the modules whose routes it serves.
///
/// A Lambda builds its router from its own [`Function`] ([`function_router`]), so that it links
/// only its own handlers and what they call, not every function's (issue 14, BENCHMARKS.md
/// "Package size (issue 14)"); the local server and the tests take every route ([`routes`]).
pub struct Function {
    /// Its name: the binary's and the template's (`run-users` -> `RunUsersFunction`), written only
    /// here; each module's routes take it from this constant (`Route::of(super::ACCOUNTS.name)`).
    pub name: &'static str,
    /// Each returns routes whose `function` is `name` (`tests::every_function_has_its_own_routes`).
    pub routes: &'static [fn() -> Vec<Route>],
}

pub const ACCOUNTS: Function = Function {
    name: "accounts",
    routes: &[accounts::routes, recovery::routes, audit::account_routes],
};
pub const PROFILES: Function = Function {
    name: "profiles",
    routes: &[profiles::routes, audit::profile_routes],
};
pub const TOKENS: Function = Function {
    name: "tokens",
    routes: &[tokens::routes],
};
pub const TEAM: Function = Function {
    name: "team",
    routes: &[team::routes],
};
pub const RUN_USERS: Function = Function {
    name: "run-users",
    routes: &[run::routes, run_users::routes],
};
pub const USER_EXPORT: Function = Function {
    name: "user-export",
    routes: &[export::routes],
};
pub const POLICIES: Function = Function {
    name: "policies",
    routes: &[policies::routes],
};
pub const POLICY_CHECK: Function = Function {
    name: "policy-check",
    routes: &[policy_check::routes],
};
/// Every route that hashes or verifies a password on its usual path (sign-up, login, password
/// changes and resets, token issue, run users' creation with a password), whatever module it
/// belongs to: argon2id is CPU-bound and uses one core, so this function runs at the memory
/// that gives it a whole vCPU while the others, which wait on DynamoDB, run small and cheap
/// (DECISIONS.md "The passwords function"). The two deletions re-enter the password too but
/// stay with what they delete: they are rare and their erasure is most of their work.
pub const PASSWORDS: Function = Function {
    name: "passwords",
    routes: &[
        accounts::password_routes,
        recovery::password_routes,
        tokens::password_routes,
        run::password_routes,
        run_users::password_routes,
    ],
};

/// Every HTTP function, in the order of the route table.
pub const FUNCTIONS: [&Function; 9] = [
    &ACCOUNTS,
    &PROFILES,
    &TOKENS,
    &TEAM,
    &RUN_USERS,
    &USER_EXPORT,
    &POLICIES,
    &POLICY_CHECK,
    &PASSWORDS,
];

impl Function {
    /// This function's routes.
    pub fn routes(&self) -> Vec<Route> {
        self.routes.iter().flat_map(|routes| routes()).collect()
    }
}

/// Every route of every HTTP function.
pub fn routes() -> Vec<Route> {
    let routes = FUNCTIONS.iter().flat_map(|function| function.routes());
    #[cfg(feature = "docs")]
    let routes = routes.chain(local_routes());
    routes.collect()
}

/// Routes of the local server only (`function` [`LOCAL`]): the API's own description (only with
/// the `docs` feature, which the Lambdas leave off).
#[cfg(feature = "docs")]
fn local_routes() -> Vec<Route> {
    vec![Route::of(LOCAL)(
        Method::GET,
        "/v1/openapi.json",
        Access::Anyone,
        get(|| async { axum::Json(openapi::document()) }),
        Doc::new(
            "openApi",
            "This document: the API in OpenAPI 3.1",
            |_| schemars::json_schema!({ "type": "object" }),
        ),
    )]
}

/// Every route's function, method, path and access, for checks and docs.
pub fn route_table() -> Vec<RouteInfo> {
    routes()
        .into_iter()
        .map(|route| RouteInfo {
            function: route.function,
            method: method_name(&route.method),
            path: route.path,
            access: route.access,
        })
        .collect()
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

/// The router of every function (the local server, the tests). Every route passes the access
/// check it declared before its handler runs.
pub fn router(app: App) -> Router {
    router_of(app, routes().into_iter())
}

/// The router of one Lambda function, built from the function's own routes only.
pub fn function_router(app: App, function: &Function) -> Router {
    let routes = function.routes().into_iter();
    router_of(app, routes.filter(|route| route.function == function.name))
}

fn router_of(app: App, routes: impl Iterator<Item = Route>) -> Router {
    let mut router = Router::new();
    for route in routes {
        let (access, ahead) = (route.access, route.ahead);
        let guarded = route.handler.route_layer(middleware::from_fn_with_state(
            app.clone(),
            move |state: State<App>, request: Request, next: Next| {
                authorize(state, (access, ahead), request, next)
            },
        ));
        router = router.route(route.path, guarded);
    }
    router
        .fallback(|| async { ApiError::Refused(Refusal::NotFound("no such route".into())) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this method is not allowed on this path".into())
        })
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_request))
        .with_state(app)
}

/// Gives the request its id (`audit::RequestId`, answered in `X-Request-Id`), then one JSON log
/// line per request: its id, method, route (the template, never the raw path with its ids
/// or a query string that might hold a secret), status and time taken. Every answer is marked
/// `Cache-Control: no-store`: answers carry secrets and tenants' data, never to be kept by a
/// cache on the way.
async fn log_request(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let (mut parts, body) = request.into_parts();
    let request_id = audit::request_id(&parts);
    parts
        .extensions
        .insert(audit::RequestId(request_id.clone()));
    let request = Request::from_parts(parts, body);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_its_own_routes() {
        let mut names: Vec<&str> = FUNCTIONS.iter().map(|function| function.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FUNCTIONS.len(), "a function is listed twice");
        for function in FUNCTIONS {
            let routes = function.routes();
            assert!(!routes.is_empty(), "{} has no route", function.name);
            for route in routes {
                assert_eq!(
                    route.function, function.name,
                    "{} {}",
                    route.method, route.path
                );
            }
        }
    }
}
