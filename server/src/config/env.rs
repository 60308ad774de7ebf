use std::str::FromStr;

use secrecy::SecretString;

use super::ConfigError;

/// Where settings come from: the process environment, or a map in tests.
pub trait EnvSource {
    fn get(&self, name: &str) -> Option<String>;
}

pub(super) struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

pub(super) struct Env<'a>(pub &'a dyn EnvSource);

impl Env<'_> {
    /// A set, non-empty value.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub fn parsed<T>(&self, name: &str, default: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let raw = self.optional(name).unwrap_or_else(|| default.to_owned());
        raw.parse().map_err(|e| ConfigError::new(name, format!("{e}")))
    }

    /// A secret given directly as `NAME` or as a file path in `NAME_FILE`.
    pub fn secret(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        let file_setting = format!("{name}_FILE");
        match (self.optional(name), self.optional(&file_setting)) {
            (Some(_), Some(_)) => Err(ConfigError::new(name, format!("set {name} or {file_setting}, not both"))),
            (Some(value), None) => Ok(Some(SecretString::from(value))),
            (None, Some(path)) => {
                let value = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::new(file_setting.as_str(), format!("cannot read {path}: {e}")))?;
                let value = value.trim();
                if value.is_empty() {
                    return Err(ConfigError::new(file_setting.as_str(), format!("{path} is empty")));
                }
                Ok(Some(SecretString::from(value.to_owned())))
            }
            (None, None) => Ok(None),
        }
    }
}
