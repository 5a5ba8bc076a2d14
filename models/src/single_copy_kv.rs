//! A single-copy key-value server: the lin-kv service with no replication at all, the reference
//! every replicated protocol is measured against.
//!
//! # The service
//!
//! One server holds the store, a map from keys to values, and answers Jepsen Maelstrom's `lin-kv`
//! requests (see [`crate::kv`]) by applying them to it, one at a time, in arrival order:
//!
//! - `read(k)` answers `read_ok` with the value of `k`, or error 20 (key does not exist);
//! - `write(k, v)` sets `k` to `v` and answers `write_ok`;
//! - `cas(k, from, to)` sets `k` to `to` if it holds `from` and answers `cas_ok`; otherwise it
//!   answers error 22 (precondition failed) if `k` holds another value, error 20 if `k` does not
//!   exist.
//!
//! A single copy applied in one order is linearizable by construction: each operation takes
//! effect at the moment the server handles it, which lies between the client's request and the
//! reply. What remains to get right is what the network and the disk do to that argument.
//!
//! # At most once: client sessions
//!
//! Clients retry, and networks duplicate, so the same request can arrive twice. Re-applying a
//! `write` after other writes (or a `cas` that has since become possible) is a state no
//! sequential execution has. Following the Raft dissertation (Ongaro, *Consensus: Bridging Theory
//! and Practice*, 2014, section 6.3), the server keeps a **session** per client: the `msg_id` of
//! the last `write` or `cas` it applied for that client and the reply it sent. Clients number
//! their requests in increasing order and have one outstanding at a time, so:
//!
//! - a request with the session's `msg_id` is a retry: the cached reply is sent again and the
//!   store is not touched;
//! - a request with a smaller `msg_id` is stale (a delayed duplicate of a request the client has
//!   moved past): it is ignored;
//! - a request with a larger `msg_id`, or from a client without a session, is new: it is applied
//!   and the session is replaced by (`msg_id`, reply).
//!
//! A failed `cas` is recorded too: it changed nothing, but executing its retry later could
//! succeed. Reads bypass the sessions: they change nothing, so running a retried read again is
//! as linearizable as the first run (likewise the thesis's section 6.4 serves read-only queries
//! without logging them).
//!
//! **The table is bounded.** Clients are arbitrary addresses, not known in advance, so the table
//! holds at most [`SingleCopyServer::max_sessions`] sessions and, when a new client needs room,
//! evicts the least recently used one: the session whose last applied request is the oldest (the
//! thesis's LRU option). The order is the table's own order, so eviction is deterministic. lin-kv
//! has no session registration, so a client whose session was evicted is indistinguishable from
//! a new client: a retry of its last request would be applied again. The thesis names exactly
//! this risk for "allocate a new session for a client any time there is no record of it"; here
//! it needs `max_sessions` other clients to write between a request and its retry. The checker
//! shows it: with fewer sessions than clients and a duplicating network, `linearizable` fails.
//!
//! # Durability
//!
//! The store and the sessions are the server's whole state, and both are saved (stateright
//! `Storage`) in the same step that applies a request, before its reply leaves: the runtime
//! writes storage to disk before sending. A restarted server resumes from it, so a crash loses
//! neither an acknowledged write nor the memory of which requests were applied.
//!
//! # More than one server
//!
//! [`SingleCopyServer::servers`] lists every server, but the servers never talk to each other
//! ([`SingleCopyMsg`] has no values): with two or more, each keeps its own store. That is the
//! point of allowing it: a client that writes to one server and reads from another sees its own
//! write vanish, and the checker finds that `linearizable` fails, which is why replication needs
//! a protocol.
//!
//! # Invariants
//!
//! - `linearizable` (checked): the clients' history is linearizable against one [`CasRegister`]
//!   per key (read, write and cas, with errors 20 and 22), with one server;
//! - in the code: the session table never exceeds `max_sessions` and holds at most one session
//!   per client; a request is applied at most once per (client, `msg_id`) while its client's
//!   session is in the table; every applied request is saved before its reply is sent.
//!
//! `sometimes` properties show the model is not vacuous: a `cas` succeeds, a `cas` fails, and a
//! read returns a written value.
//!
//! [`CasRegister`]: crate::kv::CasRegister

use crate::checked::{canonical_clients, servers_only_crash, Checked, KvModel, KvSystemState};
use crate::durable::{keymap_delta, Durable};
use crate::kv::{
    record_invocations, record_returns, ClientPerm, Command as Update, ErrorCode, History, Key,
    KvActor, KvClient, KvConfig, KvMsg, KvRet, KvStore, MsgId, Permute, Step, MAX_CLIENTS,
};
pub use crate::kv::{Outcome, Seen, Session, Sessions};
use crate::protocol::{
    always, sometimes, BugInfo, Descriptor, KeySemantics, Need, Param, Pinned, Protocol, Serve,
    Settings, ALL_NETWORKS,
};
use crate::system::System;
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::sync::Arc;

/// Node-to-node messages: there are none (the servers are not replicas of each other). The type
/// exists because every KV protocol's messages are `KvMsg<Internal>`; having no values, nothing
/// can construct, encode or decode one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SingleCopyMsg {}

/// Deliberately broken variants, each from a mistake the literature warns about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SingleCopyBug {
    /// No sessions: every `write` and `cas` received is applied, retries and duplicates included,
    /// so a duplicated write re-applied after another write makes a later read see the past
    /// (Ongaro, *Consensus: Bridging Theory and Practice*, 2014, section 6.3: without sessions a
    /// retried command executes twice).
    NoDedup,
    /// The store and sessions live in memory only and are never saved, so a crash and restart
    /// loses acknowledged writes (durability, the D of ACID: Haerder and Reuter, *Principles of
    /// Transaction-Oriented Database Recovery*, 1983; Raft's rule that persistent state reaches
    /// stable storage before responding, Ongaro and Ousterhout 2014, Figure 2).
    VolatileStore,
    /// Retries are recognised by `msg_id` alone, not by (client, `msg_id`): another client's
    /// request with the same number is taken for a retry and answered with the cached reply
    /// without being applied (Birrell and Nelson, *Implementing Remote Procedure Calls*, 1984,
    /// section 3.2: a call is identified by its caller together with a sequence number).
    DedupByMsgId,
}

impl SingleCopyBug {
    pub const ALL: [(&'static str, SingleCopyBug); 3] = [
        ("no-dedup", SingleCopyBug::NoDedup),
        ("volatile-store", SingleCopyBug::VolatileStore),
        ("dedup-by-msg-id", SingleCopyBug::DedupByMsgId),
    ];
}

/// A server's whole state: the lin-kv store with its session table ([`KvStore`], the state
/// machine Raft replicates too). All of it is durable.
pub type SingleCopyState = KvStore;

/// What a server saves: its whole state, shared so that the checker's clones and the runtime's
/// saves do not copy it. Serialize with postcard or any serde format.
pub type SingleCopyStorage = Arc<SingleCopyState>;

/// A change to a single-copy server's state on disk: a key assigned, or a client's session
/// recorded (moved to the most recently used end of the table).
#[derive(Serialize, Deserialize)]
pub enum SingleCopyEntry {
    Put(Key, u64),
    Session(Session),
}

/// Store assignments plus the sessions recorded since `prev`, in table order; a snapshot when a
/// session was evicted (rare: more clients than the table's bound).
impl Durable for SingleCopyStorage {
    type Entry = SingleCopyEntry;

    fn delta(&self, prev: &Self) -> Option<Vec<SingleCopyEntry>> {
        if Arc::ptr_eq(self, prev) {
            return Some(Vec::new());
        }
        let mut out: Vec<SingleCopyEntry> = keymap_delta(self.data.iter(), prev.data.iter())?
            .into_iter()
            .map(|(k, v)| SingleCopyEntry::Put(k, v))
            .collect();
        out.extend(
            self.sessions
                .recorded_since(&prev.sessions)?
                .into_iter()
                .map(SingleCopyEntry::Session),
        );
        Some(out)
    }

    fn apply(&mut self, entry: SingleCopyEntry) {
        let state = Arc::make_mut(self);
        match entry {
            SingleCopyEntry::Put(k, v) => {
                state.data.insert(k, v);
            }
            SingleCopyEntry::Session(s) => {
                state.sessions.record(s, usize::MAX);
            }
        }
    }
}

/// A single-copy server: its index among `servers` (every server's id, in index order; with one
/// server there is no replication, with more each has its own store), an optional deliberate
/// bug, and the bound on its session table.
#[derive(Clone, Debug)]
pub struct SingleCopyServer {
    pub index: usize,
    pub servers: Vec<Id>,
    pub bug: Option<SingleCopyBug>,
    /// At most this many client sessions are kept (at least 1); the least recently used is
    /// evicted first. See the module docs for what eviction gives up.
    pub max_sessions: usize,
}

impl SingleCopyServer {
    /// The session bound the runtime uses unless told otherwise.
    pub const DEFAULT_MAX_SESSIONS: usize = 1024;

    /// Server `index` of `servers`, correct (no bug), with [`Self::DEFAULT_MAX_SESSIONS`].
    pub fn new(index: usize, servers: Vec<Id>) -> Self {
        assert!(index < servers.len(), "server {index} of {}", servers.len());
        SingleCopyServer {
            index,
            servers,
            bug: None,
            max_sessions: Self::DEFAULT_MAX_SESSIONS,
        }
    }

    fn save(&self, state: &SingleCopyState, o: &mut Out<Self>) {
        if self.bug != Some(SingleCopyBug::VolatileStore) {
            o.save(Arc::new(state.clone()));
        }
    }

    /// A `write` or `cas` from `client`: applied at most once (see the module docs).
    fn on_update(
        &self,
        state: &mut Cow<SingleCopyState>,
        client: Id,
        msg_id: MsgId,
        update: Update,
        o: &mut Out<Self>,
    ) {
        let seen = match self.bug {
            Some(SingleCopyBug::NoDedup) => Seen::New,
            Some(SingleCopyBug::DedupByMsgId) => {
                match state.sessions.iter().find(|s| s.msg_id == msg_id) {
                    Some(other) => Seen::Retry(other.reply),
                    None => state.sessions.seen(client, msg_id),
                }
            }
            None | Some(SingleCopyBug::VolatileStore) => state.sessions.seen(client, msg_id),
        };
        match seen {
            Seen::Retry(reply) => o.send(client, reply.reply(msg_id)),
            Seen::Stale => {}
            Seen::New => {
                let state = state.to_mut();
                let reply = update.apply(&mut state.data);
                if self.bug != Some(SingleCopyBug::NoDedup) {
                    let session = Session {
                        client,
                        msg_id,
                        reply,
                    };
                    state.sessions.record(session, self.max_sessions);
                    debug_assert_eq!(state.sessions.seen(client, msg_id), Seen::Retry(reply));
                }
                self.save(state, o);
                o.send(client, reply.reply(msg_id));
            }
        }
    }
}

impl Actor for SingleCopyServer {
    type Msg = KvMsg<SingleCopyMsg>;
    type State = SingleCopyState;
    type Timer = ();
    type Random = ();
    type Storage = SingleCopyStorage;

    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    /// Starts empty, or resumes from what was saved (store and sessions).
    fn on_start(
        &self,
        _id: Id,
        storage: &Option<Self::Storage>,
        _o: &mut Out<Self>,
    ) -> Self::State {
        let mut state = storage.as_deref().cloned().unwrap_or_default();
        state.sessions.truncate_to(self.max_sessions);
        state
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<Self::State>,
        src: Id,
        msg: Self::Msg,
        o: &mut Out<Self>,
    ) {
        match msg {
            KvMsg::Read { msg_id, key } => {
                let reply = match state.data.get(&key) {
                    Some(&value) => KvMsg::ReadOk {
                        in_reply_to: msg_id,
                        value,
                    },
                    None => KvMsg::error(msg_id, ErrorCode::KeyDoesNotExist),
                };
                o.send(src, reply);
            }
            KvMsg::Write { msg_id, key, value } => {
                self.on_update(state, src, msg_id, Update::Write { key, value }, o)
            }
            KvMsg::Cas {
                msg_id,
                key,
                from,
                to,
            } => self.on_update(state, src, msg_id, Update::Cas { key, from, to }, o),
            KvMsg::Internal(never) => match never {},
            // Replies are not requests; a server ignores them.
            KvMsg::ReadOk { .. } | KvMsg::WriteOk { .. } | KvMsg::CasOk { .. } => {}
            KvMsg::Error { .. } | KvMsg::AddOk { .. } => {}
            // A register store; the runtime refuses `add` before it arrives.
            KvMsg::Add { msg_id, .. } => o.send(src, KvMsg::error(msg_id, ErrorCode::NotSupported)),
        }
    }
}

/// What each client does: one write, one cas and one read of key 0, in one of two orders. Every
/// request after the first goes to the next server (with one server, to the same one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// Write the client's own value, cas it to the client's cas value, read the key.
    WriteCasRead,
    /// Read first (possibly racing every write: error 20), then write and cas.
    ReadWriteCas,
}

impl Script {
    pub fn steps(self) -> Vec<Step> {
        match self {
            Script::WriteCasRead => vec![Step::WriteOwn, Step::CasOwn, Step::Read],
            Script::ReadWriteCas => vec![Step::Read, Step::WriteOwn, Step::CasOwn],
        }
    }
}

/// The configuration of a single-copy model check.
#[derive(Clone, Debug, PartialEq)]
pub struct SingleCopyConfig {
    /// Servers; more than 1 means unsynchronised copies (linearizability fails, by design).
    pub servers: usize,
    /// Clients, at least 2 (so that a cas can lose a race).
    pub clients: usize,
    /// How many servers may be crashed at once (they restart from saved state).
    pub crashes: usize,
    pub script: Script,
    /// Each server's session bound (`SingleCopyServer::max_sessions`). The default,
    /// [`MAX_CLIENTS`], never evicts; fewer sessions than clients shows what eviction gives up.
    pub sessions: usize,
    pub network: NetworkKind,
    pub bug: Option<SingleCopyBug>,
    /// Reduce by client symmetry.
    pub symmetry: bool,
}

impl Default for SingleCopyConfig {
    fn default() -> Self {
        SingleCopyConfig {
            servers: 1,
            clients: 2,
            crashes: 0,
            script: Script::WriteCasRead,
            sessions: MAX_CLIENTS,
            network: NetworkKind::default(),
            bug: None,
            symmetry: false,
        }
    }
}

impl KvConfig for SingleCopyConfig {
    fn server_count(&self) -> usize {
        self.servers
    }
    fn client_count(&self) -> usize {
        self.clients
    }
}

impl Permute for SingleCopyMsg {
    fn permute(&self, _: &ClientPerm) -> Self {
        match *self {}
    }
}

/// The checked model of a single-copy configuration.
pub type SingleCopyModel = Checked<KvModel<SingleCopyServer, SingleCopyConfig>>;
type SingleCopySystem = KvSystemState<SingleCopyServer>;
type Inner = KvModel<SingleCopyServer, SingleCopyConfig>;

fn linearizable(_: &Inner, state: &SingleCopySystem) -> bool {
    state.history.linearizable_cas()
}

/// Whether some client completed an operation with outcome `ret` (by kind).
fn some_client_saw(state: &SingleCopySystem, seen: impl Fn(KvRet) -> bool) -> bool {
    state.history.some_return(seen)
}

fn read_sees_a_write(_: &Inner, state: &SingleCopySystem) -> bool {
    some_client_saw(state, |r| matches!(r, KvRet::ReadOk(Some(_))))
}

fn cas_succeeds(_: &Inner, state: &SingleCopySystem) -> bool {
    some_client_saw(state, |r| r == KvRet::CasOk)
}

fn cas_fails(_: &Inner, state: &SingleCopySystem) -> bool {
    some_client_saw(state, |r| matches!(r, KvRet::CasFail | KvRet::CasNotFound))
}

/// Builds the checked model: servers `0..servers`, then clients, each running the script
/// against key 0.
pub fn model(cfg: SingleCopyConfig) -> SingleCopyModel {
    let servers: Vec<Id> = (0..cfg.servers).map(Id::from).collect();
    let actor_model = System::new(cfg.clone(), History::new(cfg.clients))
        .actors((0..cfg.servers).map(|index| {
            KvActor::Server(SingleCopyServer {
                bug: cfg.bug,
                max_sessions: cfg.sessions,
                ..SingleCopyServer::new(index, servers.clone())
            })
        }))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                start: None,
                index,
                servers: servers.clone(),
                script: cfg.script.steps(),
                rotate: true,
            })
        }))
        .network(cfg.network)
        .max_crashes(cfg.crashes)
        .property(Expectation::Always, "linearizable", linearizable)
        .property(
            Expectation::Sometimes,
            "read sees a write",
            read_sees_a_write,
        )
        .property(Expectation::Sometimes, "cas succeeds", cas_succeeds)
        .property(Expectation::Sometimes, "cas fails", cas_fails)
        .record_msg_out(record_invocations)
        .record_msg_in(record_returns);
    let mut checked = Checked::new(actor_model);
    checked.allow = servers_only_crash;
    if cfg.symmetry {
        checked.canonical = Some(canonical_clients);
    }
    checked
}

/// The catalog entry: `synod check single-copy-kv`, `synod run single-copy-kv`, ...
pub struct SingleCopyKv;

impl Protocol for SingleCopyKv {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "single-copy-kv",
        summary: "One unreplicated lin-kv server (read/write/cas, at-most-once sessions): the no-replication reference",
        params: &[
            Param::model(
                "servers",
                "servers, each with its own store; more than 1 shows why replication needs a protocol: linearizable fails",
                1,
                1,
                3,
            ),
            Param::model(
                "clients",
                "clients (2 so a cas can lose a race; 3: 365,599 states); client i writes i+1, then cas i+1 -> 10(i+1)",
                2,
                2,
                3,
            ),
            Param::model(
                "crashes",
                "servers that may be crashed at once (they restart from saved store and sessions)",
                0,
                0,
                3,
            ),
            Param::model(
                "reads",
                "1: write, cas, then read; 2: read first (may find no key), then write and cas",
                1,
                1,
                2,
            ),
        ],
        properties: &[
            always("linearizable"),
            sometimes("read sees a write"),
            sometimes("cas succeeds"),
            sometimes("cas fails"),
        ],
        bugs: &[
            BugInfo {
                name: "no-dedup",
                summary: "no client sessions: a duplicated or retried write/cas is applied again",
                source: "Ongaro, Consensus: Bridging Theory and Practice (2014), section 6.3: client sessions for at-most-once",
                violates: "linearizable",
                needs: &[Need::Network(NetworkKind::UnorderedDuplicating)],
            },
            BugInfo {
                name: "volatile-store",
                summary: "the store and sessions are never saved, so a restart loses acknowledged writes",
                source: "Haerder and Reuter, Principles of Transaction-Oriented Database Recovery (1983): durability; Raft (2014), Figure 2",
                violates: "linearizable",
                needs: &[Need::Param("crashes", 1)],
            },
            BugInfo {
                name: "dedup-by-msg-id",
                summary: "retries recognised by msg_id alone: another client's request with that id is answered, not applied",
                source: "Birrell and Nelson, Implementing Remote Procedure Calls (1984), section 3.2: a call id is caller plus sequence number",
                violates: "linearizable",
                needs: &[],
            },
        ],
        symmetry: Some("clients"),
        networks: ALL_NETWORKS,
        validate: crate::protocol::crashes_at_most_servers,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 685,
                source: "tests/check_single_copy_kv.rs",
            },
            Pinned {
                params: &[("clients", 3)],
                symmetry: false,
                unique_states: 365_599,
                source: "tests/check_single_copy_kv.rs",
            },
        ],
    };
    type Model = KvModel<SingleCopyServer, SingleCopyConfig>;

    fn model(s: &Settings) -> Checked<Self::Model> {
        model(SingleCopyConfig {
            servers: s.count("servers"),
            clients: s.count("clients"),
            crashes: s.count("crashes"),
            script: match s.get("reads") {
                1 => Script::WriteCasRead,
                _ => Script::ReadWriteCas,
            },
            sessions: SingleCopyConfig::default().sessions,
            network: s.network,
            bug: s.bug_of(&SingleCopyBug::ALL),
            symmetry: s.symmetry,
        })
    }
}

impl Serve for SingleCopyKv {
    type Internal = SingleCopyMsg;
    type Server = SingleCopyServer;
    type Storage = SingleCopyStorage;
    const KEYS: KeySemantics = KeySemantics::Register;

    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> SingleCopyServer {
        SingleCopyServer {
            bug: s.bug_of(&SingleCopyBug::ALL),
            ..SingleCopyServer::new(index, servers)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{CasRegister, KvOp};
    use stateright::semantics::SequentialSpec;

    fn server() -> SingleCopyServer {
        SingleCopyServer::new(0, vec![Id::from(0)])
    }

    /// Delivers `msg` from `src`; returns the replies and whether the state was saved.
    fn deliver(
        s: &SingleCopyServer,
        state: &mut SingleCopyState,
        src: usize,
        msg: KvMsg<SingleCopyMsg>,
    ) -> (Vec<KvMsg<SingleCopyMsg>>, bool) {
        let mut cow = Cow::Borrowed(&*state);
        let mut o = Out::new();
        s.on_msg(Id::from(0), &mut cow, Id::from(src), msg, &mut o);
        let next = cow.into_owned();
        let mut replies = Vec::new();
        let mut saved = false;
        for c in o {
            match c {
                stateright::actor::Command::Send(dst, m) => {
                    assert_eq!(dst, Id::from(src), "replies go to the request's source");
                    replies.push(m);
                }
                stateright::actor::Command::Save(storage) => {
                    assert_eq!(
                        *storage, next,
                        "the saved state is the state after the step"
                    );
                    saved = true;
                }
                other => panic!("unexpected command {other:?}"),
            }
        }
        *state = next;
        (replies, saved)
    }

    #[test]
    fn lin_kv_semantics_and_error_codes() {
        let s = server();
        let mut st = SingleCopyState::default();
        let read = |msg_id| KvMsg::Read { msg_id, key: 3 };
        assert_eq!(
            deliver(&s, &mut st, 9, read(1)),
            (vec![KvMsg::error(1, ErrorCode::KeyDoesNotExist)], false)
        );
        let cas = |msg_id, from, to| KvMsg::Cas {
            msg_id,
            key: 3,
            from,
            to,
        };
        assert_eq!(
            deliver(&s, &mut st, 9, cas(2, 1, 2)).0,
            vec![KvMsg::error(2, ErrorCode::KeyDoesNotExist)]
        );
        let write = KvMsg::Write {
            msg_id: 3,
            key: 3,
            value: 7,
        };
        assert_eq!(
            deliver(&s, &mut st, 9, write),
            (vec![KvMsg::WriteOk { in_reply_to: 3 }], true)
        );
        assert_eq!(
            deliver(&s, &mut st, 9, cas(4, 1, 8)).0,
            vec![KvMsg::error(4, ErrorCode::PreconditionFailed)]
        );
        assert_eq!(
            deliver(&s, &mut st, 9, cas(5, 7, 8)).0,
            vec![KvMsg::CasOk { in_reply_to: 5 }]
        );
        assert_eq!(
            deliver(&s, &mut st, 9, read(6)).0,
            vec![KvMsg::ReadOk {
                in_reply_to: 6,
                value: 8
            }]
        );
        assert_eq!(st.data.get(&3), Some(&8));
    }

    #[test]
    fn retries_get_the_cached_reply_and_stale_requests_are_ignored() {
        let s = server();
        let mut st = SingleCopyState::default();
        let write = |msg_id, value| KvMsg::Write {
            msg_id,
            key: 0,
            value,
        };
        deliver(&s, &mut st, 5, write(1, 1));
        deliver(&s, &mut st, 6, write(1, 2));
        // Client 5's retry of #1 is answered, not applied: the store keeps client 6's write.
        let before = st.clone();
        assert_eq!(
            deliver(&s, &mut st, 5, write(1, 1)),
            (vec![KvMsg::WriteOk { in_reply_to: 1 }], false)
        );
        assert_eq!(st, before);
        // A failed cas is cached too: its retry fails again although it would now succeed.
        let cas = KvMsg::Cas {
            msg_id: 2,
            key: 0,
            from: 9,
            to: 10,
        };
        deliver(&s, &mut st, 5, cas.clone());
        deliver(&s, &mut st, 6, write(2, 9));
        assert_eq!(
            deliver(&s, &mut st, 5, cas).0,
            vec![KvMsg::error(2, ErrorCode::PreconditionFailed)]
        );
        // Client 5 has moved on to #2: a late copy of #1 is stale.
        let before = st.clone();
        assert_eq!(deliver(&s, &mut st, 5, write(1, 1)), (vec![], false));
        assert_eq!(st, before);
        assert_eq!(st.data.get(&0), Some(&9));
    }

    #[test]
    fn the_session_table_is_bounded_and_evicts_the_least_recently_used() {
        let s = SingleCopyServer {
            max_sessions: 2,
            ..server()
        };
        let mut st = SingleCopyState::default();
        let write = |msg_id| KvMsg::Write {
            msg_id,
            key: 0,
            value: 1,
        };
        deliver(&s, &mut st, 10, write(1));
        deliver(&s, &mut st, 11, write(1));
        deliver(&s, &mut st, 10, write(2)); // client 10 is now the most recent
        deliver(&s, &mut st, 12, write(1)); // evicts client 11
        let clients: Vec<usize> = st.sessions.iter().map(|s| usize::from(s.client)).collect();
        assert_eq!(clients, [10, 12]);
        // Client 11 has no session any more: its retry is applied again (the documented cost).
        let (replies, saved) = deliver(&s, &mut st, 11, write(1));
        assert_eq!(replies, vec![KvMsg::WriteOk { in_reply_to: 1 }]);
        assert!(saved);
        // Reads never enter the table.
        deliver(&s, &mut st, 13, KvMsg::Read { msg_id: 1, key: 0 });
        assert!(st.sessions.get(Id::from(13)).is_none());
        assert_eq!(st.sessions.len(), 2);
    }

    #[test]
    fn a_restart_resumes_from_storage_and_respects_the_bound() {
        let s = server();
        let mut st = SingleCopyState::default();
        for c in 0..3 {
            deliver(
                &s,
                &mut st,
                20 + c,
                KvMsg::Write {
                    msg_id: 1,
                    key: c as Key,
                    value: 5,
                },
            );
        }
        let storage: SingleCopyStorage = Arc::new(st.clone());
        assert_eq!(
            s.on_start(Id::from(0), &Some(storage.clone()), &mut Out::new()),
            st
        );
        let small = SingleCopyServer {
            max_sessions: 1,
            ..server()
        };
        let resumed = small.on_start(Id::from(0), &Some(storage), &mut Out::new());
        assert_eq!(resumed.data, st.data);
        let kept: Vec<usize> = resumed
            .sessions
            .iter()
            .map(|s| usize::from(s.client))
            .collect();
        assert_eq!(kept, [22], "the most recent session survives");
    }

    #[test]
    fn volatile_store_never_saves() {
        let s = SingleCopyServer {
            bug: Some(SingleCopyBug::VolatileStore),
            ..server()
        };
        let mut st = SingleCopyState::default();
        let (replies, saved) = deliver(
            &s,
            &mut st,
            4,
            KvMsg::Write {
                msg_id: 1,
                key: 0,
                value: 1,
            },
        );
        assert_eq!(replies.len(), 1);
        assert!(!saved);
    }

    #[test]
    fn cas_register_specification() {
        let mut r = CasRegister::default();
        assert_eq!(r.invoke(&KvOp::Read(0)), KvRet::ReadOk(None));
        assert_eq!(r.invoke(&KvOp::Cas(0, 1, 2)), KvRet::CasNotFound);
        assert_eq!(r.invoke(&KvOp::Write(0, 1)), KvRet::WriteOk);
        assert_eq!(r.invoke(&KvOp::Cas(0, 3, 2)), KvRet::CasFail);
        assert_eq!(r.invoke(&KvOp::Cas(0, 1, 2)), KvRet::CasOk);
        assert_eq!(r.invoke(&KvOp::Read(0)), KvRet::ReadOk(Some(2)));
        assert!(!r.is_valid_step(&KvOp::Write(0, 3), &KvRet::WriteFail));
    }

    #[test]
    fn storage_round_trips_through_postcard() {
        // The runtime saves storage with postcard, as it encodes messages.
        let s = server();
        let mut st = SingleCopyState::default();
        for (c, k) in [(7usize, 2), (8, 1)] {
            let cas = KvMsg::Cas {
                msg_id: 3,
                key: k,
                from: 0,
                to: 1,
            };
            deliver(&s, &mut st, c, cas);
            let write = KvMsg::Write {
                msg_id: 4,
                key: k,
                value: 9,
            };
            deliver(&s, &mut st, c, write);
        }
        let storage: SingleCopyStorage = Arc::new(st.clone());
        let bytes = postcard::to_stdvec(&storage).expect("encodes");
        let back: SingleCopyStorage = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, storage);
        // A table with a client listed twice keeps its later session.
        let listed_twice = vec![
            Session {
                client: Id::from(7),
                msg_id: 1,
                reply: Outcome::WriteOk,
            },
            Session {
                client: Id::from(7),
                msg_id: 2,
                reply: Outcome::CasOk,
            },
        ];
        let bytes = postcard::to_stdvec(&listed_twice).expect("encodes");
        let decoded: Sessions = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded.get(Id::from(7)).unwrap().msg_id, 2);
        // Messages, internal ones included, are serde types too.
        let msg: KvMsg<SingleCopyMsg> = KvMsg::error(3, ErrorCode::PreconditionFailed);
        let bytes = postcard::to_stdvec(&msg).expect("encodes");
        assert_eq!(
            postcard::from_bytes::<KvMsg<SingleCopyMsg>>(&bytes),
            Ok(msg)
        );
    }
}
