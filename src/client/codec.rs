//! The client side of the wire: requests out, replies in, one JSON object per UDP datagram.
//!
//! Synod's servers speak Jepsen Maelstrom's `lin-kv` bodies (DESIGN.md, "Client wire protocol"):
//!
//! ```text
//! {"type":"read","msg_id":1,"key":3}                -> {"type":"read_ok","in_reply_to":1,"value":7}
//! {"type":"write","msg_id":2,"key":3,"value":7}     -> {"type":"write_ok","in_reply_to":2}
//! {"type":"cas","msg_id":3,"key":3,"from":7,"to":8} -> {"type":"cas_ok","in_reply_to":3}
//! {"type":"error","in_reply_to":N,"code":C,"text":"...","leader":"ADDR"}
//! ```
//!
//! [`Wire::Counter`] speaks Maelstrom's `g-counter` bodies, to one counter: an `add` of a delta
//! and a `read` without a key; replies and errors as `lin-kv`.
//!
//! ```text
//! {"type":"add","msg_id":1,"delta":3}  -> {"type":"add_ok","in_reply_to":1}
//! {"type":"read","msg_id":2}           -> {"type":"read_ok","in_reply_to":2,"value":12}
//! ```
//!
//! The load generator encodes a request per operation and decodes a reply per datagram, so both
//! directions are written for speed: [`encode_request`] writes the JSON by hand (digits straight
//! into a reused buffer, no serde, no allocation), and [`decode_reply`] lets serde_json fill a struct
//! that borrows its strings from the datagram (an error's `text` is only copied when it contains
//! escapes).
//!
//! Two more [`Wire`]s share the API, for baselines that the benchmarks compare against:
//! - [`Wire::StaterightJson`]: the same actor run under `stateright::actor::spawn`, stateright's own
//!   UDP runtime, which sends serde_json of the actor's message type. Requests are exactly
//!   `serde_json` of [`KvMsg<()>`](synod_models::kv::KvMsg) (`{"Write":{"msg_id":1,"key":3,"value":7}}`,
//!   a test pins the bytes), replies are decoded as `KvMsg<IgnoredAny>`.
//! - [`Wire::Echo`]: the server is a bare UDP echo loop ([`super::echo`]) that returns the request
//!   datagram unchanged; the echoed request counts as a successful reply to its `msg_id` (`read`
//!   becomes `read_ok` with value 0). There is nothing to check, only the cost of a round trip.
//!
//! An add on the `lin-kv` and echo wires is the `g-counter` body (harmless: a register server
//! refuses it); on the stateright wire, serde_json of `KvMsg::Add`. A write or a cas on the counter
//! wire is the `lin-kv` body, which a counter server refuses. The load generator never sends either
//! ([`LoadConfig::validate`](super::load::LoadConfig::validate) refuses the mix).
//!
//! Decoding never panics: anything that is not a reply of the wire is a [`DecodeError`].

use crate::lincheck::{Key, OpKind, Value};
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use synod_models::kv::KvMsg;

/// Error code 10: the operation is not supported.
pub const ERR_NOT_SUPPORTED: u32 = 10;
/// Error code 11: temporarily unavailable (definite: not applied); may name the leader.
pub const ERR_TEMPORARILY_UNAVAILABLE: u32 = 11;
/// Error code 12: the request was malformed.
pub const ERR_MALFORMED_REQUEST: u32 = 12;
/// Error code 20: the key does not exist.
pub const ERR_KEY_DOES_NOT_EXIST: u32 = 20;
/// Error code 22: a precondition failed (cas `from` mismatch; a write-once key holds another value).
pub const ERR_PRECONDITION_FAILED: u32 = 22;

/// The largest datagram a client receives; longer ones are truncated and then fail to decode.
pub const MAX_DATAGRAM_BYTES: usize = 65_536;

/// Which encoding a server speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Wire {
    /// Maelstrom `lin-kv` JSON bodies: Synod's own runtime.
    #[default]
    LinKv,
    /// serde_json of `KvMsg`: the same actor under stateright's `actor::spawn`.
    StaterightJson,
    /// A bare echo loop: the echoed request is the reply.
    Echo,
    /// Maelstrom `g-counter` JSON bodies: `add` and a keyless `read` (one counter).
    Counter,
}

impl Wire {
    /// Every wire.
    pub const ALL: [Wire; 4] = [Wire::LinKv, Wire::StaterightJson, Wire::Echo, Wire::Counter];

    /// The wire's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Wire::LinKv => "lin-kv",
            Wire::StaterightJson => "stateright-json",
            Wire::Echo => "echo",
            Wire::Counter => "g-counter",
        }
    }
}

impl fmt::Display for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown wire name; lists the valid ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWire(pub String);

impl fmt::Display for UnknownWire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let valid: Vec<&str> = Wire::ALL.iter().map(|w| w.name()).collect();
        write!(f, "unknown wire {:?} (valid: {})", self.0, valid.join(", "))
    }
}

impl std::error::Error for UnknownWire {}

impl FromStr for Wire {
    type Err = UnknownWire;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Wire::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| UnknownWire(s.to_string()))
    }
}

/// One client request: an operation on a key (the `msg_id` is the sender's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    pub key: Key,
    pub kind: OpKind,
}

/// A decoded reply. `text` borrows from the datagram; [`Reply::into_owned`] detaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The `msg_id` of the request this answers.
    pub in_reply_to: u64,
    pub body: ReplyBody<'a>,
}

/// What a reply says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyBody<'a> {
    /// `read_ok` with the key's (or the counter's) value.
    ReadOk(Value),
    WriteOk,
    CasOk,
    /// `add_ok`: a counter's add was applied.
    AddOk,
    /// `error`: Maelstrom's `code`, its human `text`, for code 11 the leader the server knows of
    /// (`None` if absent or not a socket address), and for code 22 the key's current `value` when
    /// the server tells it (Paxos: the value the key was decided with).
    Error {
        code: u32,
        text: Cow<'a, str>,
        leader: Option<SocketAddr>,
        value: Option<Value>,
    },
}

impl Reply<'_> {
    /// The same reply, owning its text.
    pub fn into_owned(self) -> Reply<'static> {
        let body = match self.body {
            ReplyBody::ReadOk(v) => ReplyBody::ReadOk(v),
            ReplyBody::WriteOk => ReplyBody::WriteOk,
            ReplyBody::CasOk => ReplyBody::CasOk,
            ReplyBody::AddOk => ReplyBody::AddOk,
            ReplyBody::Error {
                code,
                text,
                leader,
                value,
            } => ReplyBody::Error {
                code,
                text: Cow::Owned(text.into_owned()),
                leader,
                value,
            },
        };
        Reply {
            in_reply_to: self.in_reply_to,
            body,
        }
    }
}

/// `read_ok 7`, `write_ok`, `cas_ok`, `add_ok`, `error 11 (temporarily unavailable): not the
/// leader; leader 127.0.0.1:7001`, `error 22 (precondition failed); current value 7`: what `synod
/// client` prints. Every field the reply carried is there; a `text` that only repeats the code's
/// name is not printed twice.
impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            ReplyBody::ReadOk(v) => write!(f, "read_ok {v}"),
            ReplyBody::WriteOk => f.write_str("write_ok"),
            ReplyBody::CasOk => f.write_str("cas_ok"),
            ReplyBody::AddOk => f.write_str("add_ok"),
            ReplyBody::Error {
                code,
                text,
                leader,
                value,
            } => {
                write!(f, "error {code}")?;
                let name = error_name(*code);
                if let Some(name) = name {
                    write!(f, " ({name})")?;
                }
                if !text.is_empty() && name.is_none_or(|n| !n.eq_ignore_ascii_case(text)) {
                    write!(f, ": {text}")?;
                }
                if let Some(v) = value {
                    write!(f, "; current value {v}")?;
                }
                if let Some(l) = leader {
                    write!(f, "; leader {l}")?;
                }
                Ok(())
            }
        }
    }
}

/// Maelstrom's name for an error code Synod uses.
pub fn error_name(code: u32) -> Option<&'static str> {
    Some(match code {
        ERR_NOT_SUPPORTED => "not supported",
        ERR_TEMPORARILY_UNAVAILABLE => "temporarily unavailable",
        ERR_MALFORMED_REQUEST => "malformed request",
        ERR_KEY_DOES_NOT_EXIST => "key does not exist",
        ERR_PRECONDITION_FAILED => "precondition failed",
        _ => return None,
    })
}

/// Why a datagram is not a reply.
#[derive(Debug)]
pub enum DecodeError {
    /// Not JSON, or JSON of the wrong shape.
    Json(serde_json::Error),
    /// A `type` this client does not know (for the echo wire: not a request type).
    UnknownType(String),
    /// A field the reply's type needs is absent.
    MissingField(&'static str),
    /// A well-formed message that is not a reply (a request, or a protocol's internal message).
    NotAReply,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Json(e) => write!(f, "not a reply: {e}"),
            DecodeError::UnknownType(t) => write!(f, "unknown message type {t:?}"),
            DecodeError::MissingField(name) => write!(f, "reply lacks field {name:?}"),
            DecodeError::NotAReply => f.write_str("a message that is not a reply"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        DecodeError::Json(e)
    }
}

/// Writes `msg_id`'s request for `req` in `wire`'s encoding into `buf`, replacing its contents.
/// Allocates only if `buf` is too small (a request is under 120 bytes). The counter wire ignores
/// the key (there is one counter).
pub fn encode_request(wire: Wire, msg_id: u64, req: &Request, buf: &mut Vec<u8>) {
    buf.clear();
    match wire {
        Wire::LinKv | Wire::Echo => encode_lin_kv(msg_id, req, buf),
        Wire::Counter => match req.kind {
            OpKind::Read => {
                buf.extend_from_slice(b"{\"type\":\"read\",\"msg_id\":");
                push_u64(buf, msg_id);
            }
            OpKind::Add(delta) => encode_add(msg_id, delta, buf),
            // Not counter operations (the load generator never sends them): the lin-kv body,
            // which a counter server refuses.
            OpKind::Write(_) | OpKind::Cas { .. } => encode_lin_kv(msg_id, req, buf),
        },
        // serde's externally tagged enum: {"Variant":{fields in declaration order}}.
        Wire::StaterightJson => {
            match req.kind {
                OpKind::Read => buf.extend_from_slice(b"{\"Read\":{\"msg_id\":"),
                OpKind::Write(_) => buf.extend_from_slice(b"{\"Write\":{\"msg_id\":"),
                OpKind::Cas { .. } => buf.extend_from_slice(b"{\"Cas\":{\"msg_id\":"),
                OpKind::Add(_) => buf.extend_from_slice(b"{\"Add\":{\"msg_id\":"),
            }
            push_u64(buf, msg_id);
            if let OpKind::Add(delta) = req.kind {
                // `KvMsg::Add` has no key; no register actor applies it.
                buf.extend_from_slice(b",\"delta\":");
                push_u64(buf, delta);
            } else {
                buf.extend_from_slice(b",\"key\":");
                push_u64(buf, req.key);
            }
            match req.kind {
                OpKind::Read | OpKind::Add(_) => {}
                OpKind::Write(value) => {
                    buf.extend_from_slice(b",\"value\":");
                    push_u64(buf, value);
                }
                OpKind::Cas { from, to } => {
                    buf.extend_from_slice(b",\"from\":");
                    push_u64(buf, from);
                    buf.extend_from_slice(b",\"to\":");
                    push_u64(buf, to);
                }
            }
            buf.push(b'}');
        }
    }
    buf.push(b'}');
}

/// The lin-kv body of `req`, without its closing brace.
#[inline]
fn encode_lin_kv(msg_id: u64, req: &Request, buf: &mut Vec<u8>) {
    match req.kind {
        OpKind::Read => {
            buf.extend_from_slice(b"{\"type\":\"read\",\"msg_id\":");
            push_u64(buf, msg_id);
            buf.extend_from_slice(b",\"key\":");
            push_u64(buf, req.key);
        }
        OpKind::Write(value) => {
            buf.extend_from_slice(b"{\"type\":\"write\",\"msg_id\":");
            push_u64(buf, msg_id);
            buf.extend_from_slice(b",\"key\":");
            push_u64(buf, req.key);
            buf.extend_from_slice(b",\"value\":");
            push_u64(buf, value);
        }
        OpKind::Cas { from, to } => {
            buf.extend_from_slice(b"{\"type\":\"cas\",\"msg_id\":");
            push_u64(buf, msg_id);
            buf.extend_from_slice(b",\"key\":");
            push_u64(buf, req.key);
            buf.extend_from_slice(b",\"from\":");
            push_u64(buf, from);
            buf.extend_from_slice(b",\"to\":");
            push_u64(buf, to);
        }
        OpKind::Add(delta) => encode_add(msg_id, delta, buf),
    }
}

/// The g-counter `add` body, without its closing brace (no key: there is one counter).
#[inline]
fn encode_add(msg_id: u64, delta: Value, buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"{\"type\":\"add\",\"msg_id\":");
    push_u64(buf, msg_id);
    buf.extend_from_slice(b",\"delta\":");
    push_u64(buf, delta);
}

/// Appends `n` in decimal.
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Decodes one datagram of `wire` into a reply.
pub fn decode_reply(wire: Wire, datagram: &[u8]) -> Result<Reply<'_>, DecodeError> {
    match wire {
        Wire::LinKv | Wire::Counter => decode_lin_kv(datagram),
        Wire::StaterightJson => decode_stateright(datagram),
        Wire::Echo => decode_echo(datagram),
    }
}

/// A string that borrows from the datagram unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

/// Every field any lin-kv body this client reads may carry; unknown fields are ignored.
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "type", borrow)]
    kind: Text<'a>,
    msg_id: Option<u64>,
    in_reply_to: Option<u64>,
    /// `read_ok`: the value read; `error` 22: the key's current value.
    value: Option<u64>,
    code: Option<u32>,
    #[serde(borrow)]
    text: Option<Text<'a>>,
    #[serde(borrow)]
    leader: Option<Text<'a>>,
}

fn decode_lin_kv(datagram: &[u8]) -> Result<Reply<'_>, DecodeError> {
    let b: Body = serde_json::from_slice(datagram)?;
    let body = match &*b.kind.0 {
        "read_ok" => ReplyBody::ReadOk(b.value.ok_or(DecodeError::MissingField("value"))?),
        "write_ok" => ReplyBody::WriteOk,
        "cas_ok" => ReplyBody::CasOk,
        "add_ok" => ReplyBody::AddOk,
        "error" => ReplyBody::Error {
            code: b.code.ok_or(DecodeError::MissingField("code"))?,
            text: b.text.map_or(Cow::Borrowed(""), |t| t.0),
            leader: b.leader.and_then(|l| l.0.parse().ok()),
            value: b.value,
        },
        "read" | "write" | "cas" | "add" => return Err(DecodeError::NotAReply),
        other => return Err(DecodeError::UnknownType(other.to_string())),
    };
    let in_reply_to = b
        .in_reply_to
        .ok_or(DecodeError::MissingField("in_reply_to"))?;
    Ok(Reply { in_reply_to, body })
}

fn decode_echo(datagram: &[u8]) -> Result<Reply<'_>, DecodeError> {
    let b: Body = serde_json::from_slice(datagram)?;
    let body = match &*b.kind.0 {
        "read" => ReplyBody::ReadOk(0),
        "write" => ReplyBody::WriteOk,
        "cas" => ReplyBody::CasOk,
        "add" => ReplyBody::AddOk,
        other => return Err(DecodeError::UnknownType(other.to_string())),
    };
    let in_reply_to = b.msg_id.ok_or(DecodeError::MissingField("msg_id"))?;
    Ok(Reply { in_reply_to, body })
}

fn decode_stateright(datagram: &[u8]) -> Result<Reply<'static>, DecodeError> {
    let msg: KvMsg<IgnoredAny> = serde_json::from_slice(datagram)?;
    let (in_reply_to, body) = match msg {
        KvMsg::ReadOk { in_reply_to, value } => (in_reply_to, ReplyBody::ReadOk(value)),
        KvMsg::WriteOk { in_reply_to } => (in_reply_to, ReplyBody::WriteOk),
        KvMsg::CasOk { in_reply_to } => (in_reply_to, ReplyBody::CasOk),
        KvMsg::AddOk { in_reply_to } => (in_reply_to, ReplyBody::AddOk),
        KvMsg::Error {
            in_reply_to,
            code,
            value,
            leader,
        } => (
            in_reply_to,
            ReplyBody::Error {
                code: code.code(),
                text: Cow::Borrowed(error_name(code.code()).unwrap_or("")),
                leader: leader.map(|id| SocketAddr::V4(std::net::SocketAddrV4::from(id))),
                value,
            },
        ),
        KvMsg::Read { .. }
        | KvMsg::Write { .. }
        | KvMsg::Cas { .. }
        | KvMsg::Add { .. }
        | KvMsg::Internal(_) => return Err(DecodeError::NotAReply),
    };
    Ok(Reply { in_reply_to, body })
}

/// The `KvMsg` request a [`Request`] is on the stateright wire (for servers and tests).
pub fn to_kv_msg(msg_id: u64, req: &Request) -> KvMsg<()> {
    match req.kind {
        OpKind::Read => KvMsg::Read {
            msg_id,
            key: req.key,
        },
        OpKind::Write(value) => KvMsg::Write {
            msg_id,
            key: req.key,
            value,
        },
        OpKind::Cas { from, to } => KvMsg::Cas {
            msg_id,
            key: req.key,
            from,
            to,
        },
        OpKind::Add(delta) => KvMsg::Add { msg_id, delta },
    }
}

/// The `KvMsg` a reply is, as a server built it: `None` for an error code Synod does not use
/// (the message has no form for it). A leader that is not an IPv4 address is left out.
pub fn reply_kv_msg(reply: &Reply<'_>) -> Option<KvMsg<()>> {
    let in_reply_to = reply.in_reply_to;
    Some(match &reply.body {
        ReplyBody::ReadOk(value) => KvMsg::ReadOk {
            in_reply_to,
            value: *value,
        },
        ReplyBody::WriteOk => KvMsg::WriteOk { in_reply_to },
        ReplyBody::CasOk => KvMsg::CasOk { in_reply_to },
        ReplyBody::AddOk => KvMsg::AddOk { in_reply_to },
        ReplyBody::Error {
            code,
            leader,
            value,
            ..
        } => KvMsg::Error {
            in_reply_to,
            code: synod_models::kv::ErrorCode::from_code(*code)?,
            value: *value,
            leader: match leader {
                Some(SocketAddr::V4(a)) => Some(stateright::actor::Id::from(*a)),
                _ => None,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_models::kv::ErrorCode;

    fn enc(wire: Wire, msg_id: u64, key: Key, kind: OpKind) -> String {
        let mut buf = Vec::new();
        encode_request(wire, msg_id, &Request { key, kind }, &mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn lin_kv_requests_are_maelstrom_bodies() {
        assert_eq!(
            enc(Wire::LinKv, 1, 3, OpKind::Read),
            r#"{"type":"read","msg_id":1,"key":3}"#
        );
        assert_eq!(
            enc(Wire::LinKv, 2, 3, OpKind::Write(7)),
            r#"{"type":"write","msg_id":2,"key":3,"value":7}"#
        );
        assert_eq!(
            enc(Wire::LinKv, 3, 3, OpKind::Cas { from: 7, to: 8 }),
            r#"{"type":"cas","msg_id":3,"key":3,"from":7,"to":8}"#
        );
        assert_eq!(
            enc(Wire::LinKv, u64::MAX, 0, OpKind::Write(10)),
            format!(
                r#"{{"type":"write","msg_id":{},"key":0,"value":10}}"#,
                u64::MAX
            )
        );
    }

    #[test]
    fn counter_requests_are_g_counter_bodies() {
        assert_eq!(
            enc(Wire::Counter, 1, 0, OpKind::Add(3)),
            r#"{"type":"add","msg_id":1,"delta":3}"#
        );
        // A keyless read, whatever the request's key.
        for key in [0, 7] {
            assert_eq!(
                enc(Wire::Counter, 2, key, OpKind::Read),
                r#"{"type":"read","msg_id":2}"#
            );
        }
        // The lin-kv wire sends an add as the same body; a write on the counter wire is lin-kv's.
        assert_eq!(
            enc(Wire::LinKv, 1, 5, OpKind::Add(3)),
            r#"{"type":"add","msg_id":1,"delta":3}"#
        );
        assert_eq!(
            enc(Wire::Counter, 3, 3, OpKind::Write(7)),
            enc(Wire::LinKv, 3, 3, OpKind::Write(7))
        );
        for kind in [OpKind::Add(u64::MAX), OpKind::Read] {
            let v: serde_json::Value =
                serde_json::from_str(&enc(Wire::Counter, u64::MAX, 0, kind)).unwrap();
            assert_eq!(v["msg_id"], u64::MAX);
            assert!(v.get("key").is_none());
        }
    }

    #[test]
    fn counter_replies_decode() {
        let r = decode_reply(Wire::Counter, br#"{"type":"add_ok","in_reply_to":1}"#).unwrap();
        assert_eq!((r.in_reply_to, &r.body), (1, &ReplyBody::AddOk));
        assert_eq!(r.to_string(), "add_ok");
        assert_eq!(r.clone().into_owned(), r);
        let r = decode_reply(
            Wire::Counter,
            br#"{"type":"read_ok","in_reply_to":2,"value":12}"#,
        )
        .unwrap();
        assert_eq!((r.in_reply_to, r.body), (2, ReplyBody::ReadOk(12)));
        let r = decode_reply(
            Wire::Counter,
            br#"{"type":"error","in_reply_to":3,"code":11,"text":"later"}"#,
        )
        .unwrap();
        assert_eq!(r.to_string(), "error 11 (temporarily unavailable): later");
        // lin-kv reads add_ok too; a request is no reply.
        let r = decode_reply(Wire::LinKv, br#"{"type":"add_ok","in_reply_to":4}"#).unwrap();
        assert_eq!(r.body, ReplyBody::AddOk);
        assert!(matches!(
            decode_reply(Wire::Counter, br#"{"type":"add","msg_id":1,"delta":3}"#),
            Err(DecodeError::NotAReply)
        ));
        assert!(decode_reply(Wire::Counter, br#"{"type":"add_ok"}"#).is_err());
    }

    #[test]
    fn encoding_reuses_the_buffer() {
        let mut buf = Vec::with_capacity(128);
        let ptr = buf.as_ptr();
        for i in 0..100 {
            let req = Request {
                key: i,
                kind: OpKind::Cas {
                    from: u64::MAX,
                    to: u64::MAX,
                },
            };
            encode_request(Wire::LinKv, u64::MAX, &req, &mut buf);
        }
        assert_eq!(buf.as_ptr(), ptr, "no reallocation");
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["key"], 99);
    }

    #[test]
    fn lin_kv_replies_decode() {
        let r = decode_reply(
            Wire::LinKv,
            br#"{"type":"read_ok","in_reply_to":1,"value":7}"#,
        )
        .unwrap();
        assert_eq!(r.in_reply_to, 1);
        assert_eq!(r.body, ReplyBody::ReadOk(7));
        let r = decode_reply(Wire::LinKv, br#"{"in_reply_to":2,"type":"write_ok"}"#).unwrap();
        assert_eq!((r.in_reply_to, r.body), (2, ReplyBody::WriteOk));
        let r = decode_reply(
            Wire::LinKv,
            br#"{"type":"cas_ok","in_reply_to":3,"msg_id":9,"extra":[1,{"a":2}]}"#,
        )
        .unwrap();
        assert_eq!((r.in_reply_to, r.body), (3, ReplyBody::CasOk));
        let r = decode_reply(
            Wire::LinKv,
            br#"{"type":"error","in_reply_to":4,"code":11,"text":"not \"the\" leader","leader":"127.0.0.1:7001"}"#,
        )
        .unwrap();
        assert_eq!(r.in_reply_to, 4);
        assert_eq!(
            r.body,
            ReplyBody::Error {
                code: 11,
                text: Cow::Borrowed("not \"the\" leader"),
                leader: Some("127.0.0.1:7001".parse().unwrap()),
                value: None,
            }
        );
        assert_eq!(
            r.to_string(),
            "error 11 (temporarily unavailable): not \"the\" leader; leader 127.0.0.1:7001"
        );
        // No text, an unparsable leader: still an error reply, without the hint.
        let r = decode_reply(
            Wire::LinKv,
            br#"{"type":"error","in_reply_to":5,"code":22,"leader":"nowhere"}"#,
        )
        .unwrap();
        assert_eq!(
            r.body,
            ReplyBody::Error {
                code: 22,
                text: Cow::Borrowed(""),
                leader: None,
                value: None,
            }
        );
        let owned: Reply<'static> = r.into_owned();
        assert_eq!(owned.to_string(), "error 22 (precondition failed)");
        // Error 22 with the key's current value, as a Paxos node sends it; a text that repeats
        // the code's name is printed once.
        let r = decode_reply(
            Wire::LinKv,
            br#"{"type":"error","in_reply_to":6,"code":22,"text":"precondition failed","value":9}"#,
        )
        .unwrap();
        assert!(matches!(r.body, ReplyBody::Error { value: Some(9), .. }));
        assert_eq!(
            r.to_string(),
            "error 22 (precondition failed); current value 9"
        );
        let r = decode_reply(
            Wire::LinKv,
            br#"{"type":"error","in_reply_to":7,"code":99,"text":"odd"}"#,
        )
        .unwrap();
        assert_eq!(r.to_string(), "error 99: odd");
    }

    #[test]
    fn bad_lin_kv_datagrams_are_errors() {
        let cases: &[&[u8]] = &[
            b"",
            b"\xff\xfe",
            b"[1,2]",
            b"{\"type\":\"read_ok\",\"in_reply_to\":1}",
            b"{\"type\":\"read_ok\",\"value\":1}",
            b"{\"type\":\"error\",\"in_reply_to\":1}",
            b"{\"type\":\"read_ok\",\"in_reply_to\":-1,\"value\":1}",
            b"{\"type\":\"frobnicate\",\"in_reply_to\":1}",
            b"{\"type\":\"read\",\"msg_id\":1,\"key\":3}",
            b"{\"type\":\"write_ok\",\"in_reply_to\":1",
        ];
        for c in cases {
            assert!(
                decode_reply(Wire::LinKv, c).is_err(),
                "{:?}",
                String::from_utf8_lossy(c)
            );
        }
        assert!(matches!(
            decode_reply(Wire::LinKv, b"{\"type\":\"frob\",\"in_reply_to\":1}"),
            Err(DecodeError::UnknownType(t)) if t == "frob"
        ));
        assert!(matches!(
            decode_reply(Wire::LinKv, b"{\"type\":\"read\",\"msg_id\":1,\"key\":3}"),
            Err(DecodeError::NotAReply)
        ));
    }

    #[test]
    fn stateright_requests_are_serde_json_of_kv_msg() {
        let reqs = [
            (1, 3, OpKind::Read),
            (2, 3, OpKind::Write(7)),
            (3, 3, OpKind::Cas { from: 7, to: 8 }),
            (u64::MAX, u64::MAX, OpKind::Write(u64::MAX)),
            (4, 0, OpKind::Add(5)),
        ];
        for (msg_id, key, kind) in reqs {
            let req = Request { key, kind };
            let mut buf = Vec::new();
            encode_request(Wire::StaterightJson, msg_id, &req, &mut buf);
            let expected = serde_json::to_vec(&to_kv_msg(msg_id, &req)).unwrap();
            assert_eq!(
                String::from_utf8(buf.clone()).unwrap(),
                String::from_utf8(expected).unwrap()
            );
            let back: KvMsg<()> = serde_json::from_slice(&buf).unwrap();
            assert!(back == to_kv_msg(msg_id, &req));
        }
        assert_eq!(
            enc(Wire::StaterightJson, 1, 3, OpKind::Write(7)),
            r#"{"Write":{"msg_id":1,"key":3,"value":7}}"#
        );
        assert_eq!(
            enc(Wire::StaterightJson, 1, 3, OpKind::Add(2)),
            r#"{"Add":{"msg_id":1,"delta":2}}"#
        );
    }

    #[test]
    fn stateright_replies_decode() {
        let replies: [(KvMsg<u8>, ReplyBody); 5] = [
            (
                KvMsg::ReadOk {
                    in_reply_to: 1,
                    value: 7,
                },
                ReplyBody::ReadOk(7),
            ),
            (KvMsg::WriteOk { in_reply_to: 1 }, ReplyBody::WriteOk),
            (KvMsg::CasOk { in_reply_to: 1 }, ReplyBody::CasOk),
            (KvMsg::AddOk { in_reply_to: 1 }, ReplyBody::AddOk),
            (
                KvMsg::Error {
                    in_reply_to: 1,
                    code: ErrorCode::PreconditionFailed,
                    value: Some(3),
                    leader: None,
                },
                ReplyBody::Error {
                    code: 22,
                    text: Cow::Borrowed("precondition failed"),
                    leader: None,
                    value: Some(3),
                },
            ),
        ];
        for (msg, body) in replies {
            let bytes = serde_json::to_vec(&msg).unwrap();
            let r = decode_reply(Wire::StaterightJson, &bytes).unwrap();
            assert_eq!((r.in_reply_to, r.body), (1, body));
        }
        // Internal messages of any shape and requests are not replies; garbage is an error.
        let internal = serde_json::to_vec(&KvMsg::Internal(vec![1u8, 2, 3])).unwrap();
        assert!(matches!(
            decode_reply(Wire::StaterightJson, &internal),
            Err(DecodeError::NotAReply)
        ));
        let req = serde_json::to_vec(&KvMsg::<()>::Read { msg_id: 1, key: 1 }).unwrap();
        assert!(matches!(
            decode_reply(Wire::StaterightJson, &req),
            Err(DecodeError::NotAReply)
        ));
        assert!(decode_reply(Wire::StaterightJson, b"{\"Nope\":{}}").is_err());
        assert!(decode_reply(Wire::StaterightJson, b"").is_err());
    }

    #[test]
    fn echo_replies_are_echoed_requests() {
        for (kind, body) in [
            (OpKind::Read, ReplyBody::ReadOk(0)),
            (OpKind::Write(5), ReplyBody::WriteOk),
            (OpKind::Cas { from: 1, to: 2 }, ReplyBody::CasOk),
            (OpKind::Add(3), ReplyBody::AddOk),
        ] {
            let mut buf = Vec::new();
            encode_request(Wire::Echo, 42, &Request { key: 9, kind }, &mut buf);
            let r = decode_reply(Wire::Echo, &buf).unwrap();
            assert_eq!((r.in_reply_to, r.body), (42, body));
        }
        assert!(decode_reply(Wire::Echo, b"{\"type\":\"read_ok\",\"in_reply_to\":1}").is_err());
        assert!(decode_reply(Wire::Echo, b"{\"type\":\"read\"}").is_err());
        assert!(decode_reply(Wire::Echo, b"x").is_err());
    }

    #[test]
    fn wire_names_round_trip() {
        for w in Wire::ALL {
            assert_eq!(w.name().parse::<Wire>().unwrap(), w);
        }
        let e = "udp".parse::<Wire>().unwrap_err();
        assert!(e.to_string().contains("lin-kv"));
    }
}
