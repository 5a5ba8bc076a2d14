//! The sequential specifications the search checks a key against: one step of a register or of a
//! write-once register, from a state (absent, or a value) and an operation with its outcome.
//!
//! Kept apart from the search so the semantics can be read (and tested) in one place. Every
//! function here is total: an outcome that cannot happen is `None`, never a panic.
//!
//! `Model::Counter` is never meant to reach the search (a counter history is checked by
//! `lincheck::counter`); should one arrive, it behaves as a register, and an `add`, which no
//! register has, is never possible: it changes nothing and no definite outcome explains it.

use crate::lincheck::{Model, OpKind, Outcome, Value};

/// The state of one key: absent (the start), or holding a value.
pub(super) type State = Option<Value>;

/// The state after a *definite* operation that returned `outcome`, or `None` when the object could
/// not have returned that outcome from `state`.
#[inline]
pub(super) fn step(model: Model, state: State, kind: OpKind, outcome: Outcome) -> Option<State> {
    match (model, kind, outcome) {
        (_, OpKind::Read, Outcome::ReadOk(v)) => (state == Some(v)).then_some(state),
        (_, OpKind::Read, Outcome::NotFound) => state.is_none().then_some(state),
        (Model::Register | Model::Counter, OpKind::Write(v), Outcome::WriteOk) => Some(Some(v)),
        (Model::Register | Model::Counter, OpKind::Cas { from, to }, Outcome::CasOk) => {
            (state == Some(from)).then_some(Some(to))
        }
        (Model::Register | Model::Counter, OpKind::Cas { .. }, Outcome::NotFound) => {
            state.is_none().then_some(state)
        }
        (
            Model::Register | Model::Counter,
            OpKind::Cas { from, .. },
            Outcome::PreconditionFailed,
        ) => matches!(state, Some(x) if x != from).then_some(state),
        (Model::WriteOnce, OpKind::Write(v), Outcome::WriteOk) => match state {
            None => Some(Some(v)),
            Some(x) if x == v => Some(state),
            Some(_) => None,
        },
        (Model::WriteOnce, OpKind::Write(v), Outcome::PreconditionFailed) => {
            matches!(state, Some(x) if x != v).then_some(state)
        }
        // Any outcome is accepted for an indeterminate operation: it does what it does.
        (_, _, Outcome::Indeterminate) => Some(effect(model, state, kind)),
        _ => None,
    }
}

/// What an operation does to `state` when it takes effect, whatever it returned: the step of an
/// indeterminate operation. (A cas in the write-once model and an add in any model are rejected
/// before any search; here they are no-ops so the function stays total.)
#[inline]
pub(super) fn effect(model: Model, state: State, kind: OpKind) -> State {
    match (model, kind) {
        (_, OpKind::Read | OpKind::Add(_)) => state,
        (Model::Register | Model::Counter, OpKind::Write(v)) => Some(v),
        (Model::Register | Model::Counter, OpKind::Cas { from, to }) => {
            if state == Some(from) {
                Some(to)
            } else {
                state
            }
        }
        (Model::WriteOnce, OpKind::Write(v)) => state.or(Some(v)),
        (Model::WriteOnce, OpKind::Cas { .. }) => state,
    }
}

/// Whether some state makes `outcome` possible for `kind`: a definite operation failing this
/// (a read that returned `write_ok`) can never be linearized.
pub(super) fn possible(model: Model, kind: OpKind, outcome: Outcome) -> bool {
    matches!(
        (model, kind, outcome),
        (_, _, Outcome::Indeterminate)
            | (_, OpKind::Read, Outcome::ReadOk(_) | Outcome::NotFound)
            | (
                Model::Register | Model::Counter,
                OpKind::Write(_),
                Outcome::WriteOk
            )
            | (
                Model::Register | Model::Counter,
                OpKind::Cas { .. },
                Outcome::CasOk | Outcome::NotFound | Outcome::PreconditionFailed
            )
            | (
                Model::WriteOnce,
                OpKind::Write(_),
                Outcome::WriteOk | Outcome::PreconditionFailed
            )
    )
}

/// Whether a definite operation is an *observer*: in every state where its outcome holds, it
/// leaves the state as it is (a read, a failed cas, a cas from a value to itself, a write-once
/// write that failed). Not a write of the value the key happens to hold: elsewhere it changes it.
pub(super) fn observer(model: Model, kind: OpKind, outcome: Outcome) -> bool {
    match (model, kind, outcome) {
        (_, OpKind::Read, _) => true,
        (Model::Register | Model::Counter, OpKind::Cas { from, to }, Outcome::CasOk) => from == to,
        (
            Model::Register | Model::Counter,
            OpKind::Cas { .. },
            Outcome::NotFound | Outcome::PreconditionFailed,
        ) => true,
        (Model::WriteOnce, OpKind::Write(_), Outcome::PreconditionFailed) => true,
        _ => false,
    }
}

/// The value a definite operation needs the key to hold for its outcome, if one specific value:
/// `read_ok(v)` needs `v`, a successful cas needs its `from`.
pub(super) fn required_value(model: Model, kind: OpKind, outcome: Outcome) -> Option<Value> {
    match (model, kind, outcome) {
        (_, OpKind::Read, Outcome::ReadOk(v)) => Some(v),
        (Model::Register | Model::Counter, OpKind::Cas { from, .. }, Outcome::CasOk) => Some(from),
        _ => None,
    }
}

/// The value an operation may store, if it stores one: a write's value, a cas's `to` (an add
/// stores nothing a register holds).
pub(super) fn produced_value(kind: OpKind) -> Option<Value> {
    match kind {
        OpKind::Read | OpKind::Add(_) => None,
        OpKind::Write(v) => Some(v),
        OpKind::Cas { to, .. } => Some(to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_steps() {
        let m = Model::Register;
        assert_eq!(step(m, None, OpKind::Read, Outcome::NotFound), Some(None));
        assert_eq!(step(m, Some(1), OpKind::Read, Outcome::NotFound), None);
        assert_eq!(
            step(m, Some(1), OpKind::Read, Outcome::ReadOk(1)),
            Some(Some(1))
        );
        assert_eq!(step(m, Some(1), OpKind::Read, Outcome::ReadOk(2)), None);
        assert_eq!(
            step(m, None, OpKind::Write(3), Outcome::WriteOk),
            Some(Some(3))
        );
        let cas = OpKind::Cas { from: 1, to: 2 };
        assert_eq!(step(m, Some(1), cas, Outcome::CasOk), Some(Some(2)));
        assert_eq!(step(m, Some(3), cas, Outcome::CasOk), None);
        assert_eq!(step(m, None, cas, Outcome::NotFound), Some(None));
        assert_eq!(
            step(m, Some(3), cas, Outcome::PreconditionFailed),
            Some(Some(3))
        );
        assert_eq!(step(m, Some(1), cas, Outcome::PreconditionFailed), None);
        assert_eq!(step(m, None, cas, Outcome::PreconditionFailed), None);
        assert_eq!(step(m, Some(1), OpKind::Read, Outcome::WriteOk), None);
        assert_eq!(effect(m, Some(1), cas), Some(2));
        assert_eq!(effect(m, Some(3), cas), Some(3));
    }

    #[test]
    fn write_once_steps() {
        let m = Model::WriteOnce;
        assert_eq!(
            step(m, None, OpKind::Write(3), Outcome::WriteOk),
            Some(Some(3))
        );
        assert_eq!(
            step(m, Some(3), OpKind::Write(3), Outcome::WriteOk),
            Some(Some(3))
        );
        assert_eq!(step(m, Some(4), OpKind::Write(3), Outcome::WriteOk), None);
        assert_eq!(
            step(m, Some(4), OpKind::Write(3), Outcome::PreconditionFailed),
            Some(Some(4))
        );
        assert_eq!(
            step(m, None, OpKind::Write(3), Outcome::PreconditionFailed),
            None
        );
        assert_eq!(effect(m, None, OpKind::Write(3)), Some(3));
        assert_eq!(effect(m, Some(4), OpKind::Write(3)), Some(4));
        assert!(!possible(m, OpKind::Write(1), Outcome::CasOk));
        assert!(possible(m, OpKind::Write(1), Outcome::PreconditionFailed));
        assert!(!possible(
            Model::Register,
            OpKind::Write(1),
            Outcome::PreconditionFailed
        ));
    }

    #[test]
    fn an_add_is_never_a_register_step() {
        for m in Model::ALL {
            for outcome in [Outcome::WriteOk, Outcome::CasOk, Outcome::ReadOk(3)] {
                assert!(!possible(m, OpKind::Add(3), outcome), "{m} {outcome:?}");
                assert_eq!(step(m, Some(3), OpKind::Add(3), outcome), None);
            }
            assert_eq!(effect(m, Some(3), OpKind::Add(3)), Some(3));
            assert_eq!(produced_value(OpKind::Add(3)), None);
        }
        // Otherwise a counter, should one reach the search, is a register.
        let cas = OpKind::Cas { from: 1, to: 2 };
        assert_eq!(
            step(Model::Counter, Some(1), cas, Outcome::CasOk),
            step(Model::Register, Some(1), cas, Outcome::CasOk)
        );
    }
}
