//! `synod explore`: serves stateright's Explorer (a web UI that walks the state space step by
//! step, shows each state, the properties and the discovered traces) for one catalog entry.
//!
//! The explorer binds to loopback unless the user names another address: it lets anyone who can
//! reach it drive the checker, so exposing it is the user's explicit choice.

use stateright::{Checker, Model};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

/// The default address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// Resolves and test-binds `addr`, so a busy port or a bad address is a clear error rather than a
/// panic inside the HTTP server.
pub fn check_addr(addr: &str) -> Result<SocketAddr, String> {
    let resolved = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --addr {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("--addr {addr} resolves to no address"))?;
    TcpListener::bind(resolved).map_err(|e| format!("cannot listen on {resolved}: {e}"))?;
    Ok(resolved)
}

/// Serves the explorer for `model` on `addr` (blocks for as long as the server runs).
pub fn serve<M>(model: M, addr: &str, threads: usize)
where
    M: Model + Send + Sync + 'static,
    M::State: Debug + Hash + Clone + PartialEq + Send + Sync,
    M::Action: Debug + Clone + PartialEq + Send + Sync,
{
    let checker = model.checker().threads(threads.max(1)).serve(addr);
    let _ = checker.is_done();
}
