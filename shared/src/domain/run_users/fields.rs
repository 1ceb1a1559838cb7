//! The bounds of every value of a run user and of a profile's sign-up settings, and the check
//! of a sign-up against those settings. Every refusal names the offending field.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::super::records::{FieldType, SignupField, SignupSettings, Tag};
use super::super::validate;
use crate::email::{Email, is_format};
use crate::refusal::{Decided, Refusal};

/// At most this many tags per user (DESIGN.md).
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY_CHARS: usize = 64;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// At most this many custom sign-up fields (each becomes a tag).
pub const MAX_FIELDS: usize = MAX_TAGS;
pub const MAX_OPTIONS: usize = 100;
/// At most this many distinct tag keys in one profile (the export has a column per key).
pub const MAX_PROFILE_TAG_KEYS: usize = 1000;
pub const MAX_TIMEZONE_CHARS: usize = 64;
pub const MAX_COMPANY_CHARS: usize = 100;
pub const MAX_PHONE_CHARS: usize = 32;
pub const MAX_LANGUAGE_CHARS: usize = 35;

/// The fields every sign-up and record has: no custom field may take their names.
pub const RECORD_FIELDS: [&str; 9] = [
    "email", "name", "password", "timezone", "company", "phone", "language", "tags", "active",
];

/// A trimmed text of at most `max` characters without control or format characters; an empty
/// one is no value.
pub fn short_text(field: &str, value: &str, max: usize) -> Decided<Option<String>> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    plain(field, trimmed, max)?;
    Ok(Some(trimmed.to_owned()))
}

/// Refuses text longer than `max` characters or holding control or format characters.
fn plain(field: &str, value: &str, max: usize) -> Decided<()> {
    plain_but(field, value, max, &[])
}

/// [`plain`], but for the control characters in `allowed`.
fn plain_but(field: &str, value: &str, max: usize, allowed: &[char]) -> Decided<()> {
    if value.chars().count() > max {
        return Err(Refusal::invalid(
            field,
            format!("at most {max} characters are allowed"),
        ));
    }
    if value
        .chars()
        .any(|c| (c.is_control() && !allowed.contains(&c)) || is_format(c))
    {
        return Err(Refusal::invalid(
            field,
            "control and invisible format characters are not allowed",
        ));
    }
    Ok(())
}

/// A phone number: digits with the usual separators (`+`, spaces, `-`, `.`, parentheses).
pub fn phone(field: &str, value: &str) -> Decided<Option<String>> {
    let Some(phone) = short_text(field, value, MAX_PHONE_CHARS)? else {
        return Ok(None);
    };
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    if !allowed || digits < 3 {
        return Err(Refusal::invalid(field, "not a phone number"));
    }
    Ok(Some(phone))
}

/// The optional fields of a record, each bounded.
pub fn timezone(value: &str) -> Decided<Option<String>> {
    short_text("timezone", value, MAX_TIMEZONE_CHARS)
}

pub fn company(value: &str) -> Decided<Option<String>> {
    short_text("company", value, MAX_COMPANY_CHARS)
}

pub fn language(value: &str) -> Decided<Option<String>> {
    short_text("language", value, MAX_LANGUAGE_CHARS)
}

/// A tag key as stored (trimmed already): 1 to 64 characters, no control or format characters.
/// The one rule for tag keys: a run user's tags and the tags a policy names keep to it.
pub fn stored_tag_key(field: &str, key: &str) -> Decided<()> {
    if key.is_empty() {
        return Err(Refusal::invalid(field, "must not be empty"));
    }
    plain(field, key, MAX_TAG_KEY_CHARS)
}

/// A tag value as stored (trimmed already): 1 to 256 characters, free text (line breaks and tabs
/// included) but no other control or any format character. The one rule for tag values.
pub fn stored_tag_value(field: &str, value: &str) -> Decided<()> {
    if value.is_empty() {
        return Err(Refusal::invalid(field, "must not be empty"));
    }
    plain_but(field, value, MAX_TAG_VALUE_CHARS, &['\n', '\r', '\t'])
}

/// A tag key as sent: trimmed, then [`stored_tag_key`].
fn tag_key(field: &str, key: &str) -> Decided<String> {
    let key = key.trim();
    stored_tag_key(field, key)?;
    Ok(key.to_owned())
}

/// A tag value as sent: trimmed, then [`stored_tag_value`].
fn tag_value(field: &str, value: &str) -> Decided<String> {
    let value = value.trim();
    stored_tag_value(field, value)?;
    Ok(value.to_owned())
}

/// A user's whole tag list: at most 50, keys unique, every key and value bounded.
pub fn tags(tags: &[Tag]) -> Decided<Vec<Tag>> {
    if tags.len() > MAX_TAGS {
        return Err(Refusal::invalid(
            "tags",
            format!("at most {MAX_TAGS} tags are allowed"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut checked = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        let key = tag_key(&format!("tags[{i}].key"), &tag.key)?;
        let value = tag_value(&format!("tags[{i}].value"), &tag.value)?;
        if !seen.insert(key.clone()) {
            return Err(Refusal::invalid(
                format!("tags[{i}].key"),
                format!("the key `{key}` appears twice; keys are unique per user"),
            ));
        }
        checked.push(Tag { key, value });
    }
    Ok(checked)
}

/// Sign-up settings as a profile may save them.
pub fn settings(settings: SignupSettings) -> Decided<SignupSettings> {
    if settings.fields.len() > MAX_FIELDS {
        return Err(Refusal::invalid(
            "fields",
            format!("at most {MAX_FIELDS} fields are allowed"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut fields = Vec::with_capacity(settings.fields.len());
    for (i, field) in settings.fields.into_iter().enumerate() {
        let at = |part: &str| format!("fields[{i}].{part}");
        let key = tag_key(&at("key"), &field.key)?;
        if RECORD_FIELDS.contains(&key.as_str()) {
            return Err(Refusal::invalid(
                at("key"),
                format!("`{key}` is a field of every run user; choose another key"),
            ));
        }
        if !seen.insert(key.clone()) {
            return Err(Refusal::invalid(
                at("key"),
                format!("the key `{key}` appears twice"),
            ));
        }
        let label = validate::name(&at("label"), &field.label)?;
        let options = match (field.kind, field.options) {
            (FieldType::Select, Some(options)) => Some(select_options(&at("options"), &options)?),
            (FieldType::Select, None) => {
                return Err(Refusal::invalid(
                    at("options"),
                    "a select field needs its options",
                ));
            }
            (_, Some(_)) => {
                return Err(Refusal::invalid(
                    at("options"),
                    "only a select field has options",
                ));
            }
            (_, None) => None,
        };
        fields.push(SignupField {
            key,
            label,
            kind: field.kind,
            required: field.required,
            options,
        });
    }
    Ok(SignupSettings {
        signup_enabled: settings.signup_enabled,
        fields,
    })
}

fn select_options(field: &str, options: &[String]) -> Decided<Vec<String>> {
    if options.is_empty() || options.len() > MAX_OPTIONS {
        return Err(Refusal::invalid(
            field,
            format!("a select field offers 1 to {MAX_OPTIONS} options"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut checked = Vec::with_capacity(options.len());
    for (i, option) in options.iter().enumerate() {
        let option = tag_value(&format!("{field}[{i}]"), option)?;
        if !seen.insert(option.clone()) {
            return Err(Refusal::invalid(
                format!("{field}[{i}]"),
                "options must be unique",
            ));
        }
        checked.push(option);
    }
    Ok(checked)
}

/// The tags a sign-up's custom fields make: every required field given, every value of its
/// declared type, no undeclared field. `custom` holds the body's fields beyond the record's.
pub fn custom_tags(settings: &SignupSettings, custom: &Map<String, Value>) -> Decided<Vec<Tag>> {
    for key in custom.keys() {
        if !settings.fields.iter().any(|field| field.key == *key) {
            return Err(Refusal::invalid(
                key.as_str(),
                "this profile's sign-up has no such field",
            ));
        }
    }
    let mut tags = Vec::new();
    for field in &settings.fields {
        let value = match custom.get(&field.key) {
            None | Some(Value::Null) => None,
            Some(value) => custom_value(field, value)?,
        };
        match value {
            Some(value) => tags.push(Tag {
                key: field.key.clone(),
                value,
            }),
            None if field.required => {
                return Err(Refusal::invalid(
                    field.key.as_str(),
                    "this field is required",
                ));
            }
            None => {}
        }
    }
    Ok(tags)
}

/// One custom value, checked against its field's type, as the tag value it becomes.
fn custom_value(field: &SignupField, value: &Value) -> Decided<Option<String>> {
    let name = field.key.as_str();
    let wrong = |what: &str| Err(Refusal::invalid(name, format!("must be {what}")));
    let text = match value {
        Value::String(text) => text.trim(),
        Value::Number(number) if field.kind == FieldType::Number => {
            return Ok(Some(number.to_string()));
        }
        _ if field.kind == FieldType::Number => return wrong("a number"),
        _ => return wrong("a string"),
    };
    if text.is_empty() {
        return Ok(None);
    }
    match field.kind {
        FieldType::Text => tag_value(name, text).map(Some),
        FieldType::Number => match text.parse::<f64>() {
            Ok(number) if number.is_finite() => tag_value(name, text).map(Some),
            _ => wrong("a number"),
        },
        FieldType::Email => Ok(Some(Email::parse_as(name, text)?.to_string())),
        FieldType::Phone => phone(name, text),
        FieldType::Select => {
            let offered = field
                .options
                .as_ref()
                .is_some_and(|options| options.iter().any(|option| option == text));
            if offered {
                Ok(Some(text.to_owned()))
            } else {
                wrong("one of the field's options")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str, kind: FieldType, required: bool) -> SignupField {
        SignupField {
            key: key.into(),
            label: key.into(),
            kind,
            required,
            options: (kind == FieldType::Select).then(|| vec!["a".into(), "b".into()]),
        }
    }

    fn refused_field(outcome: Decided<Vec<Tag>>) -> String {
        match outcome {
            Err(Refusal::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn sign_up_values_are_checked_against_their_fields() {
        let settings = SignupSettings {
            signup_enabled: true,
            fields: vec![
                field("plan", FieldType::Select, true),
                field("size", FieldType::Number, false),
                field("backup", FieldType::Email, false),
            ],
        };
        let body = |value: Value| value.as_object().cloned().unwrap_or_default();
        let tags = custom_tags(
            &settings,
            &body(serde_json::json!({"plan": "a", "size": 12, "backup": "X@Example.com"})),
        );
        assert_eq!(
            tags,
            Ok(vec![
                Tag {
                    key: "plan".into(),
                    value: "a".into()
                },
                Tag {
                    key: "size".into(),
                    value: "12".into()
                },
                Tag {
                    key: "backup".into(),
                    value: "x@example.com".into()
                },
            ])
        );
        assert_eq!(
            refused_field(custom_tags(&settings, &body(serde_json::json!({})))),
            "plan"
        );
        assert_eq!(
            refused_field(custom_tags(
                &settings,
                &body(serde_json::json!({"plan": "z"}))
            )),
            "plan"
        );
        assert_eq!(
            refused_field(custom_tags(
                &settings,
                &body(serde_json::json!({"plan": "a", "size": "many"}))
            )),
            "size"
        );
        assert_eq!(
            refused_field(custom_tags(
                &settings,
                &body(serde_json::json!({"plan": "a", "extra": "x"}))
            )),
            "extra"
        );
    }

    #[test]
    fn tags_are_bounded_and_unique() {
        let tag = |key: &str| Tag {
            key: key.into(),
            value: "v".into(),
        };
        assert!(tags(&[tag("a"), tag("b")]).is_ok());
        assert!(tags(&[tag("a"), tag("a")]).is_err());
        assert!(tags(&[tag("")]).is_err());
        assert!(tags(&[tag(&"k".repeat(65))]).is_err());
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"))).collect();
        assert!(tags(&many).is_err());
    }
}
