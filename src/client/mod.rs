//! Clients of Synod's key-value servers: one request at a time ([`request`], behind
//! `synod client`), and the load generator ([`load::run`], behind `synod bench`).
//!
//! Servers listen on UDP and speak Jepsen Maelstrom's `lin-kv` JSON bodies, one object per datagram
//! ([`codec`], DESIGN.md "Client wire protocol"). Two rules shape every client here:
//!
//! - **A retry is the same request.** A server applies a request at most once per (source address,
//!   `msg_id`), so a client retries with the *same* `msg_id` from the *same* socket, and its
//!   `msg_id`s increase per socket. A timed-out request may still have been applied: the load
//!   generator records it as indeterminate for the linearizability checker.
//! - **Follow the leader.** A non-leader answers error 11 (temporarily unavailable, definite: not
//!   applied) and names the leader when it knows it; the client re-sends the same request there.
//!
//! Modules: [`codec`] (encoding and decoding, three wires), [`echo`] (the bare UDP echo loop, a
//! throughput baseline), [`load`] (the closed- and open-loop load generator with latency
//! histograms and history recording).

pub mod codec;
pub mod echo;
pub mod load;

pub use codec::{decode_reply, encode_request, DecodeError, Reply, ReplyBody, Request, Wire};
pub use echo::EchoServer;
pub use load::{run, LoadConfig, LoadError, LoadReport};

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Where a new client socket's `msg_id`s start: microseconds since the Unix epoch (below 2^53, so
/// exact in any JSON reader). A server's at-most-once sessions are keyed by source address and
/// expect `msg_id`s to grow; an ephemeral port can be reused by a later client, whose requests
/// would be taken for stale duplicates (or, worse, for a retry answered from the cache) if it
/// counted from 1 again.
pub fn msg_id_base() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(1)
}

/// The most leader hints one [`request`] follows (hints can form a cycle while an election is on).
pub const MAX_REDIRECTS: u32 = 8;

/// Why a [`request`] got no reply.
#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be created or used.
    Io(io::Error),
    /// No reply to any of `tries` sends, each waited for `timeout`. The request may or may not
    /// have been applied. `undecodable` datagrams arrived meanwhile and were ignored.
    Timeout {
        tries: u32,
        timeout: Duration,
        undecodable: u64,
    },
    /// The servers kept naming other leaders: `hops` redirects, the last one to `last`.
    TooManyRedirects { hops: u32, last: SocketAddr },
    /// The timeout is zero.
    ZeroTimeout,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "socket error: {e}"),
            ClientError::Timeout {
                tries,
                timeout,
                undecodable,
            } => {
                write!(
                    f,
                    "no reply after {tries} tries of {} ms each (the request may or may not have \
                     taken effect)",
                    timeout.as_millis()
                )?;
                if *undecodable > 0 {
                    write!(f, "; ignored {undecodable} undecodable datagrams")?;
                }
                Ok(())
            }
            ClientError::TooManyRedirects { hops, last } => write!(
                f,
                "followed {hops} leader hints without reaching the leader (last: {last})"
            ),
            ClientError::ZeroTimeout => f.write_str("the timeout must be positive"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// The wildcard address of `addr`'s family, port 0: where a client socket binds.
pub(crate) fn any_addr_like(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Sends one lin-kv request to `server` and returns its reply (which may be an error reply).
///
/// Uses one socket and one `msg_id` ([`msg_id_base`]) throughout. Waits `timeout` per send and re-sends the same
/// request up to `retries` times. An error 11 that names a leader other than the server asked is
/// followed: the same request goes there, from the same socket (at most [`MAX_REDIRECTS`] times;
/// a redirect does not use up a retry). Datagrams that do not decode, or that answer another
/// `msg_id`, are ignored.
pub fn request(
    server: SocketAddr,
    req: Request,
    timeout: Duration,
    retries: u32,
) -> Result<Reply<'static>, ClientError> {
    request_wire(Wire::LinKv, server, req, timeout, retries)
}

/// [`request`] over any [`Wire`].
pub fn request_wire(
    wire: Wire,
    server: SocketAddr,
    req: Request,
    timeout: Duration,
    retries: u32,
) -> Result<Reply<'static>, ClientError> {
    if timeout.is_zero() {
        return Err(ClientError::ZeroTimeout);
    }
    let msg_id = msg_id_base();
    let socket = UdpSocket::bind(any_addr_like(server))?;
    let mut out = Vec::with_capacity(128);
    encode_request(wire, msg_id, &req, &mut out);
    let mut buf = vec![0u8; codec::MAX_DATAGRAM_BYTES];
    let mut target = server;
    let mut timeouts = 0u32;
    let mut hops = 0u32;
    let mut undecodable = 0u64;
    'send: loop {
        socket.send_to(&out, target)?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            socket.set_read_timeout(Some(left))?;
            let n = match socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                // An ICMP "port unreachable" from an earlier send (some platforms report it):
                // nobody listens there, which is a lost request as far as we can tell.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            let reply = match decode_reply(wire, &buf[..n]) {
                Ok(r) if r.in_reply_to == msg_id => r,
                Ok(_) => continue,
                Err(_) => {
                    undecodable += 1;
                    continue;
                }
            };
            if let ReplyBody::Error {
                code: codec::ERR_TEMPORARILY_UNAVAILABLE,
                leader: Some(leader),
                ..
            } = reply.body
            {
                if leader != target {
                    if hops == MAX_REDIRECTS {
                        return Err(ClientError::TooManyRedirects { hops, last: target });
                    }
                    hops += 1;
                    target = leader;
                    continue 'send;
                }
            }
            return Ok(reply.into_owned());
        }
        timeouts += 1;
        if timeouts > retries {
            return Err(ClientError::Timeout {
                tries: timeouts,
                timeout,
                undecodable,
            });
        }
    }
}
