//! Serializing many states at once with what they share written once.
//!
//! The checker's own engine (`--engine synod`) spills its frontier to disk a unit of states at a
//! time. States of one unit are mostly successors of a few parents, so they share most of their
//! parts: every actor but the one that stepped, the history. In memory they share them as `Arc`s;
//! written out naively, each state would carry its own copy, and each would be read back into
//! its own allocation. Within a [`Batch`], a part that was already written (an equal value behind
//! the same `Arc`) is written as its index instead, and read back as a clone of the first: fewer
//! bytes, fewer allocations, and the sharing the states had. Outside a batch every part is
//! written in full. Models stay free of I/O: this is only a scope on the current thread.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

/// A part written in full: its index, and a clone to compare later parts with.
type Written = (u32, Box<dyn Any>);

/// What the current thread's batch has written or read so far.
#[derive(Default)]
struct Parts {
    /// Serializing: by the address of the `Arc` behind a part, the parts written in full, with
    /// their index.
    written: HashMap<usize, Vec<Written>, ahash::RandomState>,
    /// Deserializing: the parts read in full, by index.
    read: Vec<Option<Box<dyn Any>>>,
    next: u32,
}

thread_local! {
    static PARTS: RefCell<Option<Parts>> = const { RefCell::new(None) };
}

/// While a `Batch` lives, shared parts serialized or deserialized on this thread are written (or
/// read) once. A batch is written and read back whole, in the same order.
pub struct Batch(());

impl Batch {
    pub fn start() -> Batch {
        PARTS.with(|p| *p.borrow_mut() = Some(Parts::default()));
        Batch(())
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        PARTS.with(|p| *p.borrow_mut() = None);
    }
}

/// How a part is written: in full with the index it takes, or as the index of an equal part
/// written before it in the batch.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum Part<T> {
    Full(u32, T),
    Same(u32),
}

/// Serializing `value`, whose `Arc` is at `address`: the index of an equal part already written
/// in this batch, or the index it now takes (written in full). Outside a batch: `Err(0)`.
pub(crate) fn written<T: Any + Clone + PartialEq>(address: usize, value: &T) -> Result<u32, u32> {
    PARTS.with(|p| {
        let mut p = p.borrow_mut();
        let Some(p) = p.as_mut() else { return Err(0) };
        let same = p.written.entry(address).or_default();
        for (index, seen) in same.iter() {
            if seen.downcast_ref::<T>() == Some(value) {
                return Ok(*index);
            }
        }
        let index = p.next;
        p.next += 1;
        same.push((index, Box::new(value.clone())));
        Err(index)
    })
}

/// Deserializing: remembers a part read in full at `index` (outside a batch: nothing).
pub(crate) fn read<T: Any + Clone>(index: u32, value: &T) {
    PARTS.with(|p| {
        if let Some(p) = p.borrow_mut().as_mut() {
            let i = index as usize;
            if p.read.len() <= i {
                p.read.resize_with(i + 1, || None);
            }
            p.read[i] = Some(Box::new(value.clone()));
        }
    })
}

/// Deserializing: the part read in full at `index`, if this batch has one of type `T` there.
pub(crate) fn recall<T: Any + Clone>(index: u32) -> Option<T> {
    PARTS.with(|p| {
        p.borrow()
            .as_ref()?
            .read
            .get(index as usize)?
            .as_ref()?
            .downcast_ref::<T>()
            .cloned()
    })
}

/// Serializes `value` (whose `Arc` is at `address`) as a [`Part`]: `full` is what is written
/// when it is written in full.
pub(crate) fn serialize<T, F, S>(
    address: usize,
    value: &T,
    full: F,
    s: S,
) -> Result<S::Ok, S::Error>
where
    T: Any + Clone + PartialEq,
    F: serde::Serialize,
    S: serde::Serializer,
{
    use serde::Serialize;
    match written(address, value) {
        Ok(index) => Part::<F>::Same(index).serialize(s),
        Err(index) => Part::Full(index, full).serialize(s),
    }
}

/// Deserializes a [`Part`] whose full form `make` turns into the value.
pub(crate) fn deserialize<'de, T, F, D>(d: D, make: impl FnOnce(F) -> T) -> Result<T, D::Error>
where
    T: Any + Clone,
    F: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    match Part::<F>::deserialize(d)? {
        Part::Full(index, full) => {
            let value = make(full);
            read(index, &value);
            Ok(value)
        }
        Part::Same(index) => recall(index).ok_or_else(|| {
            serde::de::Error::custom(format!("no part {index} was read before in this batch"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, PartialEq, Debug)]
    struct Shared(Arc<Vec<u64>>);

    impl serde::Serialize for Shared {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(Arc::as_ptr(&self.0) as usize, self, &*self.0, s)
        }
    }

    impl<'de> serde::Deserialize<'de> for Shared {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d, |v: Vec<u64>| Shared(Arc::new(v)))
        }
    }

    #[test]
    fn a_shared_part_is_written_once_per_batch() {
        let a = Shared(Arc::new(vec![1; 100]));
        let b = Shared(Arc::new(vec![2; 100]));
        let states = vec![a.clone(), b.clone(), a.clone(), a.clone(), b.clone()];
        let plain = postcard::to_allocvec(&states).unwrap();
        let batched = {
            let _batch = Batch::start();
            postcard::to_allocvec(&states).unwrap()
        };
        assert!(
            batched.len() * 2 < plain.len(),
            "{} {}",
            batched.len(),
            plain.len()
        );
        let back: Vec<Shared> = {
            let _batch = Batch::start();
            postcard::from_bytes(&batched).unwrap()
        };
        assert_eq!(back, states);
        // Read back outside a batch, a part written as an index cannot be resolved.
        assert!(postcard::from_bytes::<Vec<Shared>>(&batched).is_err());
        assert_eq!(postcard::from_bytes::<Vec<Shared>>(&plain).unwrap(), states);
    }

    #[test]
    fn equal_values_behind_one_address_are_told_apart() {
        let _batch = Batch::start();
        assert_eq!(written(7, &1u64), Err(0));
        assert_eq!(written(7, &2u64), Err(1));
        assert_eq!(written(7, &1u64), Ok(0));
        assert_eq!(written(8, &1u64), Err(2));
    }
}
