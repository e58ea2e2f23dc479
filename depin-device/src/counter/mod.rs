//! Monotonic sequence numbers that survive reboots and power cuts.
//!
//! The network rejects a frame whose sequence number it has seen before, so a device
//! must never reuse one, even if power fails at the worst moment. Writing the counter to
//! flash after every report would wear the flash out, so numbers are **reserved in
//! blocks**:
//!
//! 1. The storage holds one value, `next_block_end`: every number below it may have been
//!    used.
//! 2. At boot, [`SequenceCounter::new`] reads it; the next number handed out is
//!    `next_block_end` itself, never anything below.
//! 3. Before handing out the first number of a block, the counter **persists the new
//!    block end** (`current + block`) and only then returns the number. A power cut
//!    before or during that write leaves the old end in storage, and none of the new
//!    block was used; a power cut after it skips the rest of the block (up to
//!    `block - 1` numbers are lost, which is harmless: numbers must only increase).
//!
//! Wear: one storage write per `block` reports (plus at most one per boot, the first
//! report after a boot always starts a new block). With `block = 64` and one report
//! every 10 minutes that is 52,560 reports and about 822 writes a year; a flash page
//! rated for 10,000 erase cycles, written one word at a time as below, lasts for
//! centuries.
//!
//! # The storage contract
//!
//! A [`CounterStorage`] keeps one `u32`. What the counter needs from it, and what it
//! promises in return:
//!
//! - **Values only increase.** [`SequenceCounter`] stores strictly increasing values: each
//!   one larger than every value it loaded or stored before. A storage may rely on this;
//!   in particular it may keep several values and return **the largest valid one**.
//! - **`store` is atomic across power cuts.** If power fails during `store(v)`, the next
//!   [`load`](CounterStorage::load) returns the value stored before or `v`, never anything
//!   else: not garbage, not an older value. Once `store(v)` has returned `Ok`, `load`
//!   returns at least `v`.
//! - **`load` after any cut** (during a write, between writing a new page and erasing the
//!   old one, during an erase) returns the largest value whose `store` returned `Ok`, or
//!   the value whose `store` was cut off. Returning `None` is allowed only if no `store`
//!   ever returned `Ok`.
//!
//! # Flash
//!
//! [`NorFlashStorage`] implements the contract on two pages of NOR flash through the
//! [`embedded-storage`](embedded_storage) traits that flash HALs implement. It appends
//! 8-byte records (the value and its complement, so a torn write or erase reads back
//! as invalid and is skipped), returns the largest valid record, and switches pages
//! with the erase *before* the first write on the new page, so the newest value is
//! always intact somewhere. The test suite cuts power at every program and erase step,
//! with torn writes, and checks that no sequence number is ever handed out twice.

use core::fmt::Debug;

use crate::error::{Error as CrateError, Result};

mod nor;

pub use nor::{NorFlashStorage, RECORD_LEN};

/// What kind of failure a counter storage reported. More kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading the stored value failed.
    Read,
    /// Writing (programming or erasing) failed.
    Write,
    /// The stored value is corrupt and no older valid value exists.
    Corrupt,
    /// A value was stored that is not larger than the one stored before (see the
    /// monotonicity promise on [`CounterStorage`]); nothing was written.
    NotIncreasing,
    /// Anything else.
    Other,
}

crate::pattern::error_pattern! {
    kind: ErrorKind,
    /// A storage error: anything that can say which [`ErrorKind`] it is.
    ///
    /// (Named apart from the crate's [`Error`](crate::Error), which a failed storage
    /// surfaces as [`Error::Storage`](crate::Error::Storage) with this kind.)
    error: StorageError,
    /// The error type of a counter storage.
    error_type,
    /// The storage's error type.
    assoc,
}

/// Persistent storage for one `u32`: the end of the reserved sequence-number block.
///
/// See [the storage contract](self#the-storage-contract): values stored only increase,
/// `store` is atomic across power cuts, and `load` returns the newest value that
/// survived. [`NorFlashStorage`] implements it on NOR flash, [`RamStorage`] in RAM.
pub trait CounterStorage: ErrorType {
    /// Read the stored value; `None` if nothing was ever stored (blank flash).
    fn load(&mut self) -> Result<Option<u32>, Self::Error>;

    /// Store a value atomically (see the module docs): after a power cut during the
    /// call, `load` returns either the previous value or `value`.
    fn store(&mut self, value: u32) -> Result<(), Self::Error>;
}

impl<T: CounterStorage + ?Sized> CounterStorage for &mut T {
    fn load(&mut self) -> Result<Option<u32>, Self::Error> {
        T::load(self)
    }

    fn store(&mut self, value: u32) -> Result<(), Self::Error> {
        T::store(self, value)
    }
}

/// Counter storage in RAM, for tests and simulators (it does not survive a real
/// reboot). Counts its writes so tests can check flash wear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RamStorage {
    value: Option<u32>,
    writes: u32,
}

impl RamStorage {
    /// Blank storage (as after a flash erase).
    pub const fn new() -> Self {
        RamStorage {
            value: None,
            writes: 0,
        }
    }

    /// Storage that already holds `value`.
    pub const fn with_value(value: u32) -> Self {
        RamStorage {
            value: Some(value),
            writes: 0,
        }
    }

    /// The stored value.
    pub const fn value(&self) -> Option<u32> {
        self.value
    }

    /// How many times [`CounterStorage::store`] was called.
    pub const fn writes(&self) -> u32 {
        self.writes
    }
}

impl ErrorType for RamStorage {
    type Error = core::convert::Infallible;
}

impl CounterStorage for RamStorage {
    fn load(&mut self) -> Result<Option<u32>, Self::Error> {
        Ok(self.value)
    }

    fn store(&mut self, value: u32) -> Result<(), Self::Error> {
        self.value = Some(value);
        self.writes = self.writes.saturating_add(1);
        Ok(())
    }
}

/// A monotonic sequence counter reserving numbers in blocks (see the module docs).
///
/// ```
/// use depin_device::counter::{RamStorage, SequenceCounter};
///
/// let mut flash = RamStorage::new();
/// let mut counter = SequenceCounter::new(&mut flash, 16)?;
/// assert_eq!(counter.next_seq()?, 0);
/// assert_eq!(counter.next_seq()?, 1);
/// drop(counter); // power cut
/// let mut counter = SequenceCounter::new(&mut flash, 16)?;
/// assert_eq!(counter.next_seq()?, 16); // the rest of the first block is skipped, never reused
/// assert_eq!(flash.writes(), 2);
/// # Ok::<(), depin_device::Error>(())
/// ```
#[derive(Debug)]
pub struct SequenceCounter<S> {
    storage: S,
    next: u32,
    block_end: u32,
    block: u32,
}

impl<S: CounterStorage> SequenceCounter<S> {
    /// Start a counter from what `storage` holds (blank storage starts at 0). Reads the
    /// storage once, writes nothing. `block` (at least 1) is how many numbers one
    /// storage write reserves.
    pub fn new(mut storage: S, block: u32) -> Result<Self> {
        if block == 0 {
            return Err(CrateError::InvalidBlockSize);
        }
        let start = storage
            .load()
            .map_err(|e| CrateError::Storage(e.kind()))?
            .unwrap_or(0);
        Ok(SequenceCounter {
            storage,
            next: start,
            block_end: start,
            block,
        })
    }

    /// The next sequence number. Persists a new block end first when the reserved
    /// block is used up; if that write fails the number is not handed out.
    ///
    /// Numbers are strictly increasing, also across reboots; `u32::MAX` itself is never
    /// handed out, and after `u32::MAX - 1` every call fails with
    /// [`Error::CounterExhausted`](crate::Error::CounterExhausted).
    pub fn next_seq(&mut self) -> Result<u32> {
        if self.next == u32::MAX {
            return Err(CrateError::CounterExhausted);
        }
        if self.next >= self.block_end {
            let end = self.next.saturating_add(self.block);
            self.storage
                .store(end)
                .map_err(|e| CrateError::Storage(e.kind()))?;
            self.block_end = end;
        }
        let seq = self.next;
        self.next = seq.saturating_add(1);
        Ok(seq)
    }

    /// The number [`next_seq`](Self::next_seq) would return (without reserving it).
    pub fn peek(&self) -> u32 {
        self.next
    }

    /// Numbers reserved per storage write.
    pub fn block_size(&self) -> u32 {
        self.block
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Give the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }
}
