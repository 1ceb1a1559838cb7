//! The document's words: path parameters and who may call a route.

use crate::domain::Role;
use crate::domain::access::{Access, Area, RequestMetering};

/// `{pid}`, `{aid}`, … of a path template, in order.
pub(super) fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

pub(super) fn path_param_text(name: &str) -> &'static str {
    match name {
        "pid" => "The profile",
        "aid" => "The account (a member of the profile)",
        "iid" => "The invitation",
        "tid" => "The API token",
        "uid" => "The run user",
        "id" => "The policy",
        _ => "An id",
    }
}

pub(super) fn role_text(role: Role) -> &'static str {
    match role {
        Role::Member => "any role (member, admin or owner)",
        Role::Admin => "the admin or owner role",
        Role::Owner => "the owner role",
    }
}

/// Who may call a route, in words.
pub(super) fn access_text(access: Access) -> String {
    match access {
        Access::Anyone => "Open to anyone: no token needed.".into(),
        Access::Session => "Needs a login session (API tokens get 403).".into(),
        Access::Application => "Open to anyone, on an existing profile (else 404); counts one \
                                `api_requests` use of the profile."
            .into(),
        Access::RunUser => "Needs a run user's session (from the profile's run-user login); \
                            counts one `api_requests` use of its profile. Team sessions and API \
                            tokens get 403."
            .into(),
        Access::Profile(role, area, metering) => {
            let tokens = match area {
                Area::Governance => "API tokens need the `full` permission here",
                Area::App => {
                    "`read` API tokens may only use safe methods (GET, HEAD), `write` and `full` \
                     tokens anything"
                }
            };
            let counted = match metering {
                RequestMetering::Metered => " Counts one `api_requests` use of the profile.",
                RequestMetering::Unmetered => "",
            };
            format!(
                "Needs {} on the profile, through a login session or one of the profile's API \
                 tokens; {tokens}. Callers who are not on the profile get 404.{counted}",
                role_text(role)
            )
        }
    }
}
