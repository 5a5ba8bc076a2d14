//! What a model says about liveness: which of its actions are *fair*, and its `leads-to`
//! properties.
//!
//! A liveness property ("every RM eventually decides", "a committed transaction reaches every
//! RM") can only hold under assumptions about which steps the system keeps taking: without any, a
//! behaviour may simply stop, and nothing is ever decided. TLA+ states these assumptions as weak
//! fairness, `WF_vars(A)`: if action `A` stays enabled from some point on, it is eventually
//! taken. The checker (`synod::check::liveness`) explores the whole state graph, cycles
//! included, and looks for a behaviour that is fair and violates the property: a *lasso* (a
//! prefix and a cycle it repeats forever) or a state where the behaviour may stop.
//!
//! Weak fairness is per *class* of actions: here, one class per message (its delivery), per
//! timer of an actor, per pending random choice of an actor (any of its outcomes takes it), and
//! per crashed actor (its restart). Which kinds are fair is the user's choice (`--fairness`);
//! crashes and message loss never are: they are faults, a behaviour may take them or not.

use crate::system::{digest, System, SystemAction};
use stateright::actor::{Actor, ActorModelAction};
use stateright::Model;
use std::fmt::Debug;
use std::hash::Hash;

/// Which kinds of actions are weakly fair (`--fairness deliver,timeout,random,recover`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fairness {
    /// A message that stays deliverable is eventually delivered (or lost, on a lossy network).
    pub deliver: bool,
    /// A timer that stays set eventually fires.
    pub timeout: bool,
    /// An actor's pending random choice is eventually made.
    pub random: bool,
    /// A crashed actor eventually restarts.
    pub recover: bool,
}

impl Default for Fairness {
    /// Delivery, timeouts and random choices: what a running system does unless it fails.
    fn default() -> Self {
        Fairness {
            deliver: true,
            timeout: true,
            random: true,
            recover: false,
        }
    }
}

impl Fairness {
    /// Every kind with its command-line name.
    pub const KINDS: [&'static str; 4] = ["deliver", "timeout", "random", "recover"];

    /// No action is fair: a behaviour may stop anywhere.
    pub const NONE: Fairness = Fairness {
        deliver: false,
        timeout: false,
        random: false,
        recover: false,
    };

    /// Parses `deliver,timeout,...` or `none`; the error names the word it does not know.
    pub fn parse(list: &str) -> Result<Fairness, String> {
        let mut out = Fairness::NONE;
        if list.trim() == "none" {
            return Ok(out);
        }
        for word in list.split(',').map(str::trim) {
            match word {
                "deliver" => out.deliver = true,
                "timeout" => out.timeout = true,
                "random" => out.random = true,
                "recover" => out.recover = true,
                other => {
                    return Err(format!(
                    "unknown kind of action {other:?}: use a comma-separated list of {} or `none`",
                    Self::KINDS.join(", ")
                ))
                }
            }
        }
        Ok(out)
    }

    /// The fair kinds by name, in the order of [`Fairness::KINDS`].
    pub fn names(&self) -> Vec<&'static str> {
        let on = [self.deliver, self.timeout, self.random, self.recover];
        Self::KINDS
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// `P ~> Q` (TLA+'s leads-to): whenever `from` holds, `to` holds then or later.
pub struct LeadsTo<M: Model> {
    pub name: &'static str,
    pub from: fn(&M, &M::State) -> bool,
    pub to: fn(&M, &M::State) -> bool,
}

impl<M: Model> Clone for LeadsTo<M> {
    fn clone(&self) -> Self {
        LeadsTo {
            name: self.name,
            from: self.from,
            to: self.to,
        }
    }
}

/// What the liveness checker needs of a model beyond stateright's `Model`.
pub trait Liveness: Model {
    /// The weak-fairness class of `action` when its kind is fair under `fairness`, as a 64-bit
    /// key (two actions of one class share it); `None` for an action no fairness covers. By
    /// default no action is fair.
    fn fair_class(&self, _action: &Self::Action, _fairness: Fairness) -> Option<u64> {
        None
    }

    /// The model's `leads-to` properties (its `eventually` ones are stateright properties).
    fn leads_to(&self) -> Vec<LeadsTo<Self>>
    where
        Self: Sized,
    {
        Vec::new()
    }
}

impl<A, C, H> Liveness for System<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    fn fair_class(&self, action: &SystemAction<A>, fairness: Fairness) -> Option<u64> {
        match action {
            ActorModelAction::Deliver { src, dst, msg } if fairness.deliver => {
                Some(digest(&(0u8, src, dst, msg)))
            }
            ActorModelAction::Timeout(id, timer) if fairness.timeout => {
                Some(digest(&(1u8, id, timer)))
            }
            ActorModelAction::SelectRandom { actor, key, .. } if fairness.random => {
                Some(digest(&(2u8, actor, key)))
            }
            ActorModelAction::Recover(id) if fairness.recover => Some(digest(&(3u8, id))),
            _ => None,
        }
    }

    fn leads_to(&self) -> Vec<LeadsTo<Self>> {
        self.leads_to.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_names_what_it_does_not_know() {
        assert_eq!(Fairness::parse("none").unwrap(), Fairness::NONE);
        let f = Fairness::parse("deliver, recover").unwrap();
        assert_eq!(f.names(), vec!["deliver", "recover"]);
        assert_eq!(
            Fairness::default().names(),
            vec!["deliver", "timeout", "random"]
        );
        let e = Fairness::parse("deliver,timeouts").unwrap_err();
        assert!(e.contains("\"timeouts\""), "{e}");
    }
}
