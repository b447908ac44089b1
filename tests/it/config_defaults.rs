//! Documentation kept true: config/default.toml equals the built-in defaults; both languages
//! of the default theme have the same strings.

use xacthuc::config::Config;

#[test]
fn default_toml_equals_the_built_in_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let from_file: Config = toml::from_str(&text).expect("default.toml parses");
    assert_eq!(from_file, Config::default());
}

#[test]
fn theme_strings_have_the_same_keys_in_every_language() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/themes/default/strings");
    let keys = |lang: &str| -> std::collections::BTreeSet<String> {
        let text = std::fs::read_to_string(format!("{dir}/{lang}.toml")).unwrap();
        toml::from_str::<toml::Table>(&text)
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys("vi"), keys("en"));
}
