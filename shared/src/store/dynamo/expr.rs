//! Condition and update expressions. Attribute names and values always travel as
//! `ExpressionAttributeNames` / `ExpressionAttributeValues` placeholders, never inside the
//! expression text.

use std::collections::HashMap;

use serde_json::Value;

use super::convert::Attributes;
use crate::store::semantics::guard_key_attr;
use crate::store::{Condition, PK, StoreError, Update};

/// An attribute no item ever carries: removing it is the no-op update expression that still
/// creates a missing item (a transaction's `Update` must have an expression).
const NOOP_ATTR: &str = "__tenantry_noop";

/// Builds the placeholders of one request's expressions.
#[derive(Default)]
pub(super) struct Expr {
    /// placeholder → attribute name
    names: HashMap<String, String>,
    /// attribute name → placeholder (one placeholder per name: DynamoDB refuses unused ones)
    placeholders: HashMap<String, String>,
    /// placeholder → value
    values: Attributes,
}

/// What one update does to one attribute, once every step of an [`Update`] is folded in.
enum Step {
    Set(Value),
    Add(i64),
    Remove,
}

impl Expr {
    pub(super) fn name(&mut self, attr: &str) -> String {
        if let Some(placeholder) = self.placeholders.get(attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_owned());
        self.placeholders
            .insert(attr.to_owned(), placeholder.clone());
        placeholder
    }

    pub(super) fn value(&mut self, value: &Value) -> Result<String, StoreError> {
        let value = serde_dynamo::to_attribute_value(value)
            .map_err(|err| StoreError::Invalid(format!("unstorable value: {err}")))?;
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        Ok(placeholder)
    }

    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(super) fn values(&self) -> Option<Attributes> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    pub(super) fn optional_condition(
        &mut self,
        condition: Option<&Condition>,
    ) -> Result<Option<String>, StoreError> {
        match condition {
            Some(condition) => self.condition(condition),
            None => Ok(None),
        }
    }

    /// The condition expression, or `None` when the condition always holds. Mirrors
    /// [`crate::store::condition_holds`].
    pub(super) fn condition(
        &mut self,
        condition: &Condition,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.clause(condition)?.map(|(expression, _)| expression))
    }

    /// A condition expression, and whether its top level is an `OR` (which needs parentheses
    /// under an `AND`; DynamoDB refuses redundant ones).
    fn clause(&mut self, condition: &Condition) -> Result<Option<(String, bool)>, StoreError> {
        Ok(Some(match condition {
            Condition::Exists => (format!("attribute_exists({})", self.name(PK)), false),
            Condition::NotExists => (format!("attribute_not_exists({})", self.name(PK)), false),
            Condition::Equals(attr, value) => {
                let attr = self.name(attr);
                let value = self.value(value)?;
                (format!("{attr} = {value}"), false)
            }
            Condition::NotEquals(attr, value) => {
                let pk = self.name(PK);
                let attr = self.name(attr);
                let value = self.value(value)?;
                let expression = format!(
                    "attribute_exists({pk}) AND (attribute_not_exists({attr}) OR {attr} <> {value})"
                );
                (expression, false)
            }
            Condition::Below(attr, bound) => {
                let attr = self.name(attr);
                let value = self.value(&Value::from(*bound))?;
                // An absent attribute counts as 0, which is below a positive bound.
                if *bound > 0 {
                    let expression = format!("attribute_not_exists({attr}) OR {attr} < {value}");
                    (expression, true)
                } else {
                    (format!("{attr} < {value}"), false)
                }
            }
            Condition::AtLeast(attr, bound) => {
                let attr = self.name(attr);
                let value = self.value(&Value::from(*bound))?;
                // An absent attribute counts as 0, which is at least a bound of 0 or less.
                if *bound <= 0 {
                    let expression = format!("attribute_not_exists({attr}) OR {attr} >= {value}");
                    (expression, true)
                } else {
                    (format!("{attr} >= {value}"), false)
                }
            }
            Condition::All(all) => {
                let mut parts = Vec::with_capacity(all.len());
                for condition in all {
                    if let Some(part) = self.clause(condition)? {
                        parts.push(part);
                    }
                }
                match parts.len() {
                    0 => return Ok(None),
                    1 => parts.remove(0),
                    _ => {
                        let parts: Vec<String> = parts
                            .into_iter()
                            .map(|(part, or)| if or { format!("({part})") } else { part })
                            .collect();
                        (parts.join(" AND "), false)
                    }
                }
            }
            Condition::Any(any) => {
                let mut parts = Vec::with_capacity(any.len());
                for condition in any {
                    match self.clause(condition)? {
                        // One part always holds: so does the whole.
                        None => return Ok(None),
                        Some(part) => parts.push(part),
                    }
                }
                match parts.len() {
                    0 => {
                        return Err(StoreError::Invalid(
                            "a condition that any of nothing holds never holds".into(),
                        ));
                    }
                    1 => parts.remove(0),
                    // AND binds tighter than OR, and OR is associative: no part needs
                    // parentheses.
                    _ => {
                        let parts: Vec<String> = parts.into_iter().map(|(part, _)| part).collect();
                        (parts.join(" OR "), true)
                    }
                }
            }
        }))
    }

    /// The update expression. Steps on one attribute are folded first, in the order
    /// [`crate::store::apply_update`] applies them (set, add, remove), because DynamoDB refuses an
    /// expression that names one attribute twice.
    pub(super) fn update(&mut self, update: &Update) -> Result<String, StoreError> {
        let mut steps: Vec<(String, Step)> = Vec::new();
        fn step_of<'a>(steps: &'a mut [(String, Step)], attr: &str) -> Option<&'a mut Step> {
            steps
                .iter_mut()
                .find(|(name, _)| name == attr)
                .map(|(_, step)| step)
        }
        fn record(steps: &mut Vec<(String, Step)>, attr: &str, step: Step) {
            match step_of(steps, attr) {
                Some(existing) => *existing = step,
                None => steps.push((attr.to_owned(), step)),
            }
        }
        for (attr, value) in &update.set {
            guard_key_attr(attr)?;
            let step = if value.is_null() {
                Step::Remove
            } else {
                Step::Set(value.clone())
            };
            record(&mut steps, attr, step);
        }
        for (attr, by) in &update.add {
            guard_key_attr(attr)?;
            let overflow = || StoreError::Invalid(format!("`{attr}` would overflow"));
            let step = match step_of(&mut steps, attr) {
                None => Step::Add(*by),
                Some(Step::Add(before)) => Step::Add(before.checked_add(*by).ok_or_else(overflow)?),
                Some(Step::Remove) => Step::Set(Value::from(*by)),
                Some(Step::Set(value)) => {
                    let now = value
                        .as_i64()
                        .ok_or_else(|| StoreError::Invalid(format!("`{attr}` is not a number")))?;
                    Step::Set(Value::from(now.checked_add(*by).ok_or_else(overflow)?))
                }
            };
            record(&mut steps, attr, step);
        }
        for attr in &update.remove {
            guard_key_attr(attr)?;
            record(&mut steps, attr, Step::Remove);
        }

        let (mut set, mut add, mut remove) = (Vec::new(), Vec::new(), Vec::new());
        for (attr, step) in &steps {
            let name = self.name(attr);
            match step {
                Step::Set(value) => set.push(format!("{name} = {}", self.value(value)?)),
                Step::Add(by) => add.push(format!("{name} {}", self.value(&Value::from(*by))?)),
                Step::Remove => remove.push(name),
            }
        }
        if set.is_empty() && add.is_empty() && remove.is_empty() {
            // Nothing to change: still create a missing item, as `UpdateItem` does.
            remove.push(self.name(NOOP_ATTR));
        }
        let mut clauses = Vec::new();
        if !set.is_empty() {
            clauses.push(format!("SET {}", set.join(", ")));
        }
        if !add.is_empty() {
            clauses.push(format!("ADD {}", add.join(", ")));
        }
        if !remove.is_empty() {
            clauses.push(format!("REMOVE {}", remove.join(", ")));
        }
        Ok(clauses.join(" "))
    }
}
