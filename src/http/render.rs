//! The theme: handlebars templates (strict mode) and string tables per locale. An operator's
//! theme directory overrides templates and strings by name.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use handlebars::Handlebars;
use serde_json::{Map, Value};

use crate::config::ThemeConfig;

pub const LOCALES: [&str; 2] = ["vi", "en"];

pub struct Theme {
    hb: Handlebars<'static>,
    strings: HashMap<&'static str, Map<String, Value>>,
    pub default_locale: &'static str,
}

/// The themes of `theme.clients_dir`, by name: each its own directory layered over the default
/// and the operator's theme.
pub type ClientThemes = BTreeMap<String, Arc<Theme>>;

/// Whether `name` may name a client theme: lowercase letters, digits and `-`, 1 to 64.
pub fn valid_theme_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Loads every client theme of `cfg.clients_dir` (none without one). A subdirectory whose name
/// cannot name a theme is refused, so an operator's typo is seen at start, not on a portal.
pub fn load_client_themes(cfg: &ThemeConfig) -> Result<ClientThemes, String> {
    let mut themes = ClientThemes::new();
    let Some(root) = &cfg.clients_dir else {
        return Ok(themes);
    };
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if !valid_theme_name(&name) {
            return Err(format!(
                "{}: a client theme's name is lowercase letters, digits and '-'",
                path.display()
            ));
        }
        let theme = Theme::load_layers(cfg, Some(&path))?;
        themes.insert(name, Arc::new(theme));
    }
    Ok(themes)
}

impl Theme {
    pub fn load(cfg: &ThemeConfig) -> Result<Self, String> {
        Self::load_layers(cfg, None)
    }

    /// The default theme, the operator's over it, and `client` over both.
    fn load_layers(cfg: &ThemeConfig, client: Option<&Path>) -> Result<Self, String> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.set_dev_mode(false);
        let mut strings: HashMap<&'static str, Map<String, Value>> = HashMap::new();
        let dirs = std::iter::once(cfg.dir.as_path())
            .chain(cfg.override_dir.as_deref())
            .chain(client);
        for dir in dirs {
            register_templates(&mut hb, &dir.join("templates"))?;
            for locale in LOCALES {
                let path = dir.join("strings").join(format!("{locale}.toml"));
                if !path.exists() {
                    continue;
                }
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let table: toml::Table =
                    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                let entry = strings.entry(locale).or_default();
                for (k, v) in table {
                    entry.insert(k, Value::String(v.as_str().unwrap_or_default().to_string()));
                }
            }
        }
        for locale in LOCALES {
            if !strings.contains_key(locale) {
                return Err(format!("theme has no strings for locale {locale}"));
            }
        }
        let default_locale = if cfg.default_locale == "en" {
            "en"
        } else {
            "vi"
        };
        Ok(Self {
            hb,
            strings,
            default_locale,
        })
    }

    /// A translated string; the key itself when missing (visible, never a crash).
    pub fn t(&self, locale: &str, key: &str) -> String {
        self.strings
            .get(locale)
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_string()
    }

    pub fn strings(&self, locale: &str) -> Value {
        Value::Object(self.strings.get(locale).cloned().unwrap_or_default())
    }

    pub fn render(&self, template: &str, ctx: &Value) -> Result<String, String> {
        self.hb.render(template, ctx).map_err(|e| e.to_string())
    }

    /// The normalised locale for a user-supplied tag, if we have it.
    pub fn supported(tag: &str) -> Option<&'static str> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        LOCALES
            .iter()
            .find(|l| l.eq_ignore_ascii_case(primary))
            .copied()
    }
}

fn register_templates(hb: &mut Handlebars<'static>, dir: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("hbs") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        hb.register_template_file(name, &path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
