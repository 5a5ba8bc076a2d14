//! Clients of Synod's key-value servers: one request at a time ([`request`], and [`exchange`]
//! behind `synod client`, with [`resolve`] for host names), and the load generator
//! ([`load::run`], behind `synod bench`).
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
//! histograms and history recording), [`history`] (a recorded history written out for other
//! checkers: JSON lines, or Jepsen's EDN).

pub mod codec;
pub mod echo;
pub mod history;
pub mod load;

pub use codec::{decode_reply, encode_request, DecodeError, Reply, ReplyBody, Request, Wire};
pub use echo::EchoServer;
pub use history::{to_edn, to_jsonl, write_history, HistoryFormat};
pub use load::{run, LoadConfig, LoadError, LoadReport};

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
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

/// Why a [`request`] got no reply, or could not be sent.
#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be created or used.
    Io(io::Error),
    /// `server` (the last one asked, after any leader hints) did not answer any of the `tries`
    /// sends it was given, each waited for `timeout`. The request may or may not have been
    /// applied. `undecodable` datagrams arrived meanwhile and were ignored.
    Timeout {
        server: SocketAddr,
        tries: u32,
        timeout: Duration,
        undecodable: u64,
    },
    /// The servers kept naming other leaders: `hops` redirects, the last one to `last`.
    TooManyRedirects { hops: u32, last: SocketAddr },
    /// The timeout is zero.
    ZeroTimeout,
    /// `addr` (as the user gave it) is not `HOST:PORT`, or its host has no address.
    Resolve { addr: String, reason: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "socket error: {e}"),
            ClientError::Timeout {
                server,
                tries,
                timeout,
                undecodable,
            } => {
                let waited_ms = timeout.as_millis() * u128::from(*tries);
                write!(
                    f,
                    "no reply from {server} after {tries} attempts in {waited_ms} ms: is a node \
                     listening there?"
                )?;
                if *undecodable > 0 {
                    write!(
                        f,
                        " ({undecodable} datagrams that were not a reply were ignored)"
                    )?;
                }
                Ok(())
            }
            ClientError::TooManyRedirects { hops, last } => write!(
                f,
                "followed {hops} leader hints without reaching the leader (last: {last})"
            ),
            ClientError::ZeroTimeout => f.write_str("the timeout must be positive"),
            ClientError::Resolve { addr, reason } => write!(f, "cannot resolve {addr:?}: {reason}"),
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

/// Resolves `addr` (`HOST:PORT`: `127.0.0.1:7000`, `localhost:7000`, `[::1]:7000`) to one socket
/// address, preferring IPv4 (Synod's nodes listen on IPv4; `localhost` often resolves to `::1`
/// first). The error names the address as given.
pub fn resolve(addr: &str) -> Result<SocketAddr, ClientError> {
    let err = |reason: String| ClientError::Resolve {
        addr: addr.to_string(),
        reason,
    };
    let all: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| {
            if addr
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                err(format!("{e} (expected HOST:PORT, e.g. 127.0.0.1:7000)"))
            } else {
                err(e.to_string())
            }
        })?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or_else(|| all.first())
        .copied()
        .ok_or_else(|| err("the host has no address".into()))
}

/// One answered request: the reply, the datagram it came in, and how it got there.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub reply: Reply<'static>,
    /// The reply datagram exactly as received.
    pub datagram: Vec<u8>,
    /// The server that sent the reply.
    pub from: SocketAddr,
    /// Leader hints followed, in order: (the server that answered error 11, the leader it named).
    pub redirects: Vec<(SocketAddr, SocketAddr)>,
    /// Sends of the request: the first, re-sends after timeouts, and sends after redirects.
    pub attempts: u32,
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
    exchange(wire, server, req, timeout, retries).map(|e| e.reply)
}

/// [`request_wire`], also returning the reply's datagram, the server that sent it and the leader
/// hints followed on the way (what `synod client` shows).
pub fn exchange(
    wire: Wire,
    server: SocketAddr,
    req: Request,
    timeout: Duration,
    retries: u32,
) -> Result<Exchange, ClientError> {
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
    // Timeouts since the last redirect: what the error reports about the server last asked.
    let mut timeouts_here = 0u32;
    let mut attempts = 0u32;
    let mut redirects = Vec::new();
    let mut undecodable = 0u64;
    'send: loop {
        socket.send_to(&out, target)?;
        attempts += 1;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            socket.set_read_timeout(Some(left))?;
            let (n, from) = match socket.recv_from(&mut buf) {
                Ok(got) => got,
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
                    let hops = redirects.len() as u32;
                    if hops == MAX_REDIRECTS {
                        return Err(ClientError::TooManyRedirects { hops, last: target });
                    }
                    redirects.push((target, leader));
                    target = leader;
                    timeouts_here = 0;
                    continue 'send;
                }
            }
            return Ok(Exchange {
                reply: reply.into_owned(),
                datagram: buf[..n].to_vec(),
                from,
                redirects,
                attempts,
            });
        }
        timeouts += 1;
        timeouts_here += 1;
        if timeouts > retries {
            return Err(ClientError::Timeout {
                server: target,
                tries: timeouts_here,
                timeout,
                undecodable,
            });
        }
    }
}
