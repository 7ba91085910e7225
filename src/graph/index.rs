//! IIN → person: one flat array of 8-byte entries (packed IIN, person),
//! open addressing with linear probing.
//!
//! Why not a general hash map: a check starts with two lookups among 25
//! million people, each a cache miss. With the key stored in the entry and
//! no separate control bytes, a lookup is one miss (the probe run rarely
//! leaves its cache line), and both lookups of a check can be started
//! before either is needed ([`IinIndex::prefetch`]), so they cost about one
//! memory latency together. hashbrown keeps control bytes apart from the
//! entries (two misses) and offers no way to start a lookup early.

use crate::iin::Iin;

/// Entries: packed IIN in the high half, person in the low half. No packed
/// IIN is `u32::MAX` (its birth day would be past 2158), so that is empty.
const EMPTY: u64 = u64::MAX;
/// At most 7/8 full.
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;

#[derive(Clone)]
pub(super) struct IinIndex {
    slots: Vec<u64>,
    len: usize,
}

impl IinIndex {
    pub(super) fn with_capacity(n: usize) -> IinIndex {
        let want = (n * LOAD_DEN / LOAD_NUM + 1).next_power_of_two().max(16);
        IinIndex {
            slots: empty_slots(want),
            len: 0,
        }
    }

    /// Makes room for `more` IINs at once (one rehash, not one per
    /// doubling), so that many inserts need none.
    pub(super) fn reserve(&mut self, more: usize) {
        let want = ((self.len + more) * LOAD_DEN / LOAD_NUM + 1).next_power_of_two();
        if self.slots.len() < want {
            self.rehash(want);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn capacity_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<u64>()
    }

    fn home(&self, packed: u32) -> usize {
        // Fibonacci hashing: packed IINs of one day differ only in their low
        // bits; the multiply spreads them over the whole table.
        let h = (packed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// Starts loading the cache line where `iin`'s entry would be.
    #[inline]
    pub(super) fn prefetch(&self, iin: Iin) {
        prefetch(&self.slots[self.home(iin.pack())]);
    }

    pub(super) fn get(&self, iin: Iin) -> Option<u32> {
        let packed = iin.pack();
        let mask = self.slots.len() - 1;
        let mut i = self.home(packed);
        loop {
            let e = self.slots[i];
            if e == EMPTY {
                return None;
            }
            if (e >> 32) as u32 == packed {
                return Some(e as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds an IIN known to be absent.
    pub(super) fn insert(&mut self, iin: Iin, person: u32) {
        self.insert_packed(iin.pack(), person);
    }

    /// Adds a packed IIN known to be absent.
    pub(super) fn insert_packed(&mut self, packed: u32, person: u32) {
        if (self.len + 1) * LOAD_DEN > self.slots.len() * LOAD_NUM {
            self.grow();
        }
        self.place(((packed as u64) << 32) | person as u64);
        self.len += 1;
    }

    fn place(&mut self, e: u64) {
        let mask = self.slots.len() - 1;
        let mut i = self.home((e >> 32) as u32);
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = e;
    }

    fn grow(&mut self) {
        self.rehash(self.slots.len() * 2);
    }

    /// Moves every entry into `n` slots (a power of two).
    fn rehash(&mut self, n: usize) {
        let old = std::mem::replace(&mut self.slots, empty_slots(n));
        for e in old.into_iter().filter(|&e| e != EMPTY) {
            self.place(e);
        }
    }

    /// Removes `iin` (present), closing the gap so no probe run breaks.
    pub(super) fn remove(&mut self, iin: Iin) {
        let packed = iin.pack();
        let mask = self.slots.len() - 1;
        let mut i = self.home(packed);
        while (self.slots[i] >> 32) as u32 != packed {
            assert!(self.slots[i] != EMPTY, "removing an IIN not in the index");
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: move later entries of the run into the
        // hole when their home is at or before it.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.slots[j] != EMPTY {
            let home = self.home((self.slots[j] >> 32) as u32);
            // Distance from home to j vs from home to the hole, cyclically.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }

    /// Every (packed IIN, person) entry, in table order.
    #[cfg(test)]
    fn entries(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.slots
            .iter()
            .filter(|&&e| e != EMPTY)
            .map(|&e| ((e >> 32) as u32, e as u32))
    }
}

/// `n` empty slots, on huge pages where the kernel gives them (advised
/// before they are filled: see `pages.rs`).
fn empty_slots(n: usize) -> Vec<u64> {
    let mut v = Vec::with_capacity(n);
    super::pages::advise_vec(&v);
    v.resize(n, EMPTY);
    v
}

/// Starts loading `x`'s cache line (a hint; does nothing elsewhere).
#[inline(always)]
pub(super) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint and cannot fault, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn iin(n: u32) -> Iin {
        // Many people born on few days: the packed keys differ in low bits.
        let d = chrono::NaiveDate::from_ymd_opt(1950 + (n % 3) as i32, 1, 1).unwrap();
        (0..10)
            .find_map(|k| {
                Iin::compose(d, crate::iin::Sex::Male, ((n / 3 * 10 + k) % 10_000) as u16)
            })
            .unwrap()
    }

    proptest! {
        /// Any sequence of inserts and removals agrees with a HashMap.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u32..3000), 1..3000)) {
            let mut idx = IinIndex::with_capacity(4);
            let mut model: HashMap<Iin, u32> = HashMap::new();
            for (k, (insert, n)) in ops.into_iter().enumerate() {
                let i = iin(n);
                if insert && !model.contains_key(&i) {
                    idx.insert(i, k as u32);
                    model.insert(i, k as u32);
                } else if !insert && model.remove(&i).is_some() {
                    idx.remove(i);
                }
                prop_assert_eq!(idx.get(i), model.get(&i).copied());
            }
            prop_assert_eq!(idx.len(), model.len());
            for (i, v) in &model {
                prop_assert_eq!(idx.get(*i), Some(*v));
            }
            prop_assert_eq!(idx.entries().count(), model.len());
        }

        /// Room made at once keeps every entry, and is enough.
        #[test]
        fn reserve_keeps_entries(before in 0u32..500, more in 0usize..5000) {
            let mut idx = IinIndex::with_capacity(4);
            for n in 0..before {
                idx.insert(iin(n), n);
            }
            idx.reserve(more);
            let room = idx.slots.len();
            prop_assert!(room * LOAD_NUM >= (before as usize + more) * LOAD_DEN);
            for n in 0..before {
                prop_assert_eq!(idx.get(iin(n)), Some(n));
            }
            prop_assert_eq!(idx.len(), before as usize);
        }
    }
}
