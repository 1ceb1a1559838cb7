//! The e-mails the notifications handler sends: subjects and names on one line, HTML escaped,
//! so a name can never add a header or markup.

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::catalogue::{Service, spelling};
use crate::domain::records::{
    AccountRecord, InvitationRecord, ProfileRecord, ResetRequestRecord, RunResetRequestRecord,
};
use crate::mail::Email;

/// Escapes text for HTML.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A name or title on one line: control characters (CR, LF, …) become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn invitation_email(app: &App, invitation: &InvitationRecord, secret: &str) -> Email {
    let inviter = one_line(&invitation.inviter_name);
    let profile = one_line(&invitation.profile_name);
    let role = spelling(&invitation.role);
    let link = format!(
        "{}/invitations/{}#token={secret}",
        app.config.app_url, invitation.iid
    );
    let api = format!(
        "{}/v1/invitations/{}/accept",
        app.config.app_url, invitation.iid
    );
    let text = format!(
        "{inviter} invited you to join the profile \"{profile}\" on Tenantry as {role}.\n\n\
         Accept the invitation: {link}\n\n\
         Or accept through the API: POST {api} with the body {{\"token\": \"{secret}\"}}\n\n\
         The invitation expires at {}. If you did not expect it, ignore this e-mail.\n",
        when(invitation.expires_at)
    );
    let html = format!(
        "<p>{} invited you to join the profile <strong>{}</strong> on Tenantry as {role}.</p>\
         <p><a href=\"{}\">Accept the invitation</a></p>\
         <p>Or accept through the API: <code>POST {}</code> with the body \
         <code>{{\"token\": \"{secret}\"}}</code></p>\
         <p>The invitation expires at {}. If you did not expect it, ignore this e-mail.</p>",
        html_escape(&inviter),
        html_escape(&profile),
        html_escape(&link),
        html_escape(&api),
        when(invitation.expires_at)
    );
    Email {
        to: invitation.email.to_string(),
        subject: format!("{inviter} invited you to {profile} on Tenantry"),
        text,
        html,
    }
}

pub fn accepted_email(
    invitation: &InvitationRecord,
    profile: &ProfileRecord,
    owner: &AccountRecord,
) -> Email {
    let who = one_line(invitation.email.as_str());
    let name = one_line(&profile.name);
    let role = spelling(&invitation.role);
    Email {
        to: owner.email.to_string(),
        subject: format!("{who} joined {name}"),
        text: format!(
            "{who} accepted the invitation and joined the profile \"{name}\" as {role}.\n"
        ),
        html: format!(
            "<p>{} accepted the invitation and joined the profile <strong>{}</strong> as {role}.</p>",
            html_escape(&who),
            html_escape(&name)
        ),
    }
}

pub fn usage_email(
    profile: &ProfileRecord,
    owner: &AccountRecord,
    crossings: &[(Service, i64, i64, i64)],
) -> Email {
    let name = one_line(&profile.name);
    let highest = crossings.iter().map(|c| c.1).max().unwrap_or(100);
    let lines: Vec<String> = crossings
        .iter()
        .map(|(service, threshold, used, limit)| {
            format!("{service}: {used} of {limit} ({threshold} % of the limit)")
        })
        .collect();
    Email {
        to: owner.email.to_string(),
        subject: format!("{name} reached {highest} % of a limit"),
        text: format!(
            "The profile \"{name}\" reached a usage threshold:\n\n{}\n\nRaise its limits with PUT /v1/profiles/{}/limits.\n",
            lines.join("\n"),
            profile.pid
        ),
        html: format!(
            "<p>The profile <strong>{}</strong> reached a usage threshold:</p><ul>{}</ul>",
            html_escape(&name),
            lines
                .iter()
                .map(|l| format!("<li>{}</li>", html_escape(l)))
                .collect::<String>()
        ),
    }
}

pub fn verification_email(app: &App, account: &AccountRecord, secret: &str) -> Email {
    let name = one_line(&account.name);
    let link = format!("{}/verify#token={secret}", app.config.app_url);
    let api = format!("{}/v1/accounts/verify", app.config.app_url);
    let text = format!(
        "Hello {name},\n\n\
         Confirm that this address is yours: {link}\n\n\
         Or through the API: POST {api} with the body {{\"token\": \"{secret}\"}}\n\n\
         The link works once, for 24 hours. If you did not sign up for Tenantry, ignore this \
         e-mail: the sign-up lapses.\n"
    );
    let html = format!(
        "<p>Hello {},</p><p><a href=\"{}\">Confirm that this address is yours</a></p>\
         <p>Or through the API: <code>POST {}</code> with the body \
         <code>{{\"token\": \"{secret}\"}}</code></p>\
         <p>The link works once, for 24 hours. If you did not sign up for Tenantry, ignore this \
         e-mail: the sign-up lapses.</p>",
        html_escape(&name),
        html_escape(&link),
        html_escape(&api)
    );
    Email {
        to: account.email.to_string(),
        subject: "Confirm your e-mail address for Tenantry".into(),
        text,
        html,
    }
}

pub fn reset_email(app: &App, request: &ResetRequestRecord, secret: &str) -> Email {
    let link = format!("{}/password-reset#token={secret}", app.config.app_url);
    let api = format!("{}/v1/password-reset/confirm", app.config.app_url);
    let text = format!(
        "Someone asked to reset the password of the Tenantry account of this address.\n\n\
         Choose a new password: {link}\n\n\
         Or through the API: POST {api} with the body \
         {{\"token\": \"{secret}\", \"password\": \"<new password>\"}}\n\n\
         The link works once, until {}. Every session of the account ends when the password \
         changes. If you did not ask for this, ignore this e-mail.\n",
        when(request.expires_at)
    );
    let html = format!(
        "<p>Someone asked to reset the password of the Tenantry account of this address.</p>\
         <p><a href=\"{}\">Choose a new password</a></p>\
         <p>Or through the API: <code>POST {}</code> with the body \
         <code>{{\"token\": \"{secret}\", \"password\": \"&lt;new password&gt;\"}}</code></p>\
         <p>The link works once, until {}. Every session of the account ends when the password \
         changes. If you did not ask for this, ignore this e-mail.</p>",
        html_escape(&link),
        html_escape(&api),
        when(request.expires_at)
    );
    Email {
        to: request.email.to_string(),
        subject: "Reset your Tenantry password".into(),
        text,
        html,
    }
}

/// The reset e-mail of a run user: the profile's application, not Tenantry, is what they know.
pub fn run_reset_email(app: &App, request: &RunResetRequestRecord, secret: &str) -> Email {
    let profile = one_line(&request.profile_name);
    let link = format!(
        "{}/run/{}/password-reset#token={secret}",
        app.config.app_url, request.pid
    );
    let api = format!(
        "{}/v1/profiles/{}/run/password-reset/confirm",
        app.config.app_url, request.pid
    );
    let text = format!(
        "Someone asked to reset the password of your account on {profile}.\n\n\
         Choose a new password: {link}\n\n\
         Or through the API: POST {api} with the body \
         {{\"token\": \"{secret}\", \"password\": \"<new password>\"}}\n\n\
         The link works once, until {}. Every session of your account ends when the password \
         changes. If you did not ask for this, ignore this e-mail.\n",
        when(request.expires_at)
    );
    let html = format!(
        "<p>Someone asked to reset the password of your account on {}.</p>\
         <p><a href=\"{}\">Choose a new password</a></p>\
         <p>Or through the API: <code>POST {}</code> with the body \
         <code>{{\"token\": \"{secret}\", \"password\": \"&lt;new password&gt;\"}}</code></p>\
         <p>The link works once, until {}. Every session of your account ends when the \
         password changes. If you did not ask for this, ignore this e-mail.</p>",
        html_escape(&profile),
        html_escape(&link),
        html_escape(&api),
        when(request.expires_at)
    );
    Email {
        to: request.email.to_string(),
        subject: format!("Reset your password for {profile}"),
        text,
        html,
    }
}

/// The warning to a token's creator that it expires in `days` (the maintenance job sends it).
pub fn token_warning_email(
    owner: &AccountRecord,
    profile: &ProfileRecord,
    token_name: &str,
    days: i64,
    expires_at: DateTime<Utc>,
) -> Email {
    let token = one_line(token_name);
    let name = one_line(&profile.name);
    let span = if days == 1 {
        "1 day".to_owned()
    } else {
        format!("{days} days")
    };
    let at = when(expires_at);
    Email {
        to: owner.email.to_string(),
        subject: format!("Your API token \"{token}\" on {name} expires in {span}"),
        text: format!(
            "Your API token \"{token}\" on the profile \"{name}\" expires on {at}. Issue a new one before then if you still need it.\n"
        ),
        html: format!(
            "<p>Your API token <strong>{}</strong> on the profile <strong>{}</strong> expires on {at}. Issue a new one before then if you still need it.</p>",
            html_escape(&token),
            html_escape(&name)
        ),
    }
}
