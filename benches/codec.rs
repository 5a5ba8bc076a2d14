//! The node's codecs on the hot path: decoding a client's JSON request, encoding the JSON reply,
//! and a binary Paxos message round trip. `cargo bench --bench codec`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use synod::net::codec::{decode, encode_binary, encode_json, Clients, Decoded};
use synod_models::kv::{ErrorCode, KvMsg};
use synod_models::paxos::{Ballot, PaxosMsg};

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    let request = br#"{"type":"cas","msg_id":1763825114000123,"key":417,"from":7696581395876,"to":7696581395877}"#;
    group.bench_function("decode_json_cas", |b| {
        b.iter(
            || match decode::<PaxosMsg>(black_box(request), Clients::LinKv) {
                Decoded::Client(m) => m,
                _ => unreachable!("a valid request"),
            },
        )
    });
    let mut buf = Vec::with_capacity(256);
    let reply: KvMsg<PaxosMsg> = KvMsg::ReadOk {
        in_reply_to: 1_763_825_114_000_123,
        value: 7_696_581_395_876,
    };
    group.bench_function("encode_json_read_ok", |b| {
        b.iter(|| encode_json(black_box(&reply), &mut buf))
    });
    let error: KvMsg<PaxosMsg> = KvMsg::Error {
        in_reply_to: 1_763_825_114_000_123,
        code: ErrorCode::PreconditionFailed,
        value: Some(7_696_581_395_876),
        leader: None,
    };
    group.bench_function("encode_json_error", |b| {
        b.iter(|| encode_json(black_box(&error), &mut buf))
    });
    let promise: KvMsg<PaxosMsg> = KvMsg::Internal(PaxosMsg::Promise {
        key: 417,
        ballot: Ballot {
            round: 3,
            server: 1,
        },
        accepted: Some((
            Ballot {
                round: 2,
                server: 0,
            },
            7_696_581_395_876,
        )),
    });
    group.bench_function("binary_round_trip_promise", |b| {
        b.iter(|| {
            encode_binary(black_box(&promise), &mut buf).unwrap();
            match decode::<PaxosMsg>(&buf, Clients::LinKv) {
                Decoded::Peer(m) => m,
                _ => unreachable!("a valid message"),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
