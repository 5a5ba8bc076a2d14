//! A bare UDP echo server: the floor every other server's throughput is measured against.
//!
//! One thread, one socket, a `recv_from`/`send_to` loop that sends each datagram back to where it
//! came from, unchanged. Driven by the load generator with [`Wire::Echo`](super::Wire::Echo), it
//! measures what the machine, the kernel's UDP path and the generator itself cost, with no server
//! logic at all; a real server is then judged as a fraction of it.
//!
//! It stops when asked: [`EchoServer::stop`] (or dropping the handle) raises a flag that the loop
//! checks at least every [`STOP_POLL`], the socket's read timeout. [`serve`] runs the same loop on
//! the caller's thread with the caller's flag (for a foreground `synod` command).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often an idle echo loop looks at its stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(20);

/// What an echo loop did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EchoStats {
    /// Datagrams received (and echoed, unless the send failed).
    pub datagrams: u64,
    /// Sends the kernel refused (for example a full send buffer): those datagrams were lost.
    pub send_errors: u64,
}

/// Echoes every datagram on `socket` back to its sender until `stop` is set. Sets the socket's
/// read timeout to [`STOP_POLL`]. Returns an error only if the socket itself fails.
pub fn serve(socket: &UdpSocket, stop: &AtomicBool) -> io::Result<EchoStats> {
    socket.set_read_timeout(Some(STOP_POLL))?;
    let mut buf = vec![0u8; 65_536];
    let mut stats = EchoStats::default();
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, src)) => {
                stats.datagrams += 1;
                if socket.send_to(&buf[..n], src).is_err() {
                    stats.send_errors += 1;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        // An ICMP error from an earlier send, reported on some platforms.
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(stats)
}

/// An echo loop on its own thread. Stops on [`EchoServer::stop`] or when dropped.
#[derive(Debug)]
pub struct EchoServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<EchoStats>>>,
}

impl EchoServer {
    /// Binds `addr` (port 0 picks a free port) and starts echoing.
    pub fn spawn(addr: SocketAddr) -> io::Result<EchoServer> {
        let socket = UdpSocket::bind(addr)?;
        let local_addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("synod-echo".to_string())
            .spawn(move || serve(&socket, &flag))?;
        Ok(EchoServer {
            local_addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the loop, waits for it (at most about [`STOP_POLL`]), and returns what it did.
    pub fn stop(mut self) -> io::Result<EchoStats> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<EchoStats> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("echo thread panicked"))),
            None => Ok(EchoStats::default()),
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn echoes_and_stops() {
        let server = EchoServer::spawn("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        for i in 0..10u8 {
            client.send_to(&[i, 1, 2], server.local_addr()).unwrap();
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i, 1, 2]);
            assert_eq!(from, server.local_addr());
        }
        let t = Instant::now();
        let stats = server.stop().unwrap();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(stats.datagrams, 10);
        assert_eq!(stats.send_errors, 0);
    }

    #[test]
    fn drop_stops_the_thread() {
        let server = EchoServer::spawn("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr();
        drop(server);
        // The port is free again once the loop has ended and closed its socket.
        assert!(UdpSocket::bind(addr).is_ok());
    }
}
