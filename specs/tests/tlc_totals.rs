//! TLC's "states generated" (the manifests' `totalStates`), reproduced transition by transition.
//!
//! TLC generates one successor per way of satisfying the next-state action: every disjunct, and
//! every witness of every `\E` it meets while evaluating the action, including those inside
//! operators it expands (`ShowsSafeAt`) and on the right of an `=>` whose left side holds. So
//! its total counts a successor once per witness, while stateright's `state_count` counts each
//! action instance once. The two agree for TCommit, TwoPhase and Consensus (counts.rs); for
//! Voting and Paxos this file multiplies each enabled instance by its number of witnesses and
//! lands exactly on TLC's totals, which checks the mirror transition by transition.

mod common;

use common::reachable;
use stateright::Model;
use synod_specs::paxos::ValueOrNone;
use synod_specs::*;

fn members(q: u32) -> impl Iterator<Item = Acceptor> {
    (0..32u8).filter(move |a| q & (1 << a) != 0).map(Acceptor)
}

/// The witnesses TLC enumerates for `\E Q \in Quorum : ShowsSafeAt(Q, b, v)`:
/// each quorum `Q`, each `c` of `\E c \in -1..(b-1)`, and for `c /= -1` each `a` of
/// `\E a \in Q : VotedFor(a, c, v)`.
fn shows_safe_at_witnesses(m: &Voting, s: &VotingState, b: Ballot, v: Value) -> usize {
    let mut count = 0;
    for &q in m.quorums() {
        if !members(q).all(|a| s.maxBal.get(a) >= b) {
            continue;
        }
        for c in -1..b {
            let rest = (c + 1..b).all(|d| members(q).all(|a| Voting::did_not_vote_at(s, a, d)));
            if !rest {
                continue;
            }
            count += if c == -1 {
                1
            } else {
                members(q)
                    .filter(|&a| Voting::voted_for(s, a, c, v))
                    .count()
            };
        }
    }
    count
}

#[test]
fn voting_generated_matches_tlc() {
    // MCVoting: TLC reports 41,017 states generated (6,752 distinct).
    let m = Voting::new(VotingConfig::default()).unwrap();
    let mut generated = m.init_states().len();
    let mut actions = Vec::new();
    for s in reachable(&m) {
        actions.clear();
        m.actions(&s, &mut actions);
        for &action in &actions {
            if m.next_state(&s, action).is_none() {
                continue;
            }
            generated += match action {
                VotingAction::IncreaseMaxBal(..) => 1,
                VotingAction::VoteFor(_, b, v) => shows_safe_at_witnesses(&m, &s, b, v),
            };
        }
    }
    assert_eq!(generated, 41_017);
}

#[test]
fn paxos_tiny_generated_matches_tlc() {
    // MCPaxosTiny: TLC reports 23,563 states generated (3,921 distinct). Phase2a(b, v) yields
    // one successor per quorum Q whose 1b messages are all in, times: 1 for the disjunct
    // `Q1bv = {}` when it holds, plus one per m of `\E m \in Q1bv` with the highest mbal and
    // mval = v.
    let m = Paxos::new(PaxosConfig::default()).unwrap();
    let quorums = m.voting().quorums().to_vec();
    let mut generated = m.init_states().len();
    let mut actions = Vec::new();
    for s in reachable(&m) {
        actions.clear();
        m.actions(&s, &mut actions);
        for &action in &actions {
            if m.next_state(&s, action).is_none() {
                continue;
            }
            let PaxosAction::Phase2a(b, v) = action else {
                generated += 1;
                continue;
            };
            for &q in &quorums {
                let q1b: Vec<(Ballot, ValueOrNone)> = members(q)
                    .flat_map(|a| s.msgs.m1b.get(a).iter())
                    .filter(|&(bal, _, _)| bal == b)
                    .map(|(_, mbal, mval)| (mbal, mval))
                    .collect();
                let all_answered =
                    members(q).all(|a| s.msgs.m1b.get(a).iter().any(|(bal, _, _)| bal == b));
                if !all_answered {
                    continue;
                }
                let q1bv: Vec<_> = q1b.iter().filter(|(mbal, _)| *mbal >= 0).collect();
                if q1bv.is_empty() {
                    generated += 1;
                }
                generated += q1bv
                    .iter()
                    .filter(|(mbal, mval)| {
                        *mval == ValueOrNone(Some(v)) && q1bv.iter().all(|(mm, _)| mbal >= mm)
                    })
                    .count();
            }
        }
    }
    assert_eq!(generated, 23_563);
}
