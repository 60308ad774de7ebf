//! When unpaid links are reminded (`[reminders]` in `remit.toml`): a default schedule, one per
//! brand and one per Salesforce record type (the most specific wins), each step after a time since
//! the link email went out, with its own template and sender.
//!
//! ```toml
//! [reminders]
//! after = ["3d", "7d", "30d"]              # the last step uses the "final" template
//! [reminders.record_types.Nonprofit]
//! template = "donation"
//! from = "Giving <giving@example.org>"
//! reply_to = "donors@example.org"
//! steps = [{ after = "5d" }, { after = "20d", template = "final" }]
//! ```

use std::{collections::BTreeMap, time::Duration};

use lettre::message::Mailbox;
use serde::Deserialize;

use super::ConfigError;

/// The built-in reminder emails (askama templates in `server/templates/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderTemplate {
    /// A friendly nudge.
    Reminder,
    /// Wording for donors.
    Donation,
    /// The last one: the link is still open, and the team will be in touch.
    Final,
}

impl ReminderTemplate {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "reminder" => Self::Reminder,
            "donation" => Self::Donation,
            "final" => Self::Final,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderStep {
    /// Since the link email went out.
    pub after: Duration,
    pub template: ReminderTemplate,
    /// `None`: `MAIL_FROM`.
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderSchedule {
    pub steps: Vec<ReminderStep>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reminders {
    default: ReminderSchedule,
    brands: BTreeMap<String, ReminderSchedule>,
    /// Keyed by the record type in lower case (Salesforce's record type names are matched so).
    record_types: BTreeMap<String, ReminderSchedule>,
}

impl Reminders {
    /// The schedule of a payment of `brand` and `record_type`: the record type's, else the
    /// brand's, else the default (no steps when none is configured).
    pub fn schedule_for(&self, brand: &str, record_type: Option<&str>) -> &ReminderSchedule {
        record_type
            .and_then(|rt| self.record_types.get(&rt.to_lowercase()))
            .or_else(|| self.brands.get(brand))
            .unwrap_or(&self.default)
    }
}

/// `30s`, `15m`, `12h` or `3d`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.len().saturating_sub(1));
    let number: u64 = number.parse().map_err(|_| format!("{raw:?} is not a duration such as 3d, 12h, 30m or 2s"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?}: use s, m, h or d, e.g. 3d")),
    };
    Ok(Duration::from_secs(number * seconds))
}

/// `[reminders]`: the default schedule's own keys, and the schedules per brand and record type.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReminders {
    after: Option<Vec<String>>,
    steps: Option<Vec<RawStep>>,
    template: Option<String>,
    from: Option<String>,
    reply_to: Option<String>,
    #[serde(default)]
    brands: BTreeMap<String, RawSchedule>,
    #[serde(default)]
    record_types: BTreeMap<String, RawSchedule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    after: Option<Vec<String>>,
    steps: Option<Vec<RawStep>>,
    template: Option<String>,
    from: Option<String>,
    reply_to: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    after: String,
    template: Option<String>,
    from: Option<String>,
    reply_to: Option<String>,
}

fn mailbox(setting: &str, raw: Option<&String>) -> Result<Option<Mailbox>, ConfigError> {
    raw.map(|m| m.parse().map_err(|e| ConfigError::new(setting, format!("not a mailbox ({e})")))).transpose()
}

fn template(setting: &str, raw: Option<&String>) -> Result<Option<ReminderTemplate>, ConfigError> {
    raw.map(|t| {
        ReminderTemplate::parse(t)
            .ok_or_else(|| ConfigError::new(setting, format!("{t:?} is not a template (reminder, donation, final)")))
    })
    .transpose()
}

impl RawSchedule {
    fn validate(&self, at: &str) -> Result<ReminderSchedule, ConfigError> {
        let setting = |name: &str| format!("remit.toml {at}.{name}");
        let schedule_template = template(&setting("template"), self.template.as_ref())?;
        let from = mailbox(&setting("from"), self.from.as_ref())?;
        let reply_to = mailbox(&setting("reply_to"), self.reply_to.as_ref())?;
        let raw_steps: Vec<RawStep> = match (&self.after, &self.steps) {
            (Some(_), Some(_)) => return Err(ConfigError::new(setting("after"), "give after or steps, not both")),
            (Some(after), None) => {
                after.iter().map(|a| RawStep { after: a.clone(), template: None, from: None, reply_to: None }).collect()
            }
            (None, Some(steps)) => steps.clone(),
            (None, None) => Vec::new(),
        };
        let count = raw_steps.len();
        let mut steps: Vec<ReminderStep> = Vec::new();
        for (i, raw) in raw_steps.iter().enumerate() {
            let at = setting(&format!("steps[{i}]"));
            let after = parse_duration(&raw.after).map_err(|e| ConfigError::new(format!("{at}.after"), e))?;
            if steps.last().is_some_and(|previous| previous.after >= after) {
                return Err(ConfigError::new(format!("{at}.after"), "each step must come after the one before"));
            }
            let last = i + 1 == count;
            let fallback =
                if last && schedule_template.is_none() { ReminderTemplate::Final } else { ReminderTemplate::Reminder };
            steps.push(ReminderStep {
                after,
                template: template(&format!("{at}.template"), raw.template.as_ref())?
                    .or(schedule_template)
                    .unwrap_or(fallback),
                from: mailbox(&format!("{at}.from"), raw.from.as_ref())?.or_else(|| from.clone()),
                reply_to: mailbox(&format!("{at}.reply_to"), raw.reply_to.as_ref())?.or_else(|| reply_to.clone()),
            });
        }
        Ok(ReminderSchedule { steps })
    }
}

impl RawReminders {
    pub(super) fn validate(&self) -> Result<Reminders, ConfigError> {
        let each = |schedules: &BTreeMap<String, RawSchedule>, at: &str, key: fn(&str) -> String| {
            schedules
                .iter()
                .map(|(name, raw)| Ok((key(name), raw.validate(&format!("reminders.{at}.{name}"))?)))
                .collect::<Result<BTreeMap<_, _>, ConfigError>>()
        };
        let default = RawSchedule {
            after: self.after.clone(),
            steps: self.steps.clone(),
            template: self.template.clone(),
            from: self.from.clone(),
            reply_to: self.reply_to.clone(),
        };
        Ok(Reminders {
            default: default.validate("reminders")?,
            brands: each(&self.brands, "brands", str::to_owned)?,
            record_types: each(&self.record_types, "record_types", str::to_lowercase)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Reminders, ConfigError> {
        toml::from_str::<RawReminders>(text).map_err(|e| ConfigError::new("reminders", e.to_string()))?.validate()
    }

    #[test]
    fn the_most_specific_schedule_wins_and_the_last_default_step_is_final() {
        let reminders = parse(
            "after = [\"3d\", \"7d\", \"30d\"]\n\
             [brands.give]\nafter = [\"1d\"]\n\
             [record_types.Nonprofit]\ntemplate = \"donation\"\nfrom = \"Giving <giving@example.org>\"\n\
             steps = [{ after = \"5d\" }, { after = \"20d\", template = \"final\" }]\n",
        )
        .unwrap();
        let default = reminders.schedule_for("remit", None);
        assert_eq!(default.steps.len(), 3);
        assert_eq!(default.steps[0].template, ReminderTemplate::Reminder);
        assert_eq!(default.steps[2].template, ReminderTemplate::Final);
        assert_eq!(reminders.schedule_for("give", Some("Profit")).steps.len(), 1);
        let nonprofit = reminders.schedule_for("give", Some("nonprofit"));
        assert_eq!(nonprofit.steps[0].template, ReminderTemplate::Donation);
        assert_eq!(nonprofit.steps[1].template, ReminderTemplate::Final);
        assert_eq!(nonprofit.steps[0].from.as_ref().unwrap().email.to_string(), "giving@example.org");
        assert_eq!(parse("").unwrap().schedule_for("remit", None).steps, []);
    }

    #[test]
    fn a_bad_schedule_stops_start_up_naming_the_setting() {
        let cases = [
            ("after = [\"3x\"]", "remit.toml reminders.steps[0].after"),
            ("after = [\"7d\", \"3d\"]", "remit.toml reminders.steps[1].after"),
            ("template = \"shout\"\nafter = [\"1d\"]", "remit.toml reminders.template"),
            ("[record_types.N]\nfrom = \"not a mailbox\"", "remit.toml reminders.record_types.N.from"),
        ];
        for (text, setting) in cases {
            assert_eq!(parse(text).unwrap_err().setting, setting, "{text}");
        }
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
    }
}
