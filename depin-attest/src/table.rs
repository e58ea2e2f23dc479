//! Dense per-device tables: entries in one `Vec`, a hash index of `u32` positions beside it.
//!
//! At network scale a `HashMap<K, V>` costs `(size_of::<(K, V)>() + 1) / load` bytes per
//! entry, and its load factor sits anywhere between 0.44 and 0.875 after growth: about twice
//! the entry. A dense table pays the entry once plus 5 bytes per index slot, and a lookup
//! is one probe of a small index and one access into the entries. The index is seeded
//! foldhash, like [`crate::FastMap`].

use core::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

/// Batches at least this large are probed on every core ([`DenseMap::positions`]).
#[cfg(feature = "parallel")]
const PARALLEL_PROBES: usize = 256;

/// A map from `K` to `V` stored densely (see the module docs).
#[derive(Clone)]
pub(crate) struct DenseMap<K, V> {
    index: HashTable<u32>,
    entries: Vec<(K, V)>,
    hasher: foldhash::fast::RandomState,
}

impl<K, V> Default for DenseMap<K, V> {
    fn default() -> Self {
        DenseMap {
            index: HashTable::new(),
            entries: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<K: core::fmt::Debug, V: core::fmt::Debug> core::fmt::Debug for DenseMap<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: Hash + Eq, V> DenseMap<K, V> {
    /// Room for `n` entries before anything reallocates or rehashes.
    pub(crate) fn with_capacity(n: usize) -> Self {
        DenseMap {
            index: HashTable::with_capacity(n),
            entries: Vec::with_capacity(n),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    fn position(&self, key: &K) -> Option<usize> {
        let h = self.hash(key);
        self.index
            .find(h, |&i| self.entries[i as usize].0 == *key)
            .map(|&i| i as usize)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held: the entries' allocation and the index's.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<(K, V)>() + self.index.allocation_size()
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// The position of each key (`None` if absent), probed on every core for a large
    /// batch with the `parallel` feature. Positions stay valid until the table is dropped:
    /// entries are only ever appended.
    pub(crate) fn positions<'k>(&self, keys: impl Iterator<Item = &'k K>) -> Vec<Option<usize>>
    where
        K: 'k + Sync,
        V: Sync,
    {
        let keys: Vec<&K> = keys.collect();
        #[cfg(feature = "parallel")]
        if keys.len() >= PARALLEL_PROBES {
            use rayon::prelude::*;
            return keys.par_iter().map(|k| self.position(k)).collect();
        }
        keys.iter().map(|k| self.position(k)).collect()
    }

    /// The value at a position [`DenseMap::positions`] returned.
    pub(crate) fn value_at_mut(&mut self, i: usize) -> Option<&mut V> {
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// The value of `key`, inserted with `make` if absent. `None` only if the table
    /// already holds `u32::MAX` entries.
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: K,
        make: impl FnOnce() -> V,
    ) -> Option<&mut V> {
        let h = self.hash(&key);
        let i = match self.index.find(h, |&i| self.entries[i as usize].0 == key) {
            Some(&i) => i as usize,
            None => {
                let i = u32::try_from(self.entries.len()).ok()?;
                self.entries.push((key, make()));
                let (entries, hasher) = (&self.entries, &self.hasher);
                self.index
                    .insert_unique(h, i, |&j| hasher.hash_one(&entries[j as usize].0));
                i as usize
            }
        };
        Some(&mut self.entries[i].1)
    }

    /// Insert or replace; `false` only if the table is full (`u32::MAX` entries).
    pub(crate) fn insert(&mut self, key: K, value: V) -> bool {
        match self.position(&key) {
            Some(i) => {
                self.entries[i].1 = value;
                true
            }
            None => self.get_or_insert_with(key, || value).is_some(),
        }
    }
}

/// The verifier's parsed-key cache: each device's key parsed once, stored densely. An entry
/// is the parsed key alone (200 bytes; the device id is recomputed from it when an index
/// probe needs to compare), plus 5 bytes per index slot; ids whose key does not parse are
/// kept apart (a set of ids), so they are refused without parsing again.
#[derive(Clone, Default)]
pub(crate) struct KeyCache {
    index: HashTable<u32>,
    keys: Vec<depin_core::PublicKey>,
    invalid: crate::FastSet<depin_core::DeviceId>,
    hasher: foldhash::fast::RandomState,
}

impl core::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyCache")
            .field("keys", &self.keys.len())
            .field("invalid", &self.invalid.len())
            .finish()
    }
}

/// What the cache knows about a device's key.
pub(crate) enum CachedKey {
    /// Parsed: its position ([`KeyCache::at`]).
    Valid(u32),
    /// Does not parse.
    Invalid,
}

impl KeyCache {
    pub(crate) fn with_capacity(n: usize) -> Self {
        KeyCache {
            index: HashTable::with_capacity(n),
            keys: Vec::with_capacity(n),
            invalid: crate::FastSet::default(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Bytes held: the keys' allocation, the index's and the set of invalid ids (its
    /// entries; hash-set overhead included at one control byte each).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.keys.capacity() * core::mem::size_of::<depin_core::PublicKey>()
            + self.index.allocation_size()
            + self.invalid.capacity() * (core::mem::size_of::<depin_core::DeviceId>() + 1)
    }

    /// Keys cached.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key at `i`, a position [`KeyCache::get`] returned (positions never move: the
    /// cache only grows).
    pub(crate) fn at(&self, i: u32) -> &depin_core::PublicKey {
        &self.keys[i as usize]
    }

    pub(crate) fn get(&self, id: &depin_core::DeviceId) -> Option<CachedKey> {
        let h = self.hasher.hash_one(id);
        if let Some(&i) = self.index.find(h, |&i| {
            depin_core::DeviceId::from(&self.keys[i as usize]) == *id
        }) {
            return Some(CachedKey::Valid(i));
        }
        if !self.invalid.is_empty() && self.invalid.contains(id) {
            return Some(CachedKey::Invalid);
        }
        None
    }

    /// Remember the key of `id` (`None`: it does not parse). A second insert for an id
    /// already cached changes nothing.
    pub(crate) fn insert(&mut self, id: depin_core::DeviceId, key: Option<depin_core::PublicKey>) {
        if self.get(&id).is_some() {
            return;
        }
        let Some(key) = key else {
            self.invalid.insert(id);
            return;
        };
        let Ok(i) = u32::try_from(self.keys.len()) else {
            // full (4 billion keys): parse on every sight rather than fail
            return;
        };
        let h = self.hasher.hash_one(id);
        self.keys.push(key);
        let (keys, hasher) = (&self.keys, &self.hasher);
        self.index.insert_unique(h, i, |&j| {
            hasher.hash_one(depin_core::DeviceId::from(&keys[j as usize]))
        });
    }
}
