//! Messages for people: a key of the theme's string tables with its placeholders filled in by
//! the page that shows it. Domain and flow code says *what* to tell the user; only `http/`
//! turns it into words of the user's language.

use std::collections::BTreeMap;

/// A message key of the theme with its placeholders (e.g. `{min}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Message {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            args: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }
}

/// Per-field messages, keyed by the form field's name.
pub type FieldErrors = BTreeMap<&'static str, Message>;
