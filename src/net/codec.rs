//! The two wire formats of a node: binary between nodes, JSON `lin-kv` with clients.
//!
//! **Between nodes** a datagram is one version byte ([`BINARY_V1`]) followed by the message
//! encoded with postcard (serde's compact binary format). The version byte is chosen outside
//! ASCII so a binary datagram can never be mistaken for JSON text, and a future format can be told
//! apart from this one.
//!
//! **With clients** a datagram is one JSON object, Maelstrom's `lin-kv` bodies (DESIGN.md, "Client
//! wire protocol"). Requests are parsed with serde into a borrowed struct; replies are written by
//! hand into a reusable buffer, as they are on the hot path.
//!
//! A counter protocol (Maelstrom's `g-counter`) serves `add` and a keyless `read` instead
//! ([`Clients::Counter`]).
//!
//! Decoding never panics: a datagram that is neither gets [`Decoded::Garbage`], a JSON object that
//! is not a valid request but names a `msg_id` gets an error reply (code 10 for an unknown type,
//! 12 for a malformed body), so that a confused client learns why.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Write;
use synod_models::kv::{ErrorCode, KvMsg, MsgId};

/// The first byte of every node-to-node datagram in this format version.
pub const BINARY_V1: u8 = 0xF1;

/// The largest datagram a node sends or accepts (bytes); larger sends are dropped and counted.
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

/// What a received datagram turned out to be.
#[derive(Debug)]
pub enum Decoded<M> {
    /// A binary message (only accepted from peers; the caller checks the source).
    Peer(M),
    /// A client request, in JSON.
    Client(M),
    /// A JSON object that is not a valid request: answer it with this error.
    Reject { msg_id: MsgId, code: ErrorCode },
    /// Neither format (or a binary datagram that does not decode): dropped and counted.
    Garbage,
}

/// Encodes a message for a peer into `buf` (cleared first).
pub fn encode_binary<I: Serialize>(msg: &KvMsg<I>, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.clear();
    buf.push(BINARY_V1);
    postcard::to_io(msg, &mut *buf).map_err(|e| e.to_string())?;
    Ok(())
}

/// Which client requests a node serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clients {
    /// `lin-kv`: read, write, cas with keys.
    LinKv,
    /// Maelstrom's `g-counter`: `add` with a `delta`, and `read` without a key (decoded as a
    /// read of key 0); every keyed request is error 10.
    Counter,
    /// None: the protocol has no store, and every request is error 10.
    NoClients,
}

/// Decodes a datagram, binary or JSON.
pub fn decode<I: DeserializeOwned>(bytes: &[u8], clients: Clients) -> Decoded<KvMsg<I>> {
    match bytes.first() {
        Some(&BINARY_V1) => match postcard::from_bytes::<KvMsg<I>>(&bytes[1..]) {
            Ok(m) => Decoded::Peer(m),
            Err(_) => Decoded::Garbage,
        },
        Some(_) => decode_json(bytes, clients),
        None => Decoded::Garbage,
    }
}

/// A `lin-kv` request body as it arrives. Every field is optional so that a body with a missing
/// field still yields its `msg_id` and can be rejected precisely.
#[derive(Deserialize)]
struct JsonRequest<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    msg_id: Option<MsgId>,
    key: Option<u64>,
    value: Option<u64>,
    from: Option<u64>,
    to: Option<u64>,
    delta: Option<u64>,
}

fn decode_json<I>(bytes: &[u8], clients: Clients) -> Decoded<KvMsg<I>> {
    let req: JsonRequest = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(_) => return lenient_reject(bytes),
    };
    let Some(msg_id) = req.msg_id else {
        return Decoded::Garbage; // nobody to answer
    };
    let malformed = Decoded::Reject {
        msg_id,
        code: ErrorCode::MalformedRequest,
    };
    let Some(kind) = req.kind else {
        return malformed;
    };
    let not_supported = Decoded::Reject {
        msg_id,
        code: ErrorCode::NotSupported,
    };
    if clients == Clients::NoClients {
        return not_supported;
    }
    if clients == Clients::Counter {
        let msg = match (&*kind, req.key, req.value, req.from, req.to, req.delta) {
            ("add", None, None, None, None, Some(delta)) => KvMsg::Add { msg_id, delta },
            ("read", None, None, None, None, None) => KvMsg::Read { msg_id, key: 0 },
            ("add" | "read", None, ..) => return malformed,
            // One counter: keyed requests, writes and cas are another service's.
            _ => return not_supported,
        };
        return Decoded::Client(msg);
    }
    if req.delta.is_some() && matches!(&*kind, "read" | "write" | "cas") {
        return malformed;
    }
    let msg = match (&*kind, req.key, req.value, req.from, req.to) {
        ("read", Some(key), None, None, None) => KvMsg::Read { msg_id, key },
        ("write", Some(key), Some(value), None, None) => KvMsg::Write { msg_id, key, value },
        ("cas", Some(key), None, Some(from), Some(to)) => KvMsg::Cas {
            msg_id,
            key,
            from,
            to,
        },
        ("read" | "write" | "cas", ..) => return malformed,
        _ => return not_supported,
    };
    Decoded::Client(msg)
}

/// A JSON object whose fields have the wrong types (`"key":"three"`) fails the typed parse; if
/// it still carries a numeric `msg_id`, answer error 12 rather than leave the client guessing.
fn lenient_reject<M>(bytes: &[u8]) -> Decoded<M> {
    #[derive(Deserialize)]
    struct OnlyId {
        msg_id: MsgId,
    }
    match serde_json::from_slice::<OnlyId>(bytes) {
        Ok(o) => Decoded::Reject {
            msg_id: o.msg_id,
            code: ErrorCode::MalformedRequest,
        },
        Err(_) => Decoded::Garbage,
    }
}

/// The human-readable text of an error code, sent in the `text` field.
pub fn error_text(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotSupported => "operation not supported",
        ErrorCode::TemporarilyUnavailable => "temporarily unavailable",
        ErrorCode::MalformedRequest => "malformed request",
        ErrorCode::KeyDoesNotExist => "key does not exist",
        ErrorCode::PreconditionFailed => "precondition failed",
    }
}

/// Encodes a reply for a client into `buf` (cleared first). Returns `false` for a message that
/// has no client form (a request or an internal message): the caller drops and counts it.
pub fn encode_json<I>(msg: &KvMsg<I>, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    // Writing into a Vec cannot fail.
    let _ = match msg {
        KvMsg::ReadOk { in_reply_to, value } => write!(
            buf,
            r#"{{"type":"read_ok","in_reply_to":{in_reply_to},"value":{value}}}"#
        ),
        KvMsg::WriteOk { in_reply_to } => {
            write!(buf, r#"{{"type":"write_ok","in_reply_to":{in_reply_to}}}"#)
        }
        KvMsg::CasOk { in_reply_to } => {
            write!(buf, r#"{{"type":"cas_ok","in_reply_to":{in_reply_to}}}"#)
        }
        KvMsg::AddOk { in_reply_to } => {
            write!(buf, r#"{{"type":"add_ok","in_reply_to":{in_reply_to}}}"#)
        }
        KvMsg::Error {
            in_reply_to,
            code,
            value,
            leader,
        } => {
            let _ = write!(
                buf,
                r#"{{"type":"error","in_reply_to":{in_reply_to},"code":{},"text":"{}""#,
                code.code(),
                error_text(*code)
            );
            if let Some(v) = value {
                let _ = write!(buf, r#","value":{v}"#);
            }
            if let Some(l) = leader {
                // A node's id is its IPv4 address and port (see net/node.rs).
                let _ = write!(buf, r#","leader":"{}""#, std::net::SocketAddrV4::from(*l));
            }
            write!(buf, "}}")
        }
        KvMsg::Read { .. }
        | KvMsg::Write { .. }
        | KvMsg::Cas { .. }
        | KvMsg::Add { .. }
        | KvMsg::Internal(_) => return false,
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    type M = KvMsg<u32>;

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    #[test]
    fn requests_decode() {
        let read = br#"{"type":"read","msg_id":1,"key":3}"#;
        assert!(matches!(
            decode::<u32>(read, Clients::LinKv),
            Decoded::Client(KvMsg::Read { msg_id: 1, key: 3 })
        ));
        let write = br#" {"type":"write","msg_id":2,"key":3,"value":7} "#;
        assert!(matches!(
            decode::<u32>(write, Clients::LinKv),
            Decoded::Client(KvMsg::Write {
                msg_id: 2,
                key: 3,
                value: 7
            })
        ));
        let cas = br#"{"type":"cas","msg_id":3,"key":3,"from":7,"to":8}"#;
        assert!(matches!(
            decode::<u32>(cas, Clients::LinKv),
            Decoded::Client(KvMsg::Cas {
                msg_id: 3,
                key: 3,
                from: 7,
                to: 8
            })
        ));
    }

    #[test]
    fn bad_requests_are_rejected_or_dropped() {
        type Case<'a> = (&'a [u8], Option<(u64, u32)>);
        let cases: [Case; 9] = [
            (br#"{"type":"read","msg_id":4}"#, Some((4, 12))),
            (br#"{"type":"write","msg_id":5,"key":1}"#, Some((5, 12))),
            (
                br#"{"type":"read","msg_id":6,"key":"three"}"#,
                Some((6, 12)),
            ),
            (br#"{"type":"txn","msg_id":7,"key":1}"#, Some((7, 10))),
            (br#"{"msg_id":8}"#, Some((8, 12))),
            (br#"{"type":"read","key":1}"#, None),
            (br#"{"type":"read","msg_id":9,"key":"#, None),
            (b"\x00\x01\x02", None),
            (b"", None),
        ];
        for (bytes, want) in cases {
            let got = match decode::<u32>(bytes, Clients::LinKv) {
                Decoded::Reject { msg_id, code } => Some((msg_id, code.code())),
                Decoded::Garbage => None,
                other => panic!("{:?} decoded as {other:?}", String::from_utf8_lossy(bytes)),
            };
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    /// A counter node serves `add` and a keyless `read`, and refuses the register requests
    /// (error 10); a lin-kv node refuses `add` the same way, and a `delta` on a register request
    /// is malformed.
    #[test]
    fn a_counter_node_decodes_add_and_keyless_read() {
        let c = Clients::Counter;
        assert!(matches!(
            decode::<u32>(br#"{"type":"add","msg_id":1,"delta":3}"#, c),
            Decoded::Client(KvMsg::Add {
                msg_id: 1,
                delta: 3
            })
        ));
        assert!(matches!(
            decode::<u32>(br#"{"type":"read","msg_id":2}"#, c),
            Decoded::Client(KvMsg::Read { msg_id: 2, key: 0 })
        ));
        let code = |bytes: &[u8], clients| match decode::<u32>(bytes, clients) {
            Decoded::Reject { code, .. } => code.code(),
            other => panic!("{other:?}"),
        };
        assert_eq!(code(br#"{"type":"read","msg_id":3,"key":1}"#, c), 10);
        assert_eq!(
            code(br#"{"type":"write","msg_id":4,"key":1,"value":2}"#, c),
            10
        );
        assert_eq!(code(br#"{"type":"add","msg_id":5}"#, c), 12);
        assert_eq!(
            code(br#"{"type":"add","msg_id":6,"delta":1}"#, Clients::LinKv),
            10
        );
        assert_eq!(
            code(
                br#"{"type":"read","msg_id":7,"key":1,"delta":1}"#,
                Clients::LinKv
            ),
            12
        );
        // A node without clients refuses every well-formed request.
        for req in [
            &br#"{"type":"read","msg_id":8,"key":1}"#[..],
            br#"{"type":"add","msg_id":8,"delta":1}"#,
            br#"{"type":"read","msg_id":8}"#,
        ] {
            assert_eq!(code(req, Clients::NoClients), 10);
        }
        let mut buf = Vec::new();
        assert!(encode_json(&M::AddOk { in_reply_to: 9 }, &mut buf));
        assert_eq!(
            json(&buf),
            serde_json::json!({"type":"add_ok","in_reply_to":9})
        );
    }

    #[test]
    fn binary_round_trips_and_truncation_is_garbage() {
        let msg: M = KvMsg::Internal(0xDEAD_BEEF);
        let mut buf = Vec::new();
        encode_binary(&msg, &mut buf).unwrap();
        assert_eq!(buf[0], BINARY_V1);
        assert!(matches!(decode::<u32>(&buf, Clients::LinKv), Decoded::Peer(m) if m == msg));
        assert!(matches!(
            decode::<u32>(&buf[..buf.len() - 1], Clients::LinKv),
            Decoded::Garbage
        ));
        assert!(matches!(
            decode::<u32>(&[BINARY_V1], Clients::LinKv),
            Decoded::Garbage
        ));
    }

    #[test]
    fn replies_encode_as_lin_kv() {
        let mut buf = Vec::new();
        assert!(encode_json(
            &M::ReadOk {
                in_reply_to: 1,
                value: 7
            },
            &mut buf
        ));
        assert_eq!(
            json(&buf),
            serde_json::json!({"type":"read_ok","in_reply_to":1,"value":7})
        );
        assert!(encode_json(&M::WriteOk { in_reply_to: 2 }, &mut buf));
        assert_eq!(
            json(&buf),
            serde_json::json!({"type":"write_ok","in_reply_to":2})
        );
        assert!(encode_json(&M::CasOk { in_reply_to: 3 }, &mut buf));
        assert_eq!(
            json(&buf),
            serde_json::json!({"type":"cas_ok","in_reply_to":3})
        );
        assert!(encode_json(
            &M::Error {
                in_reply_to: 4,
                code: ErrorCode::PreconditionFailed,
                value: Some(9),
                leader: None,
            },
            &mut buf
        ));
        assert_eq!(
            json(&buf),
            serde_json::json!({"type":"error","in_reply_to":4,"code":22,
                "text":"precondition failed","value":9})
        );
        assert!(!encode_json(&M::Internal(1), &mut buf));
        assert!(!encode_json(&M::Read { msg_id: 1, key: 1 }, &mut buf));
    }
}
