//! Sequence counters: never a repeated number across simulated power cuts.

use std::cell::RefCell;

use depin_device::counter::{
    CounterStorage, ErrorKind, ErrorType, RamStorage, SequenceCounter, StorageError,
};
use depin_device::Error;

/// The flash cell plus a global event clock. Events: each `store` is two (a power cut
/// *before* the write leaves the old value; *after* the write but before the counter
/// hears back), and each number handed out is one more (a power cut after a number was
/// reserved but before the frame using it went out).
struct FlashState {
    value: Option<u32>,
    writes: u32,
    events: usize,
    cut_at: Vec<usize>,
}

impl FlashState {
    fn new(cut_at: Vec<usize>) -> RefCell<Self> {
        RefCell::new(FlashState {
            value: None,
            writes: 0,
            events: 0,
            cut_at,
        })
    }

    /// Count one event; `true` if the power fails at it.
    fn event(&mut self) -> bool {
        self.events += 1;
        self.cut_at.contains(&self.events)
    }
}

/// Counter storage over the shared flash state.
struct Flash<'a>(&'a RefCell<FlashState>);

#[derive(Debug)]
struct PowerCut;

impl StorageError for PowerCut {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Write
    }
}

impl ErrorType for Flash<'_> {
    type Error = PowerCut;
}

impl CounterStorage for Flash<'_> {
    fn load(&mut self) -> Result<Option<u32>, PowerCut> {
        Ok(self.0.borrow().value)
    }

    fn store(&mut self, value: u32) -> Result<(), PowerCut> {
        let mut s = self.0.borrow_mut();
        if s.event() {
            return Err(PowerCut); // died before the write: old value stays
        }
        s.value = Some(value);
        s.writes += 1;
        if s.event() {
            return Err(PowerCut); // died right after the write
        }
        Ok(())
    }
}

/// Run a device that wants to send `wanted` frames, rebooting (all RAM lost) at every
/// power cut. Returns every number `next_seq` handed out, used or not, in order.
fn run(block: u32, wanted: usize, flash: &RefCell<FlashState>) -> Vec<u32> {
    let mut handed_out = Vec::new();
    let mut used = 0;
    let mut boots = 0;
    'boot: while used < wanted {
        boots += 1;
        assert!(boots < 100_000, "no progress");
        let mut counter = SequenceCounter::new(Flash(flash), block).unwrap();
        while used < wanted {
            match counter.next_seq() {
                Ok(n) => {
                    handed_out.push(n);
                    if flash.borrow_mut().event() {
                        continue 'boot; // cut between reservation and use
                    }
                    used += 1; // the frame with `n` went out
                }
                Err(Error::Storage(ErrorKind::Write)) => continue 'boot,
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
    handed_out
}

fn assert_strictly_increasing(numbers: &[u32], what: &str) {
    for w in numbers.windows(2) {
        assert!(w[0] < w[1], "{what}: {} then {} in {numbers:?}", w[0], w[1]);
    }
}

#[test]
fn no_repeats_with_a_power_cut_at_every_point() {
    for block in [1u32, 2, 3, 8, 64] {
        let wanted = 40;
        // how many events a run without any cut has
        let clean = FlashState::new(vec![]);
        let clean_numbers = run(block, wanted, &clean);
        assert_eq!(clean_numbers, (0..wanted as u32).collect::<Vec<_>>());
        let total_events = clean.borrow().events;
        // one cut at each single event (before a write, after a write, after a number)
        for cut in 1..=total_events + 2 {
            let flash = FlashState::new(vec![cut]);
            let numbers = run(block, wanted, &flash);
            assert_strictly_increasing(&numbers, &format!("block {block}, cut at {cut}"));
        }
        // two cuts at every pair of nearby points, including back-to-back cuts
        for a in 1..=total_events.min(40) {
            for b in a + 1..=a + 6 {
                let flash = FlashState::new(vec![a, b]);
                let numbers = run(block, wanted, &flash);
                assert_strictly_increasing(&numbers, &format!("block {block}, cuts {a},{b}"));
            }
        }
    }
}

#[test]
fn no_repeats_with_frequent_power_cuts() {
    for block in [1u32, 4, 16] {
        for every in 1usize..=7 {
            let flash = FlashState::new((1..3000).map(|i| i * every + 1).collect());
            let numbers = run(block, 100, &flash);
            assert_strictly_increasing(&numbers, &format!("block {block}, every {every}"));
        }
    }
}

#[test]
fn one_write_per_block_and_per_boot() {
    let mut flash = RamStorage::new();
    let mut counter = SequenceCounter::new(&mut flash, 64).unwrap();
    for expected in 0..640 {
        assert_eq!(counter.next_seq().unwrap(), expected);
    }
    assert_eq!(counter.block_size(), 64);
    assert_eq!(counter.storage().writes(), 10);
    let _ = counter.into_storage();
    assert_eq!(flash.value(), Some(640));
    // a reboot resumes at the persisted block end
    let mut counter = SequenceCounter::new(&mut flash, 64).unwrap();
    assert_eq!(counter.peek(), 640);
    assert_eq!(counter.next_seq().unwrap(), 640);
    assert_eq!(flash.writes(), 11);
    assert_eq!(flash.value(), Some(704));
}

#[test]
fn zero_block_is_refused() {
    assert_eq!(
        SequenceCounter::new(RamStorage::new(), 0).unwrap_err(),
        Error::InvalidBlockSize
    );
}

#[test]
fn exhaustion_is_an_error_not_a_wrap() {
    let mut counter = SequenceCounter::new(RamStorage::with_value(u32::MAX - 3), 8).unwrap();
    assert_eq!(counter.next_seq().unwrap(), u32::MAX - 3);
    assert_eq!(counter.next_seq().unwrap(), u32::MAX - 2);
    assert_eq!(counter.next_seq().unwrap(), u32::MAX - 1);
    assert_eq!(counter.next_seq().unwrap_err(), Error::CounterExhausted);
    assert_eq!(counter.next_seq().unwrap_err(), Error::CounterExhausted);
    assert_eq!(counter.into_storage().value(), Some(u32::MAX));
    let mut counter = SequenceCounter::new(RamStorage::with_value(u32::MAX), 8).unwrap();
    assert_eq!(counter.next_seq().unwrap_err(), Error::CounterExhausted);
}

/// Storage whose reads fail.
#[derive(Debug)]
struct BadRead;

impl ErrorType for BadRead {
    type Error = ErrorKind;
}

impl CounterStorage for BadRead {
    fn load(&mut self) -> Result<Option<u32>, ErrorKind> {
        Err(ErrorKind::Corrupt)
    }
    fn store(&mut self, _: u32) -> Result<(), ErrorKind> {
        Err(ErrorKind::Write)
    }
}

#[test]
fn storage_errors_are_typed() {
    assert_eq!(
        SequenceCounter::new(BadRead, 4).unwrap_err(),
        Error::Storage(ErrorKind::Corrupt)
    );
    // a failed reservation hands out nothing
    let state = FlashState::new(vec![1]);
    let mut counter = SequenceCounter::new(Flash(&state), 4).unwrap();
    assert_eq!(
        counter.next_seq().unwrap_err(),
        Error::Storage(ErrorKind::Write)
    );
    assert_eq!(state.borrow().value, None);
    assert_eq!(counter.next_seq().unwrap(), 0);
    assert_eq!(state.borrow().writes, 1);
}
