//! Raw serde mirrors of the settings file, one `deny_unknown_fields` struct per section or
//! driver, and [`deserialize_at`], which deserializes one subtree so that serde's errors name
//! the full key path (`channels.email.port`) and point at the offending key.
//!
//! Driver sections are tagged (`driver: twilio`), but not with `#[serde(tag)]`: serde buffers
//! an internally tagged enum's content and loses the key path, so an unknown key inside a
//! driver would be reported at the channel, not at the key. The tag is read first (as a
//! `*Kind` enum), then the matching struct is deserialized from the section without its tag.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};

use super::{ReloadMode, Role, SmtpTls};
use crate::diagnostic::Diagnostic;
use crate::yaml::{Key, Node, NodeValue, Segment};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendWindow {
    pub days: Option<Vec<String>>,
    pub hours: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    pub name: String,
    pub role: Role,
    pub token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub header_timeout: Option<String>,
    pub body_timeout: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub max_connections: Option<usize>,
    pub metrics_token: Option<String>,
    pub metrics_listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, deserialize_with = "number")]
    pub max_text_bytes: Option<usize>,
    #[serde(default, deserialize_with = "number")]
    pub max_id_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    #[serde(default, deserialize_with = "number")]
    pub cache_capacity_mb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reload {
    pub mode: Option<ReloadMode>,
    pub debounce: Option<String>,
    pub poll_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub period: Option<String>,
    pub sweep_cron: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub max_messages: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    pub master_key: Option<String>,
    pub master_key_file: Option<String>,
    #[serde(default, deserialize_with = "switch")]
    pub development_key: Option<bool>,
    pub suppression_secret: Option<String>,
    pub help_text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    pub signing_secret: Option<String>,
    #[serde(default)]
    pub destinations: Vec<WebhookDestination>,
    #[serde(default, deserialize_with = "number")]
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDestination {
    pub url: String,
    pub secret: String,
}

/// A driver or provider that takes no keys besides its tag (`outbox`, `rules`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AiKind {
    #[serde(rename = "rules")]
    Rules,
    #[serde(rename = "openai")]
    OpenAi,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAi {
    pub base_url: Option<String>,
    pub model: String,
    pub api_key: String,
    pub timeout: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub max_concurrency: Option<usize>,
    #[serde(default, deserialize_with = "number")]
    pub max_retries: Option<u32>,
    #[serde(default, deserialize_with = "switch")]
    pub mask_contact_details: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsKind {
    Outbox,
    Twilio,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Twilio {
    pub account_sid: String,
    pub auth_token: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub api_base: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub rate_per_second: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    Outbox,
    Smtp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailOutbox {
    pub from: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    #[serde(default, deserialize_with = "number")]
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: Option<SmtpTls>,
    pub from: String,
    pub reply_domain: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub rate_per_second: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessengerKind {
    Outbox,
    Messenger,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graph {
    pub page_access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    pub api_base: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub rate_per_second: Option<u32>,
}

/// Deserializes `leaf` as if it sat at `path` under `root`: the tree is pruned to the single
/// chain of keys leading to it (keeping their positions), so serde's path starts at the root.
pub fn deserialize_at<T: DeserializeOwned>(
    file: &Path,
    root: &Node,
    path: &[Segment],
    leaf: Node,
) -> Result<T, Diagnostic> {
    let pruned = prune(root, path, leaf.clone());
    match path.len() {
        1 => pruned.deserialize::<Along<T>>(file).map(|a| a.0),
        2 => pruned.deserialize::<Along<Along<T>>>(file).map(|a| a.0.0),
        3 => pruned.deserialize::<Along<Along<Along<T>>>>(file).map(|a| a.0.0.0),
        // Deeper paths do not occur in settings; messages then name the path from the leaf.
        _ => leaf.deserialize::<T>(file),
    }
}

/// `root` reduced to the keys along `path`, ending in `leaf`. Sequences are padded with nulls
/// so the leaf keeps its index.
fn prune(root: &Node, path: &[Segment], leaf: Node) -> Node {
    let Some((first, rest)) = path.split_first() else {
        return leaf;
    };
    let null = |at| Node { at, value: NodeValue::Null };
    let value = match first {
        Segment::Key(name) => {
            let child = root.get(name).cloned().unwrap_or_else(|| null(root.at));
            let key = Key { name: name.clone(), at: root.key_position(name) };
            NodeValue::Map(vec![(key, prune(&child, rest, leaf))])
        }
        Segment::Index(index) => {
            let child = root.as_seq().and_then(|s| s.get(*index)).cloned().unwrap_or_else(|| null(root.at));
            let mut items = vec![null(root.at); *index];
            items.push(prune(&child, rest, leaf));
            NodeValue::Seq(items)
        }
    };
    Node { at: root.at, value }
}

/// One step along a pruned chain: the single map entry, or the last non-null sequence item.
struct Along<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Along<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AlongVisitor(PhantomData))
    }
}

struct AlongVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for AlongVisitor<T> {
    type Value = Along<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a pruned settings path")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Along<T>, A::Error> {
        match map.next_key::<String>()? {
            Some(_) => Ok(Along(map.next_value::<T>()?)),
            None => Err(de::Error::custom("empty pruned path")),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Along<T>, A::Error> {
        while let Some(item) = seq.next_element::<Option<T>>()? {
            if let Some(value) = item {
                return Ok(Along(value));
            }
        }
        Err(de::Error::custom("empty pruned path"))
    }
}

/// A whole number written plainly or as a string, so that `port: ${SMTP_PORT:-587}` works
/// after environment expansion.
fn number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_any(Lenient(PhantomData))
}

/// `true`/`false` written plainly or as a string (`${MASK:-true}`).
fn switch<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    deserializer.deserialize_any(Switch)
}

struct Lenient<T>(PhantomData<T>);

impl<'de, T: FromStr + TryFrom<u64> + TryFrom<i64>> Visitor<'de> for Lenient<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        T::try_from(v).map(Some).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        T::try_from(v).map(Some).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        v.trim().parse().map(Some).map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
    }
}

struct Switch;

impl<'de> Visitor<'de> for Switch {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true or false")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<bool>, E> {
        Ok(Some(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<bool>, E> {
        match v.trim() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }
}
